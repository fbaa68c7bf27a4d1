"""Models: config and presets, the backbone, the pretrainer and the task models."""
