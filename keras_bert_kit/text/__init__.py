"""Text: in-graph WordPiece tokenizer, preprocessors (plain, tagging, SQuAD), decoders of served
outputs and vocabulary building (tensorflow-text)."""
