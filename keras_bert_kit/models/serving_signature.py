"""`ServingSignature`: one served function as data, and the signatures every task model serves.

`base_signatures(task)` builds `serving_default` (raw text), `encode` (sentence vectors) and
`token_ids` (pre-tokenized inputs) from a task's `serving_pack` / `serving_outputs`;
`BertTask.serving_signatures` returns them and a task whose inputs differ replaces some
(`BertMultipleChoice`). `export/` adds each signature to the SavedModel as it is.
"""

import dataclasses
from collections.abc import Callable

import tensorflow as tf

from keras_bert_kit.layers.mean_pooling import MeanPooling
from keras_bert_kit.text.bert_preprocessor import OUTPUT_KEYS, trim_padding

TEXT_SPEC = tf.TensorSpec([None], tf.string)
IDS_SPEC = tf.TensorSpec([None, None], tf.int32)


@dataclasses.dataclass(frozen=True)
class ServingSignature:
    """One served function as data: `fn` and its inputs, `{input name: tf.TensorSpec}`.

    `fn` takes the inputs positionally in the order of `inputs` (its parameters carry the same
    names) and returns a dict of tensors.

    Args:
        fn: the function to serve.
        inputs: `{input name: tf.TensorSpec}`, in `fn`'s parameter order.

    Example:
    >>> sig = ServingSignature(lambda text: {"length": tf.strings.length(text)},
    ...                        {"text": tf.TensorSpec([None], tf.string)})
    >>> sig.input_names, sig.input_signature()[0].name
    (['text'], 'text')
    """

    fn: Callable
    inputs: dict

    @property
    def input_names(self):
        return list(self.inputs)

    def input_signature(self):
        """The `tf.TensorSpec`s in order, named after their inputs (the served input names)."""
        return [tf.TensorSpec(spec.shape, spec.dtype, name=name)
                for name, spec in self.inputs.items()]


def base_signatures(task, pad_to_multiple_of=8):
    """The signatures of a task model with a preprocessor (see `BertTask.serving_signatures`).

    Args:
        task: a `BertTask` with a preprocessor.
        pad_to_multiple_of: `encode` (and `serving_default` of tasks that trim) run each request
            at its longest text rounded up to a multiple of this; None: the full length.

    Example:
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "great"]
    >>> classifier = BertClassifier(
    ...     BertBackbone(len(vocab), num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=8),
    ...     preprocessor=BertPreprocessor(BertTokenizer(vocab), sequence_length=8))
    >>> signatures = base_signatures(classifier)
    >>> sorted(signatures), signatures["token_ids"].input_names
    (['encode', 'serving_default', 'token_ids'], ['token_ids', 'segment_ids', 'padding_mask'])
    """
    if task.text_inputs == 2:
        def serving_default(text, text_pair):
            return task.serve_text(text, text_pair, pad_to_multiple_of)
        default_inputs = {"text": TEXT_SPEC, "text_pair": TEXT_SPEC}
    else:
        def serving_default(text):
            return task.serve_text(text, None, pad_to_multiple_of)
        default_inputs = {"text": TEXT_SPEC}
    mean_pooling = MeanPooling()

    def encode(text):
        packed = task.preprocessor(text)
        if pad_to_multiple_of is not None:
            packed = trim_padding(packed, pad_to_multiple_of)
        out = task.backbone(packed, training=False)
        return {"pooled_output": tf.cast(out["pooled_output"], tf.float32),
                "mean_embedding": mean_pooling(out["sequence_output"], packed["padding_mask"])}

    def token_ids(token_ids, segment_ids, padding_mask):
        return task.serving_outputs({"token_ids": token_ids, "segment_ids": segment_ids,
                                     "padding_mask": padding_mask})

    return {"serving_default": ServingSignature(serving_default, default_inputs),
            "encode": ServingSignature(encode, {"text": TEXT_SPEC}),
            "token_ids": ServingSignature(token_ids, dict.fromkeys(OUTPUT_KEYS, IDS_SPEC))}
