"""Exporting avbench encoders to other frameworks' interfaces (HEAR 2021: :mod:`.hear`)."""
