"""Training: optimizers and schedules, distribution strategy selection, callbacks."""
