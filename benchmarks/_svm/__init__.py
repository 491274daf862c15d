"""The parts of ``benchmarks/svm_sweep.py``: :mod:`.features` (the realistic feature generator, ``.npz`` loading and
the statistics that say how realistic a feature set is), :mod:`.reference` (summed primal objectives and the
reference solved by sklearn at ``tol=1e-6``) and :mod:`.report` (table, summary, JSON).

Imported with ``benchmarks/`` on ``sys.path`` (as the scripts and tests/test_svm_sweep.py put it there).
"""
