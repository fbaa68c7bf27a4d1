"""Checkpoints: read and write Hugging Face BERT folders and Google TF1 BERT checkpoints."""
