"""The supervised ceiling of the pretraining evidence: the reference trunks trained with labels."""
