"""Which code computes a feature: the code fingerprint that goes into every feature-cache key and result record.

Weights alone do not decide a feature: a fix to an encoder's forward, pooling or front end that leaves the
weights unchanged changes every number. :func:`code_fingerprint` therefore hashes

* the encoder's own code: for each top-level package that defines the encoder's class, any of its sub-module
  classes or its factory, EITHER the distribution's name and version (a package installed from a wheel into
  site-packages, e.g. ``torchvision==0.26.0``, ``timm==1.0.31``) OR the sha256 of every ``.py`` file under the
  package (a package on ``PYTHONPATH``, a submission folder, an editable install): every file, not only those
  imported so far, because the set imported depends on what ran before and the key must not;
* avbench's own feature path (decoding, clip sampling, augmentation, front ends, trunks, pooling, extraction),
  always by content;
* the versions of torch, torchvision, torchaudio, PyAV and FFmpeg;
* ``EncoderMeta.code_version``, a string an author sets to declare a change the rest cannot see (e.g. code
  loaded from a compiled extension).

Hashing about 60 source files takes a few milliseconds.
"""
from __future__ import annotations

import hashlib
import json
import site
import sys
import sysconfig
from functools import lru_cache
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable

import torch

__all__ = ["FEATURE_PATH", "code_fingerprint", "code_sha256", "feature_path_sha256"]

#: avbench's sources that take part in computing a feature (relative to the package folder). A file moved or
#: added here changes every cache key once, which is the safe direction.
FEATURE_PATH = ("media", "models", "zoo", "encoder.py", "pooling.py", "weights.py", "extract.py", "extract_audio.py",
                "extract_video.py", "extract_common.py")

#: a package with more source files than this is hashed by the files it has loaded (a monorepo root on the path)
MAX_FILES = 5000

_AVBENCH = Path(__file__).resolve().parent


def _sha_files(files: Iterable[Path], root: Path) -> str:
    h = hashlib.sha256()
    for f in sorted(files):
        h.update(str(f.relative_to(root)).encode() + b"\0")
        h.update(hashlib.sha256(f.read_bytes()).digest())
    return h.hexdigest()


def _py_files(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*.py") if "__pycache__" not in p.parts and p.is_file()]


@lru_cache(maxsize=1)
def feature_path_sha256() -> str:
    """sha256 over avbench's feature-path sources (:data:`FEATURE_PATH`), by relative path and content."""
    files: list[Path] = []
    for rel in FEATURE_PATH:
        p = _AVBENCH / rel
        files.extend(_py_files(p) if p.is_dir() else [p] if p.is_file() else [])
    return _sha_files(files, _AVBENCH)


def _site_dirs() -> list[Path]:
    dirs = {sysconfig.get_paths().get(k) for k in ("purelib", "platlib")}
    dirs.update(site.getsitepackages() if hasattr(site, "getsitepackages") else [])
    dirs.add(site.getusersitepackages() if hasattr(site, "getusersitepackages") else None)
    return [Path(d).resolve() for d in dirs if d]


@lru_cache(maxsize=1)
def _top_level_dists() -> dict[str, list[str]]:
    return metadata.packages_distributions()


def _installed_dist(top: str, location: Path) -> str | None:
    """``name==version`` when ``top`` is installed from a distribution into site-packages (not editable)."""
    if not any(location.is_relative_to(d) for d in _site_dirs()):
        return None
    for name in _top_level_dists().get(top, []):
        try:
            dist = metadata.distribution(name)
        except metadata.PackageNotFoundError:
            continue
        direct = dist.read_text("direct_url.json")
        if direct and json.loads(direct).get("dir_info", {}).get("editable"):
            return None
        return f"{dist.metadata['Name']}=={dist.version}"
    return None


def _package_entry(top: str) -> dict[str, Any] | None:
    """How one top-level package enters the fingerprint: ``{"dist": ...}`` or ``{"sha256": ..., "files": n}``."""
    module = sys.modules.get(top)
    if module is None:
        return None
    file = getattr(module, "__file__", None)
    if not file:  # a namespace package or a built-in: its files are found through its loaded sub-modules
        paths = list(getattr(module, "__path__", []))
        if not paths:
            return {"builtin": True}
        location, single = Path(paths[0]).resolve(), False
    else:
        location = Path(file).resolve()
        single = location.name != "__init__.py"
        location = location if single else location.parent
    dist = _installed_dist(top, location)
    if dist:
        return {"dist": dist}
    if single:
        return {"sha256": _sha_files([location], location.parent), "files": 1}
    files = _py_files(location)
    how = "all"
    if len(files) > MAX_FILES:
        loaded = {Path(m.__file__).resolve() for n, m in list(sys.modules.items())
                  if (n == top or n.startswith(top + ".")) and getattr(m, "__file__", None)}
        files, how = [f for f in loaded if f.suffix == ".py" and f.is_relative_to(location)], "loaded"
    return {"sha256": _sha_files(files, location), "files": len(files), "hashed": how}


def _encoder_packages(encoder: torch.nn.Module, factory_module: str | None) -> list[str]:
    modules = {c.__module__ for c in type(encoder).__mro__}
    modules.update(type(m).__module__ for m in encoder.modules())
    if factory_module:
        modules.add(factory_module)
    return sorted({m.split(".")[0] for m in modules if m} - {"builtins", "avbench"})


def code_fingerprint(encoder: torch.nn.Module, factory_module: str | None = None) -> dict[str, Any]:
    """The code that computes ``encoder``'s features (module docstring). ``factory_module``: the module of the
    factory that built it (``"pkg.module"`` of ``"pkg.module:build"`` or of an entry point), when known."""
    import av
    import torchaudio
    import torchvision

    meta = getattr(encoder, "meta", None)
    packages = {top: entry for top in _encoder_packages(encoder, factory_module)
                if (entry := _package_entry(top)) is not None}
    return {"encoder_packages": packages, "avbench_feature_path": feature_path_sha256(),
            "libraries": {"torch": torch.__version__, "torchvision": torchvision.__version__,
                          "torchaudio": torchaudio.__version__, "av": av.__version__,
                          "ffmpeg": str(getattr(av, "ffmpeg_version_info", "?"))},
            "code_version": getattr(meta, "code_version", None)}


def code_sha256(fingerprint: dict[str, Any]) -> str:
    """One hash of a :func:`code_fingerprint` (for file names and short displays)."""
    return hashlib.sha256(json.dumps(fingerprint, sort_keys=True).encode()).hexdigest()
