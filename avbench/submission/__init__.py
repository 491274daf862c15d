"""avbench.submission."""
