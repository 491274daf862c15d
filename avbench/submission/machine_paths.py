"""Paths of the machine a record was made on, taken out of the copy of the record that travels in a bundle.

A record keeps its paths as given (``data.root``, ``encoder.weights``, the command line) and their resolved
absolute forms (``data.root_resolved``, ``encoder.weights_resolved``) for the run that made it. In a bundle the
resolved forms are emptied and every absolute path inside any string (a synthetic run's cache root, a fixture
folder in ``data.notes``, a submission folder in ``provenance.command``) reads ``<local>/<its last part>``: the
folder's name stays, where it sat on that machine does not (issue 21, item 4)."""
from __future__ import annotations

import re
from typing import Any

LOCAL = "<local>"
#: an absolute POSIX path of two or more parts (not a URL's path, not a part of a relative path)
_ABSOLUTE = re.compile(r"(?<![\w.:/<>~-])/(?:[^\s/'\"<>|,;()]+/)+([^\s/'\"<>|,;()]+)")
#: absolute Windows paths (C:\...)
_WINDOWS = re.compile(r"\b[A-Za-z]:\\(?:[^\s\\'\"<>|,;()]+\\)*([^\s\\'\"<>|,;()]+)")


def local_name(text: str) -> str:
    """``text`` with every absolute path replaced by ``<local>/<last part>``."""
    text = _ABSOLUTE.sub(lambda m: f"{LOCAL}/{m.group(1)}", text)
    return _WINDOWS.sub(lambda m: f"{LOCAL}/{m.group(1)}", text)


def strip_machine_paths(raw: Any) -> Any:
    """A copy of a record's JSON (parsed) without this machine's paths: the ``*_resolved`` fields None, every
    absolute path inside a string shortened by :func:`local_name`."""
    if isinstance(raw, dict):
        return {k: (None if k in ("root_resolved", "weights_resolved") else strip_machine_paths(v))
                for k, v in raw.items()}
    if isinstance(raw, list):
        return [strip_machine_paths(v) for v in raw]
    if isinstance(raw, str):
        return local_name(raw)
    return raw
