"""Google's original TF1 BERT checkpoints (`bert_model.ckpt.*` + `bert_config.json`), with the
`run_classifier.py` (`output_weights`) and `run_squad.py` (`cls/squad/output_weights`) heads."""

import tensorflow as tf

from keras_bert_kit.checkpoints.checkpoint import Checkpoint
from keras_bert_kit.checkpoints.hf_checkpoint import canonicalize
from keras_bert_kit.errors import UserError


def read_google_checkpoint(prefix, config, **checkpoint_fields):
    """Reads a TF1 checkpoint prefix (e.g. `.../bert_model.ckpt`) into a `Checkpoint`.

    A damaged `.index` / `.data-*` file is a `UserError` naming the prefix.
    """
    try:
        reader = tf.train.load_checkpoint(prefix)
        raw = {name: reader.get_tensor(name) for name in reader.get_variable_to_shape_map()}
    except (tf.errors.OpError, ValueError, IndexError, OSError) as e:
        detail = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise UserError(f"{prefix}: cannot read this TF checkpoint ({detail}); its .index or "
                        ".data files are truncated or corrupt, copy them again") from None
    return Checkpoint(config=config, tensors=canonicalize(raw, prefix), source=prefix,
                      **checkpoint_fields)
