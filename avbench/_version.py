"""avbench's version: the one source (pyproject.toml reads it; records and ``avbench --version`` print it). It
equals the top entry of CHANGELOG.md (tests/test_version.py)."""
__version__ = "0.7.9"
