"""The parts of ``benchmarks/e2e_speed.py``: :mod:`.timers` (exclusive per-stage wall time around the real pipeline
functions), :mod:`.fixtures` (ESC-50 / UCF101 media at realistic sizes, reused), :mod:`.measure` (the stages, the
end-to-end runs, the decode ratio, the demo) and :mod:`.report` (tables and the limit rows).

Imported with ``benchmarks/`` on ``sys.path`` (as the script puts it there), so that the sibling benchmark scripts'
helpers (``extract_video``, ``svm_sweep``) import as they do from the script.
"""
