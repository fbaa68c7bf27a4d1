"""`MeanPooling`: the mean of the token vectors at valid (unpadded) positions."""

import keras
from keras import ops


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class MeanPooling(keras.layers.Layer):
    """Averages `[batch, seq, hidden]` over positions where `padding_mask` is 1 (float32 out).

    The sentence embedding of sentence-transformers models such as all-MiniLM-L6-v2, which are
    trained with mean pooling rather than BERT's `[CLS]` pooler.

    Example:
    >>> import numpy as np
    >>> x = np.array([[[1.0], [3.0], [100.0]]], "float32")
    >>> MeanPooling()(x, np.array([[1, 1, 0]])).numpy().tolist()
    [[2.0]]
    """

    def call(self, sequence_output, padding_mask):
        mask = ops.cast(padding_mask, "float32")[:, :, None]
        total = ops.sum(ops.cast(sequence_output, "float32") * mask, axis=1)
        return total / ops.maximum(ops.sum(mask, axis=1), 1.0)

    def compute_output_shape(self, sequence_output_shape, padding_mask_shape=None):
        return (sequence_output_shape[0], sequence_output_shape[2])
