"""Moved to `keras_bert_kit.text.decoding` (decoders need only numpy); kept for old imports."""

from keras_bert_kit.text.decoding import (  # noqa: F401
    DECODERS, decode_answer, decode_classes, decode_entities, decode_words)
