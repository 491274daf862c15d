"""Subnormal flushing (avbench.runtime.denormals): the state is read back from arithmetic, a scoped block restores
it, and `avbench pretrain` switches it on before anything else runs (so torch's thread pools inherit it)."""
from __future__ import annotations

import torch

from avbench.runtime.denormals import SUBNORMAL, flush_denormal_enabled, flushed_denormals


def test_the_state_is_read_back_and_restored_both_ways() -> None:
    assert float(torch.finfo(torch.float32).smallest_normal) > SUBNORMAL > 0
    start = flush_denormal_enabled()
    try:
        for outer in (False, True):
            torch.set_flush_denormal(outer)
            assert flush_denormal_enabled() is outer
            for inner in (False, True):
                with flushed_denormals(inner):
                    assert flush_denormal_enabled() is inner
                    # what flushing means: a subnormal operand counts as zero
                    assert (float(torch.tensor([SUBNORMAL]).mul(3.0).item()) == 0.0) is inner
                assert flush_denormal_enabled() is outer
    finally:
        torch.set_flush_denormal(start)


def test_avbench_pretrain_switches_flushing_on_first(tmp_path, capsys) -> None:
    """Before the settings are even checked: a run refused for a bad setting has already switched it on."""
    from avbench.cli.app import main

    start = flush_denormal_enabled()
    torch.set_flush_denormal(False)
    try:
        rc = main(["pretrain", "crisscross", "--preset", "world", "--data", "identity-world", "--out",
                   str(tmp_path / "o"), "--set", "train.batch_size=-1", "--no-progress"])
        assert rc == 2 and "batch_size" in capsys.readouterr().err
        assert flush_denormal_enabled()
    finally:
        torch.set_flush_denormal(start)
