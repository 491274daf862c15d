"""Registry: entry points (how the baselines register), module:factory strings, the decorator, clear errors."""
import pytest

from avbench.encoder import AudioSpec, Encoder, EncoderMeta
from avbench.registry import UnknownEncoderError, build_encoder, encoder_entries, register_encoder, resolve_factory


def test_crisscross_registers_through_the_public_entry_point():
    entries = encoder_entries()
    assert "crisscross" in entries and entries["crisscross"].source.startswith("entry-point avbench")
    enc = build_encoder("crisscross", init_seed=0)
    assert enc.meta.name == "crisscross" and not enc.training


class _Tiny(Encoder):
    def __init__(self):
        super().__init__()
        self.meta = EncoderMeta(name="tiny", version="0", modalities=("audio",), audio=AudioSpec())


def build_tiny(weights=None, init_seed=0, **kw):
    return _Tiny()


def test_module_factory_string_and_decorator():
    enc = build_encoder("tests.test_registry:build_tiny")
    assert enc.meta.name == "tiny"
    register_encoder("tiny-decorated")(build_tiny)
    assert resolve_factory("tiny-decorated")[1] == "decorator"


def test_unknown_names_fail_clearly():
    with pytest.raises(UnknownEncoderError, match="registered: .*crisscross"):
        build_encoder("no-such-model")
    with pytest.raises(UnknownEncoderError, match="cannot import"):
        build_encoder("no_such_pkg.mod:build")
    with pytest.raises(UnknownEncoderError, match="no attribute"):
        build_encoder("tests.test_registry:missing")
