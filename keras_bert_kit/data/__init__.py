"""Data: pretraining data creation and masking, fine-tuning readers, tf.data pipelines."""
