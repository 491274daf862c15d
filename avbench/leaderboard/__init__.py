"""avbench.leaderboard: result records and published numbers -> tables, CSV, a static page with plots.

Modules (one job each): ``reported`` (``leaderboards/reported.yaml``: :func:`~avbench.leaderboard.reported.load_reported`),
``records`` (find and verify records and bundles), ``recompute`` (metrics from per-sample sidecars), ``stats``
(bootstrap interval, paired comparison), ``cost`` (seconds per media second), ``families`` (which protocols
share a table), ``board`` (the tables as data), ``tables`` (Markdown, CSV), ``plots`` (SVG), ``html`` (the page),
``build`` (:func:`~avbench.leaderboard.build.build_leaderboard`, behind ``avbench leaderboard build``).
Importing this package imports none of them.
"""
