"""Full finetuning of an encoder's video trunk: the training loop (:mod:`.loop`), its clip batches (:mod:`.data`)
and the wiring from a task card (:mod:`.run`)."""
