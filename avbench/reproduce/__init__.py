"""Reproducing a paper's tables from released weights (CrissCross: :mod:`.crisscross` runs it; :mod:`.plan` holds
the rows and tolerances, :mod:`.reported` the paper's numbers, :mod:`.locate` the released files and data sets,
:mod:`.report` the outcome tables and summary files)."""
