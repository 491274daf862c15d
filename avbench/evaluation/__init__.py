"""The evaluation core: a task card, an encoder and a data root become a result record on disk."""
