"""Open an ``avbench pretrain`` output for inspection: the pretrainer (trunks and heads) at its latest checkpoint,
and the data set its method's own view sampler draws from, with a sampling seed of your choice.

For diagnostics such as ``benchmarks/identity_diagnostics.py pairs``, which compares the heads' outputs on fresh
views: give ``seed`` a value no run trained with, so the views are clips the run never saw.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from avbench.pretrain.checkpoints import latest_checkpoint

__all__ = ["load_run"]


def load_run(out: str | Path, *, seed: int, log: Any = None) -> tuple[Any, Any, dict[str, Any]]:
    """``OUT`` of ``avbench pretrain`` -> (pretrainer in train mode with the latest checkpoint's weights, its
    :class:`avbench.pretrain.data.PretrainDataset` drawing views with ``seed``, the checkpoint's resolved config:
    method, preset, config, data). The data set is rebuilt from the run's ``data`` (a synthetic world renders on
    the fly; a data root must still be where the run found it). Raises FileNotFoundError without a checkpoint."""
    from safetensors.torch import load_file

    from avbench.pretrain import trainer

    out = Path(out)
    ckpt = latest_checkpoint(out)
    if ckpt is None:
        raise FileNotFoundError(f"{out}: no checkpoint (checkpoints/LATEST)")
    resolved = json.loads((ckpt / "state.json").read_text())["resolved"]
    opts = trainer.PretrainOptions(out=out, data=resolved["data"], seed=seed, init_seed=resolved.get("init_seed", 0),
                                   log=log or (lambda _m: None), progress=False)
    run = trainer.setup_run(resolved["method"], resolved["preset"], resolved["config"], opts)  # builds, writes nothing
    run.model.load_state_dict(load_file(str(ckpt / "model.safetensors")), strict=True)
    run.model.train()  # BatchNorm on batch statistics, as in the loss
    return run.model, run.dataset, resolved
