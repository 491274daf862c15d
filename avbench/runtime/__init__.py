"""Run-time helpers shared by evaluation, finetuning and pretraining: checkpoints (safetensors, no pickles)."""
