"""No pickle is ever loaded (issue 15, case 4).

Before: finetuning loaded ``<cache>/finetune/<hash>/last.pt`` with ``torch.load(weights_only=False)``: a pickle
planted in a shared cache ran on the next finetuning run. Now checkpoints are safetensors + JSON.
"""
from __future__ import annotations

import ast
import os
import pickle
from collections import Counter
from pathlib import Path

import pytest
import torch

from avbench.runtime.checkpoint import CheckpointError, load_tree, rng_state, save_tree, set_rng_state
from tests.test_finetune import SMALL, _finetune, ucf_root  # noqa: F401 (fixture)

REPO = Path(__file__).resolve().parent.parent


class _Planted:
    """Unpickling this creates the marker file: proof that code ran."""

    def __init__(self, marker: str):
        self.marker = marker

    def __reduce__(self):
        return (os.makedirs, (self.marker,))


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            f = node.func
            name = f"{getattr(f.value, 'id', '?')}.{f.attr}" if isinstance(f, ast.Attribute) else getattr(f, "id", "")
            yield name, node


def _offenders(paths: list[Path]) -> list[str]:
    """``file:line what`` for every pickle load and every ``torch.load`` without ``weights_only=True``."""
    out = []
    for path in paths:
        for name, node in _calls(ast.parse(path.read_text(), str(path))):
            where = f"{path.name}:{node.lineno}"
            if name in ("pickle.load", "pickle.loads", "pickle.Unpickler", "dill.load", "joblib.load"):
                out.append(f"{where} {name}")
            if name == "torch.load":
                wo = [k for k in node.keywords if k.arg == "weights_only"]
                if not wo or not (isinstance(wo[0].value, ast.Constant) and wo[0].value.value is True):
                    out.append(f"{where} torch.load without weights_only=True")
    return out


def test_no_pickle_loading_in_the_package_baselines_or_benchmarks():
    files = [p for folder in ("avbench", "baselines", "benchmarks") for p in sorted((REPO / folder).rglob("*.py"))]
    assert len(files) > 100
    assert not _offenders(files)


def test_the_scan_finds_what_it_looks_for(tmp_path):
    """The scan must be able to fail: it flags each form in a sample file, and passes the safe call."""
    sample = tmp_path / "sample.py"
    sample.write_text("import pickle, torch\npickle.loads(b'')\ntorch.load('x', weights_only=False)\n"
                      "torch.load('y')\ntorch.load('z', weights_only=True)\n")
    assert _offenders([sample]) == ["sample.py:2 pickle.loads", "sample.py:3 torch.load without weights_only=True",
                                    "sample.py:4 torch.load without weights_only=True"]


def test_checkpoint_round_trip_keeps_types():
    tree = {"model": {"w": torch.randn(3, 2)}, "optimizer": {"state": {0: {"momentum_buffer": torch.ones(2)}},
                                                             "param_groups": [{"lr": 0.1, "params": [0], "foreach": None}]},
            "scheduler": {"milestones": Counter({6: 1, 10: 1}), "_last_lr": [0.1]},
            "scores": {3: (torch.zeros(2, 4), torch.tensor([True, False]))}, "epoch": 3, "loss": 1.5}
    path = save_tree(tree, Path(os.environ.get("TMPDIR", "/tmp")) / f"ck-{os.getpid()}.safetensors")
    back = load_tree(path)
    path.unlink()
    assert isinstance(back["scheduler"]["milestones"], Counter) and back["scheduler"]["milestones"][10] == 1
    assert list(back["optimizer"]["state"]) == [0] and isinstance(back["scores"][3], tuple)
    assert torch.equal(back["model"]["w"], tree["model"]["w"]) and back["scores"][3][1].dtype == torch.bool
    state = rng_state()
    first = torch.rand(3)
    set_rng_state(state)
    assert torch.equal(torch.rand(3), first)


def test_a_pickle_planted_in_the_finetune_cache_never_runs(ucf_root, tmp_path):  # noqa: F811
    ckpt = tmp_path / "ck"
    ckpt.mkdir()
    marker = tmp_path / "PWNED"
    (ckpt / "last.pt").write_bytes(pickle.dumps(_Planted(str(marker))))  # where the old code looked
    overrides = {**SMALL, "classifier": {**SMALL["classifier"], "epochs": 1}}
    result, *_ = _finetune(ucf_root, ckpt, overrides)
    assert not marker.exists() and result.info["resumed_from_epoch"] == 0
    assert (ckpt / "last.safetensors").is_file()
    # a pickle under the new name is not a checkpoint: a named error, and still nothing runs
    (ckpt / "last.safetensors").write_bytes(pickle.dumps(_Planted(str(marker))))
    with pytest.raises(CheckpointError, match="last.safetensors: not a readable avbench checkpoint"):
        _finetune(ucf_root, ckpt, overrides)
    assert not marker.exists()
