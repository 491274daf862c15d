"""One version: avbench/_version.py, equal to CHANGELOG.md's top entry, printed by --version, read by packaging."""
from __future__ import annotations

import re
from importlib.metadata import version
from pathlib import Path

import avbench
from avbench._version import __version__

REPO = Path(__file__).resolve().parent.parent


def test_the_version_is_the_changelog_top_entry_and_the_installed_metadata():
    top = re.search(r"^## (\d+\.\d+\.\d+)", (REPO / "CHANGELOG.md").read_text(), re.M)
    assert top and top.group(1) == __version__ == avbench.__version__
    assert version("avbench") == __version__  # pyproject.toml reads avbench/_version.py (after `pip install -e .`)
