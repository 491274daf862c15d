"""Where data and caches live: command-line flag, then environment, then a small config file, then defaults.

Data root of a data set (first found wins):
  1. ``--data-root DIR`` / ``data_root=`` argument
  2. ``AVBENCH_DATA_<DATASET>`` (e.g. ``AVBENCH_DATA_ESC50=/data/ESC-50``)
  3. ``AVBENCH_DATA_ROOT/<dataset>`` when that folder exists
  4. ``data: {<dataset>: DIR}`` in ``$AVBENCH_CONFIG`` or ``<user config dir>/avbench/config.yaml``
Cache directory: ``--cache-dir`` / ``AVBENCH_CACHE`` / ``cache_dir:`` in the config file / the user cache dir.
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from platformdirs import user_cache_dir, user_config_dir


def config_path() -> Path:
    return Path(os.environ.get("AVBENCH_CONFIG") or Path(user_config_dir("avbench")) / "config.yaml")


def read_config() -> dict[str, Any]:
    path = config_path()
    if not path.exists():
        return {}
    data = yaml.safe_load(path.read_text()) or {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: the avbench config must be a YAML mapping")
    unknown = set(data) - {"data", "cache_dir"}
    if unknown:
        raise ValueError(f"{path}: unknown config keys {sorted(unknown)} (known: data, cache_dir)")
    return data


def resolve_data_root(dataset: str, explicit: str | os.PathLike[str] | None = None) -> Path | None:
    """The configured root of ``dataset``, or None when nothing is configured."""
    if explicit:
        return Path(explicit).expanduser()
    env = os.environ.get(f"AVBENCH_DATA_{dataset.upper().replace('-', '_')}")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("AVBENCH_DATA_ROOT")
    if base and (Path(base) / dataset).exists():
        return Path(base) / dataset
    configured = (read_config().get("data") or {}).get(dataset)
    return Path(configured).expanduser() if configured else None


def resolve_cache_dir(explicit: str | os.PathLike[str] | None = None) -> Path:
    if explicit:
        return Path(explicit).expanduser()
    if os.environ.get("AVBENCH_CACHE"):
        return Path(os.environ["AVBENCH_CACHE"]).expanduser()
    configured = read_config().get("cache_dir")
    return Path(configured).expanduser() if configured else Path(user_cache_dir("avbench"))
