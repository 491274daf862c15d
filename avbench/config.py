"""Where data and caches live: command-line flag, then environment, then a small config file, then defaults.

Data root of a data set (first found wins):
  1. ``--data-root DIR`` / ``data_root=`` argument
  2. ``AVBENCH_DATA_<DATASET>`` (e.g. ``AVBENCH_DATA_ESC50=/data/ESC-50``)
  3. ``AVBENCH_DATA_ROOT/<dataset>`` when that folder exists
  4. ``data: {<dataset>: DIR}`` in ``$AVBENCH_CONFIG`` or ``<user config dir>/avbench/config.yaml``
Cache directory: ``--cache-dir`` / ``AVBENCH_CACHE`` / ``cache_dir:`` in the config file / the user cache dir.

Also the one guarded YAML reader for text avbench did not write (:func:`load_yaml`: task cards, submission cards,
``--set`` values): a size cap and no alias expansion.
"""
from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import yaml
from platformdirs import user_cache_dir, user_config_dir


#: task cards and submission cards are a few KB: a YAML file larger than this is refused before it is parsed
MAX_YAML_BYTES = 256 * 1024
#: the cap of the leaderboard's own YAML (leaderboards/reported.yaml, reruns.yaml; 46 KB and 0.2 KB today)
LEADERBOARD_YAML_BYTES = 16 * 1024 * 1024


class UntrustedYAMLError(ValueError):
    """Untrusted YAML refused: too large, an alias (``*name``), nested too deeply, or not valid YAML. The message
    names the file (and line)."""


class _NoAliasLoader(yaml.SafeLoader):
    """SafeLoader that refuses every alias: a 492-byte card of nested aliases ("billion laughs") expands to
    gigabytes. Anchors alone are harmless and allowed."""

    def compose_node(self, parent: Any, index: Any) -> Any:
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise UntrustedYAMLError(f"{event.start_mark.line + 1}: YAML alias '*{event.anchor}' refused (aliases can "
                                     "expand exponentially); write the value out in full")
        return super().compose_node(parent, index)


# YAML 1.1 (PyYAML) reads a float only with a dot: `lr: 1e-3` and `--set train.lr=1e-3` would be the STRING "1e-3",
# which a pydantic float field coerces but a list, union or free-form block keeps as text. YAML 1.2 reads it as a
# number, as a researcher means it
_NoAliasLoader.add_implicit_resolver("tag:yaml.org,2002:float", re.compile(r"^[-+]?[0-9][0-9_]*[eE][-+]?[0-9]+$"),
                                     list("-+0123456789"))


def load_yaml(source: str | Path, where: str | None = None, *, max_bytes: int = MAX_YAML_BYTES) -> Any:
    """Parse untrusted YAML (a path, or text) with a size cap and no aliases; :class:`UntrustedYAMLError` names
    ``where`` (default: the path) and the line."""
    if isinstance(source, Path):
        where = where or str(source)
        try:
            size = source.stat().st_size
            if size > max_bytes:
                raise UntrustedYAMLError(f"{where}: {size} bytes, over the {max_bytes}-byte limit for a card")
            text = source.read_bytes().decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UntrustedYAMLError(f"{where}: not UTF-8 text ({exc})") from None
        except OSError as exc:
            raise UntrustedYAMLError(f"{where}: cannot read ({exc.strerror or exc})") from None
    else:
        text, where = source, where or "<text>"
        if len(text.encode()) > max_bytes:
            raise UntrustedYAMLError(f"{where}: over the {max_bytes}-byte limit for a card")
    try:
        return yaml.load(text, Loader=_NoAliasLoader)  # noqa: S506 (a SafeLoader subclass)
    except UntrustedYAMLError as exc:
        raise UntrustedYAMLError(f"{where}:{exc}") from None
    except RecursionError:
        raise UntrustedYAMLError(f"{where}: nested too deeply") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark is not None else ""
        raise UntrustedYAMLError(f"{where}{line}: not valid YAML: {getattr(exc, 'problem', None) or exc}") from None


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
