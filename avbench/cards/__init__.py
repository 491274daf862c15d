"""What surrounds the task cards: override keys checked against the card schema (:mod:`.overrides`) and named
suites of cards, one per table of a paper (:mod:`.suites`). The cards themselves are :mod:`avbench.taskcard`."""
