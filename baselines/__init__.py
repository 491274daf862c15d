"""Reference encoders (CrissCross, ...) registered through the public avbench.encoders entry points."""
