"""Text: in-graph WordPiece tokenizer, input packer and vocabulary building (tensorflow-text)."""
