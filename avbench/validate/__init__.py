"""``avbench validate``: the encoder contract checked on synthetic and decoded inputs (:mod:`.encoder`), the inputs
it builds (:mod:`.inputs`), its report (:mod:`.report`) and the submission checks (:mod:`.submission`)."""
from avbench.validate.encoder import (BATCH_TOL, CHECKS, DETERMINISM_RTOL, Check, Geometry, Measurement,
                                      ValidationReport, geometries, synthetic_batch, validate, validate_encoder)

__all__ = ["CHECKS", "BATCH_TOL", "DETERMINISM_RTOL", "Check", "Measurement", "ValidationReport", "Geometry",
           "geometries", "synthetic_batch", "validate", "validate_encoder"]
