"""Write ``weights.safetensors`` for the example submission and put its sha256 into ``card.yaml``.

    python3 examples/submission/make_weights.py            # from the repository root (or any directory)

The weights are the example encoder's seeded random initialisation (``init_seed=0``): this folder shows the
submission mechanics, not a trained model. Re-running writes byte-identical weights (same seed, same torch).
Replace ``build(init_seed=0)`` with your trained encoder to make a real submission.
"""
from __future__ import annotations

import hashlib
import re
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.dont_write_bytecode = True  # leave no __pycache__ in the submission folder

from encoder import build, save_weights  # noqa: E402  (the module next to this script)


def main() -> None:
    weights = save_weights(build(init_seed=0), HERE / "weights.safetensors")
    sha = hashlib.sha256(weights.read_bytes()).hexdigest()
    card = HERE / "card.yaml"
    text, n = re.subn(r"(?m)^weights_sha256:.*$", f"weights_sha256: {sha}", card.read_text())
    if n != 1:
        raise SystemExit(f"{card}: expected exactly one 'weights_sha256:' line, found {n}")
    card.write_text(text)
    print(f"wrote {weights} ({weights.stat().st_size / 1024:.0f} KiB, sha256 {sha}) and updated {card}")


if __name__ == "__main__":
    main()
