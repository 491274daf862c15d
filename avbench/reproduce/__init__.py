"""Reproducing a paper's tables from released weights (CrissCross: :mod:`.crisscross`)."""
