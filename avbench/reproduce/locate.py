"""Where the reproduction's inputs are: the released CrissCross files in ``--weights-dir`` (loaded strictly into
their trunk) and the data sets under ``--data-root`` (or the environment / config file, as ``avbench eval``).
"""
from __future__ import annotations

from pathlib import Path
from typing import Any

from avbench.datasets.roots import configured_root
from avbench.reproduce.plan import PRETRAININGS

PREFIX = {"video": "vid", "audio": "aud"}
#: card data set -> folder names looked for under --data-root (first = the documented one).
DATA_FOLDERS: dict[str, tuple[str, ...]] = {
    "esc50": ("esc50", "ESC-50", "ESC-50-master"),
    "dcase2013": ("dcase", "dcase2013", "DCASE2013"),
    "ucf101": ("ucf101", "UCF101"),
    "hmdb51": ("hmdb51", "HMDB51", "hmdb"),
    "kinetics400": ("kinetics400", "kinetics-400", "Kinetics400", "kinetics"),
}


def released_name(modality: str, pretraining: str, zipped: bool = True) -> str:
    """The released file name, e.g. ``vid_crisscross_kinetics_400.pth.tar.zip``."""
    return f"{PREFIX[modality]}_crisscross_{PRETRAININGS[pretraining][0]}.pth.tar" + (".zip" if zipped else "")


def find_released(weights_dir: Path, modality: str, pretraining: str) -> Path | None:
    """The released file for (modality, pretraining set) in ``weights_dir``: the unzipped ``.pth.tar`` wins over
    its ``.zip``; the alternative tags of :data:`PRETRAININGS` are accepted."""
    for tag in PRETRAININGS[pretraining]:
        for suffix in (".pth.tar", ".pth.tar.zip"):
            path = weights_dir / f"{PREFIX[modality]}_crisscross_{tag}{suffix}"
            if path.is_file():
                return path
    return None


def find_data(dataset: str, data_root: Path | None) -> tuple[Path | None, str]:
    """(root of ``dataset``, where it came from): ``data_root/<conventional folder>`` first, then
    ``AVBENCH_DATA_<DATASET>`` / ``AVBENCH_DATA_ROOT`` / the config file (as ``avbench eval``)."""
    if data_root is not None:
        for folder in DATA_FOLDERS.get(dataset, (dataset,)):
            if (data_root / folder).is_dir():
                return data_root / folder, f"--data-root/{folder}"
    configured = configured_root(dataset)
    if configured is not None and configured.is_dir():
        return configured, "environment/config"
    return None, ""


def count_samples(dataset: str, root: Path) -> str:
    """"found N of M samples" from the adapter's annotations, or "unusable: <the adapter's error>"."""
    from avbench.datasets import get_dataset

    try:
        manifest = get_dataset(dataset).load(root)
    except Exception as exc:  # the adapter's error names the file and the problem
        return f"unusable: {exc}"
    return f"found {manifest.found} of {manifest.expected} samples"


def missing_data_reason(dataset: str, data_root: Path | None) -> str:
    """Where ``dataset`` was looked for, for the data table of a data set that was not found."""
    folders = "/, ".join(DATA_FOLDERS.get(dataset, (dataset,))) + "/"
    where = f"none of {folders} under {data_root}" if data_root else "no --data-root"
    return f"{where}; AVBENCH_DATA_{dataset.upper()} / config: not set"


def load_trunk(path: Path, modality: str, arch: dict[str, Any] | None = None) -> Any:
    """A CrissCross encoder with the released ``path`` loaded strictly into its ``modality`` trunk; a file
    whose key names or shapes differ from the trunk (the released layout unless ``arch`` says otherwise) raises
    :class:`avbench.models.weights.WeightsError` naming the file and the missing / unexpected / mis-shaped keys."""
    from avbench_baselines.crisscross import build

    return build(weights=f"{modality}={path}", modalities=(modality,), **(arch or {}))
