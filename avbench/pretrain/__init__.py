"""``avbench pretrain``: the training loop, data sources and view helpers shared by the reference pretrainers."""
