"""The loss curve image written at the end of ``avbench pretrain`` (matplotlib, Agg backend, no display needed)."""
from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

NOT_TERMS = {"step", "epoch", "loss", "lr", "clips_per_s"}


def plot_history(history: Sequence[dict[str, Any]], path: Path, title: str = "") -> Path:
    """Total loss and each logged term against the step; a moving average over ~2% of the run on top."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    steps = np.array([r["step"] for r in history])
    terms = [k for k in history[0] if k not in NOT_TERMS and isinstance(history[0][k], (int, float))]
    fig, axes = plt.subplots(1, 2 if terms else 1, figsize=(11 if terms else 6, 4), squeeze=False)
    loss = np.array([r["loss"] for r in history])
    ax = axes[0, 0]
    ax.plot(steps, loss, lw=0.6, alpha=0.5, label="loss")
    w = max(1, len(loss) // 50)
    if w > 1:
        ax.plot(steps[w - 1:], np.convolve(loss, np.ones(w) / w, mode="valid"), lw=1.5, label=f"mean of {w}")
    ax.set_xlabel("step")
    ax.set_ylabel("loss")
    ax.set_title(title, fontsize=9)
    ax.legend(fontsize=8)
    if terms:
        ax2 = axes[0, 1]
        for k in terms:
            ax2.plot(steps, [r.get(k, np.nan) for r in history], lw=0.8, label=k)
        ax2.set_xlabel("step")
        ax2.set_title("loss terms", fontsize=9)
        ax2.legend(fontsize=7)
    fig.tight_layout()
    path = Path(path)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
