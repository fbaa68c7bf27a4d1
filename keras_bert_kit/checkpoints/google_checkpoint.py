"""Google's original TF1 BERT checkpoints (`bert_model.ckpt.*` + `bert_config.json`)."""

import tensorflow as tf

from keras_bert_kit.checkpoints.checkpoint import Checkpoint
from keras_bert_kit.checkpoints.hf_checkpoint import canonicalize


def read_google_checkpoint(prefix, config):
    """Reads a TF1 checkpoint prefix (e.g. `.../bert_model.ckpt`) into a `Checkpoint`."""
    try:
        reader = tf.train.load_checkpoint(prefix)
    except (tf.errors.OpError, ValueError) as e:
        raise ValueError(f"{prefix}: cannot read TF checkpoint ({e})") from None
    raw = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    return Checkpoint(config=config, tensors=canonicalize(raw, prefix), source=prefix)
