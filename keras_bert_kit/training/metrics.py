"""Corpus-level fine-tuning metrics (GLUE style) as stateful `keras.metrics.Metric`s.

All of them take the model's raw outputs (logits, or regression values) and accumulate over
every batch of an epoch or an `evaluate()` call, so the result is the metric of the whole split,
not an average of per-batch values:

- `F1Score`: binary F1 of one class, or macro / micro / weighted F1, from logits and sparse
  labels (or multi-hot labels for multi-label tasks); wraps `keras.metrics.F1Score`.
- `MatthewsCorrelation`: binary or multi-class MCC from a confusion matrix.
- `PearsonCorrelation`: exact, from running means and co-moments (Chan et al.'s update).
- `SpearmanCorrelation`: exact, from all values kept in a fixed-capacity buffer.

State shapes are fixed and updates use static-shape ops only, so the metrics also work inside
XLA-compiled train / test steps.
"""

import keras
from keras import ops


def _sparse_labels(y_true):
    """Class ids as a flat int32 vector (accepts `[batch]` or `[batch, 1]`)."""
    return ops.reshape(ops.cast(y_true, "int32"), (-1,))


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class F1Score(keras.metrics.F1Score):
    """F1 from logits with sparse int labels (or multi-hot labels when `multilabel=True`).

    Predictions are the argmax of the logits (or `logit > 0` per class for multi-label tasks),
    so ties and zero logits are handled as the model's prediction would be.

    Args:
        average: `"binary"` (F1 of class `pos_label`), `"macro"` (unweighted mean over classes),
            `"micro"` (from global counts; equals accuracy for single-label tasks) or `"weighted"`
            (mean weighted by each class's support).
        pos_label: positive class id for `average="binary"`.
        multilabel: labels are multi-hot `[batch, classes]` and each class is predicted
            independently.
        name: metric name.
        dtype: dtype of the state and result.

    Example:
    >>> import numpy as np
    >>> m = F1Score()
    >>> m.update_state(np.array([1, 1, 0, 0]), np.array([[0., 1.], [2., 1.], [0., 3.], [1., 0.]]))
    >>> round(float(m.result()), 4)
    0.5
    """

    def __init__(self, average="binary", pos_label=1, multilabel=False, name="f1", dtype=None):
        if average not in ("binary", "macro", "micro", "weighted"):
            raise ValueError(f"average must be 'binary', 'macro', 'micro' or 'weighted', got {average!r}")
        if multilabel and average == "binary":
            raise ValueError("multilabel F1 needs average='macro', 'micro' or 'weighted'")
        super().__init__(average=None if average == "binary" else average,
                         threshold=0.5 if multilabel else None, name=name, dtype=dtype)
        self.f1_average = average
        self.pos_label = pos_label
        self.multilabel = multilabel

    def update_state(self, y_true, y_pred, sample_weight=None):
        num_classes = y_pred.shape[-1]
        if self.multilabel:
            y_true = ops.cast(y_true, self.dtype)
            y_pred = ops.cast(y_pred > 0, self.dtype)
        else:
            y_true = ops.one_hot(_sparse_labels(y_true), num_classes, dtype=self.dtype)
            y_pred = ops.one_hot(ops.argmax(y_pred, axis=-1), num_classes, dtype=self.dtype)
        if sample_weight is not None:
            sample_weight = ops.reshape(sample_weight, (-1,))
        super().update_state(y_true, y_pred, sample_weight)

    def result(self):
        f1 = super().result()
        return f1[self.pos_label] if self.f1_average == "binary" else f1

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "average": self.f1_average,
                "pos_label": self.pos_label, "multilabel": self.multilabel}


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class MatthewsCorrelation(keras.metrics.Metric):
    """Matthews correlation coefficient (multi-class R_K) from logits and sparse int labels.

    The confusion matrix is accumulated; the result is 0 when it is undefined (a single true or
    predicted class), as scikit-learn does.

    Args:
        num_classes: width of the logits.
        name: metric name.
        dtype: dtype of the state and result.

    Example:
    >>> import numpy as np
    >>> m = MatthewsCorrelation(num_classes=2)
    >>> m.update_state(np.array([1, 1, 0, 0]), np.array([[0., 1.], [2., 1.], [0., 3.], [1., 0.]]))
    >>> round(float(m.result()), 4)
    0.0
    """

    def __init__(self, num_classes=2, name="matthews_correlation", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.num_classes = num_classes
        self._direction = "up"
        self.confusion = self.add_variable(shape=(num_classes, num_classes), initializer="zeros",
                                           dtype=self.dtype, name="confusion")

    def update_state(self, y_true, y_pred, sample_weight=None):
        true = ops.one_hot(_sparse_labels(y_true), self.num_classes, dtype=self.dtype)
        pred = ops.one_hot(ops.argmax(y_pred, axis=-1), self.num_classes, dtype=self.dtype)
        if sample_weight is not None:
            true = true * ops.reshape(ops.cast(sample_weight, self.dtype), (-1, 1))
        self.confusion.assign_add(ops.matmul(ops.transpose(true), pred))

    def result(self):
        c = self.confusion
        total = ops.sum(c)
        correct = ops.trace(c)
        true_counts, pred_counts = ops.sum(c, axis=1), ops.sum(c, axis=0)
        covariance = correct * total - ops.sum(true_counts * pred_counts)
        variance_pred = total * total - ops.sum(pred_counts * pred_counts)
        variance_true = total * total - ops.sum(true_counts * true_counts)
        return ops.divide_no_nan(covariance, ops.sqrt(variance_pred * variance_true))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "num_classes": self.num_classes}


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class PearsonCorrelation(keras.metrics.Metric):
    """Pearson correlation of predictions and targets over all examples seen.

    Unlike `keras.metrics.PearsonCorrelation` (a mean of per-row correlations), this is the
    corpus-level coefficient GLUE reports. Each batch's mean and co-moments are merged into the
    running ones with Chan et al.'s pairwise update, which stays accurate in float32. The result
    is 0 when either side is constant.

    Args:
        name: metric name.
        dtype: dtype of the state and result.

    Example:
    >>> import numpy as np
    >>> m = PearsonCorrelation()
    >>> m.update_state(np.array([1., 2., 3.]), np.array([[2.], [4.], [7.]]))
    >>> round(float(m.result()), 4)
    0.9934
    """

    def __init__(self, name="pearson_correlation", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self._direction = "up"
        names = ("count", "mean_true", "mean_pred", "m2_true", "m2_pred", "comoment")
        for state in names:
            setattr(self, state, self.add_variable(shape=(), initializer="zeros",
                                                   dtype=self.dtype, name=state))

    def update_state(self, y_true, y_pred, sample_weight=None):
        y_true = ops.reshape(ops.cast(y_true, self.dtype), (-1,))
        y_pred = ops.reshape(ops.cast(y_pred, self.dtype), (-1,))
        weight = (ops.ones_like(y_true) if sample_weight is None
                  else ops.reshape(ops.cast(sample_weight, self.dtype), (-1,)))
        n_b = ops.sum(weight)
        mean_true_b = ops.divide_no_nan(ops.sum(weight * y_true), n_b)
        mean_pred_b = ops.divide_no_nan(ops.sum(weight * y_pred), n_b)
        d_true, d_pred = y_true - mean_true_b, y_pred - mean_pred_b
        n_a = self.count
        n = n_a + n_b
        delta_true, delta_pred = mean_true_b - self.mean_true, mean_pred_b - self.mean_pred
        share_b = ops.divide_no_nan(n_b, n)
        cross = n_a * share_b
        self.m2_true.assign_add(ops.sum(weight * d_true * d_true) + delta_true * delta_true * cross)
        self.m2_pred.assign_add(ops.sum(weight * d_pred * d_pred) + delta_pred * delta_pred * cross)
        self.comoment.assign_add(ops.sum(weight * d_true * d_pred) + delta_true * delta_pred * cross)
        self.mean_true.assign_add(delta_true * share_b)
        self.mean_pred.assign_add(delta_pred * share_b)
        self.count.assign(n)

    def result(self):
        return ops.divide_no_nan(self.comoment, ops.sqrt(self.m2_true * self.m2_pred))

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype}


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class SpearmanCorrelation(keras.metrics.Metric):
    """Spearman rank correlation of predictions and targets over all examples seen (exact).

    Exact ranks need every value, so they are kept in two buffers of `capacity` entries; a fixed
    capacity (rather than a growing variable) keeps shapes static for graph mode and XLA. Each
    `result()` ranks the buffers (ties get their average rank, as scipy does) and returns the
    Pearson correlation of the ranks; it costs a sort of `capacity` values. Once more than
    `capacity` examples are seen since the last `reset_state()`, the result is NaN: raise
    `capacity` for larger splits. Sample weights are not supported. The result is 0 when either
    side is constant.

    Args:
        capacity: most examples per epoch / evaluation.
        name: metric name.
        dtype: dtype of the state and result.

    Example:
    >>> import numpy as np
    >>> m = SpearmanCorrelation(capacity=8)
    >>> m.update_state(np.array([1., 2., 3., 4.]), np.array([[1.], [3.], [2.], [4.]]))
    >>> round(float(m.result()), 4)
    0.8
    """

    def __init__(self, capacity=65536, name="spearman_correlation", dtype=None):
        super().__init__(name=name, dtype=dtype)
        self.capacity = capacity
        self._direction = "up"
        self.count = self.add_variable(shape=(), initializer="zeros", dtype="int32", name="count")
        self.true_values = self.add_variable(shape=(capacity,), initializer="zeros",
                                             dtype=self.dtype, name="true_values")
        self.pred_values = self.add_variable(shape=(capacity,), initializer="zeros",
                                             dtype=self.dtype, name="pred_values")

    def update_state(self, y_true, y_pred, sample_weight=None):
        if sample_weight is not None:
            raise ValueError("SpearmanCorrelation does not support sample weights")
        y_true = ops.reshape(ops.cast(y_true, self.dtype), (-1,))
        y_pred = ops.reshape(ops.cast(y_pred, self.dtype), (-1,))
        start = ops.minimum(self.count, self.capacity - ops.shape(y_true)[0])
        self.true_values.assign(ops.slice_update(self.true_values, [start], y_true))
        self.pred_values.assign(ops.slice_update(self.pred_values, [start], y_pred))
        self.count.assign_add(ops.shape(y_true)[0])

    def result(self):
        valid = ops.arange(self.capacity) < self.count
        weight = ops.cast(valid, self.dtype)
        n = ops.sum(weight)
        rank_true = _average_ranks(ops.where(valid, self.true_values, float("inf")), self.dtype)
        rank_pred = _average_ranks(ops.where(valid, self.pred_values, float("inf")), self.dtype)
        d_true = (rank_true - ops.divide_no_nan(ops.sum(weight * rank_true), n)) * weight
        d_pred = (rank_pred - ops.divide_no_nan(ops.sum(weight * rank_pred), n)) * weight
        rho = ops.divide_no_nan(ops.sum(d_true * d_pred),
                                ops.sqrt(ops.sum(d_true * d_true) * ops.sum(d_pred * d_pred)))
        return ops.where(self.count > self.capacity, float("nan"), rho)

    def get_config(self):
        return {"name": self.name, "dtype": self.dtype, "capacity": self.capacity}


def _average_ranks(values, dtype):
    """1-based ranks of a vector, ties sharing their average rank (static shapes, XLA-friendly)."""
    size = ops.shape(values)[0]
    order = ops.argsort(values)
    sorted_values = ops.take(values, order)
    starts_group = ops.concatenate([ops.ones((1,), "int32"),
                                    ops.cast(sorted_values[1:] != sorted_values[:-1], "int32")])
    group = ops.cumsum(starts_group) - 1
    group_size = ops.segment_sum(ops.ones((size,), dtype), group, num_segments=size)
    group_rank = ops.cumsum(group_size) - group_size + (group_size + 1) / 2
    return ops.scatter(ops.expand_dims(order, 1), ops.take(group_rank, group), (size,))
