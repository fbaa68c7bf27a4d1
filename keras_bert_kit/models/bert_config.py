"""Moved to `keras_bert_kit.config` (the ground floor); kept so old imports keep working."""

from keras_bert_kit.config import PRESETS, BertConfig  # noqa: F401
