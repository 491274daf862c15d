"""``avbench validate``: the encoder contract checked on synthetic and decoded inputs (:mod:`.encoder` runs it:
:mod:`.forward` one observed forward, :mod:`.rules` the meta and output rules, :mod:`.modality` the checks and
measurement of one modality), the inputs it builds (:mod:`.inputs`), its report (:mod:`.report`) and the
submission checks (:mod:`.submission`)."""
from avbench.validate.encoder import (BATCH_TOL, CHECKS, DETERMINISM_RTOL, Check, Geometry, Measurement,
                                      ValidationReport, geometries, synthetic_batch, validate, validate_encoder)

__all__ = ["CHECKS", "BATCH_TOL", "DETERMINISM_RTOL", "Check", "Measurement", "ValidationReport", "Geometry",
           "geometries", "synthetic_batch", "validate", "validate_encoder"]
