"""Losses whose value does not depend on how a global batch is split over replicas.

Example:
>>> loss = MaskedLMCrossentropy()
>>> logits = np.log(np.array([[[0.5, 0.5], [0.9, 0.1]]], "float32"))
>>> round(float(loss(np.array([[0, 1]]), logits, np.array([[1.0, 0.0]]))), 4)  # 1 real position
0.6931
"""

import keras


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class MaskedLMCrossentropy(keras.losses.SparseCategoricalCrossentropy):
    """Cross-entropy averaged over the real masked positions of the whole (global) batch.

    Keras' `reduction="mean_with_sample_weight"` averages over each replica's own masked
    positions, and the replicas' losses are then averaged: with 2 replicas whose halves hold 9
    and 11 masked tokens, a token weighs 1/18 or 1/22 instead of 1/20 on one device. This loss
    divides each replica's sum by the number of masked positions summed over all replicas (one
    scalar all-reduce per step), so one device and N replicas given the same global batch
    compute the same loss and gradients. On one device it is `mean_with_sample_weight`; the
    logged `mlm_loss` is the global batch's mean too.

    Args:
        from_logits: the predictions are logits.
        name: the loss name.
    """

    def __init__(self, from_logits=True, name="masked_lm_crossentropy", **kwargs):
        kwargs.pop("reduction", None)
        super().__init__(from_logits=from_logits, reduction="sum", name=name, **kwargs)

    def __call__(self, y_true, y_pred, sample_weight=None):
        import tensorflow as tf

        total = super().__call__(y_true, y_pred, sample_weight)
        weights = (keras.ops.ones_like(keras.ops.cast(y_true, total.dtype)) if sample_weight is None
                   else keras.ops.cast(sample_weight, total.dtype))
        count = keras.ops.sum(weights)
        context = tf.distribute.get_replica_context()
        if context is not None and context.num_replicas_in_sync > 1:
            # Keras sums the replicas' losses (its mean reductions divide by the number of
            # replicas, `scale_loss_for_distribution`): each replica's share is its sum over the
            # global count.
            count = context.all_reduce("SUM", count)
        return keras.ops.divide_no_nan(total, count)
