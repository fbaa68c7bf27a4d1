"""Tests for the corpus-level metrics against hand-computed values, eagerly and in `evaluate()`."""

import keras
import numpy as np
import pytest

from keras_bert_kit.training.metrics import (
    F1Score, MatthewsCorrelation, PearsonCorrelation, SpearmanCorrelation)

# Three classes. true: 0 0 1 2 2 2, predicted: 0 1 1 2 2 0.
# class 0: TP 1, FP 1, FN 1 -> F1 1/2; class 1: TP 1, FP 1 -> F1 2/3; class 2: TP 2, FN 1 -> F1 4/5.
Y_TRUE = np.array([0, 0, 1, 2, 2, 2])
LOGITS = np.eye(3, dtype="float32")[[0, 1, 1, 2, 2, 0]] * 2.0 - 1.0
F1_CLASS = [1 / 2, 2 / 3, 4 / 5]
F1_MACRO = (1 / 2 + 2 / 3 + 4 / 5) / 3  # 0.655556
F1_MICRO = 4 / 6  # accuracy
F1_WEIGHTED = (2 * 1 / 2 + 1 * 2 / 3 + 3 * 4 / 5) / 6  # 0.677778
# Confusion (rows true): [[1,1,0],[0,1,0],[1,0,2]]; correct 4 of 6; true counts 2,1,3; predicted 2,2,2.
MCC = (4 * 6 - (2 * 2 + 1 * 2 + 3 * 2)) / np.sqrt((36 - 12) * (36 - 14))  # 12 / sqrt(528) = 0.522233


def _logits_model(width):
    """A model whose outputs are its inputs, so `evaluate` sees exactly the given logits."""
    return keras.Sequential([keras.Input((width,)), keras.layers.Identity()])


@pytest.mark.parametrize("kwargs,expected", [
    (dict(average="binary", pos_label=2), F1_CLASS[2]),
    (dict(average="macro"), F1_MACRO),
    (dict(average="micro"), F1_MICRO),
    (dict(average="weighted"), F1_WEIGHTED),
])
def test_f1_from_logits_and_sparse_labels(kwargs, expected):
    metric = F1Score(**kwargs)
    metric.update_state(Y_TRUE[:3, None], LOGITS[:3])  # `[batch, 1]` labels are fine too
    metric.update_state(Y_TRUE[3:], LOGITS[3:])
    np.testing.assert_allclose(float(metric.result()), expected, atol=1e-6)


def test_f1_counts_a_zero_logit_argmax_as_the_prediction():
    metric = F1Score(pos_label=0)
    metric.update_state(np.array([0]), np.array([[0.0, -1.0]]))  # predicted class 0 (logit 0)
    assert float(metric.result()) == pytest.approx(1.0, abs=1e-6)


def test_f1_multilabel():
    # predictions (logit > 0): [[1,0,0],[1,1,0]] vs true [[1,0,1],[0,1,0]].
    # class 0: TP 1, FP 1 -> 2/3; class 1: TP 1 -> 1; class 2: FN 1 -> 0. Micro: TP 2, FP 1, FN 1 -> 2/3.
    y_true, logits = np.array([[1, 0, 1], [0, 1, 0]]), np.array([[2.0, -1.0, -3.0], [1.0, 1.0, -1.0]])
    for average, expected in (("macro", (2 / 3 + 1 + 0) / 3), ("micro", 2 / 3)):
        metric = F1Score(average=average, multilabel=True)
        metric.update_state(y_true, logits)
        np.testing.assert_allclose(float(metric.result()), expected, atol=1e-6)
    with pytest.raises(ValueError, match="multilabel F1 needs"):
        F1Score(multilabel=True)


def test_matthews_binary_and_multiclass():
    metric = MatthewsCorrelation(num_classes=3)
    metric.update_state(Y_TRUE, LOGITS)
    np.testing.assert_allclose(float(metric.result()), MCC, atol=1e-6)
    # Binary: TP 2, TN 1, FP 1, FN 0 -> (2*1 - 1*0) / sqrt(3*2*2*1) = 2 / sqrt(12).
    binary = MatthewsCorrelation()
    binary.update_state(np.array([1, 1, 0, 0]), np.array([[0.0, 1.0], [0.0, 2.0], [0.0, 1.0], [1.0, 0.0]]))
    np.testing.assert_allclose(float(binary.result()), 2 / np.sqrt(12), atol=1e-6)
    constant = MatthewsCorrelation()
    constant.update_state(np.array([1, 0]), np.array([[0.0, 1.0], [0.0, 1.0]]))
    assert float(constant.result()) == 0.0


# Regression. x: 1 2 3 4 5, y: 2 1 4 3 5 -> deviations -2 -1 0 1 2 and -1 -2 1 0 2:
# sum of products 8, sums of squares 10 and 10 -> Pearson 0.8; the values are ranks, so Spearman 0.8.
X = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
Y = np.array([2.0, 1.0, 4.0, 3.0, 5.0])


def test_pearson_over_batches_and_with_weights():
    metric = PearsonCorrelation()
    for start in (0, 2, 4):
        metric.update_state(X[start:start + 2], Y[start:start + 2, None])
    np.testing.assert_allclose(float(metric.result()), 0.8, atol=1e-6)
    # A zero weight drops the outlier: corr(1 2 3, 2 4 7) = 5 / sqrt(2 * 114/9).
    weighted = PearsonCorrelation()
    weighted.update_state(np.array([1.0, 2.0, 3.0, 100.0]), np.array([2.0, 4.0, 7.0, -50.0]),
                          sample_weight=np.array([1.0, 1.0, 1.0, 0.0]))
    np.testing.assert_allclose(float(weighted.result()), 5 / np.sqrt(2 * 114 / 9), atol=1e-6)


def test_spearman_ties_get_average_ranks():
    # x 1 2 2 3 -> ranks 1 2.5 2.5 4; y 1 3 2 4 -> ranks 1 3 2 4.
    # deviations -1.5 0 0 1.5 and -1.5 .5 -.5 1.5: 4.5 / sqrt(4.5 * 5) = sqrt(0.9).
    metric = SpearmanCorrelation(capacity=16)
    metric.update_state(np.array([1.0, 2.0]), np.array([1.0, 3.0]))
    metric.update_state(np.array([2.0, 3.0]), np.array([2.0, 4.0]))
    np.testing.assert_allclose(float(metric.result()), np.sqrt(0.9), atol=1e-6)


def test_spearman_overflow_is_nan_and_weights_are_refused():
    metric = SpearmanCorrelation(capacity=4)
    metric.update_state(X[:3], Y[:3])
    assert np.isfinite(float(metric.result()))
    metric.update_state(X[3:], Y[3:])
    assert np.isnan(float(metric.result()))
    metric.reset_state()
    metric.update_state(X[:4], Y[:4])  # rank correlation of 1 2 3 4 and 2 1 4 3: 1 - 6 * 4 / 60
    np.testing.assert_allclose(float(metric.result()), 0.6, atol=1e-6)
    with pytest.raises(ValueError, match="sample weights"):
        metric.update_state(X, Y, sample_weight=np.ones(5))


@pytest.mark.parametrize("jit_compile", [False, True])
def test_classification_metrics_in_evaluate_accumulate_and_reset(jit_compile):
    model = _logits_model(3)
    metrics = [F1Score(average="macro", name="f1_macro"), F1Score(average="binary", pos_label=2),
               MatthewsCorrelation(num_classes=3)]
    model.compile(loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=metrics,
                  jit_compile=jit_compile)
    for _ in range(2):  # evaluate resets state at the start of each call
        result = model.evaluate(LOGITS, Y_TRUE, batch_size=4, verbose=0, return_dict=True)
        np.testing.assert_allclose(
            [result["f1_macro"], result["f1"], result["matthews_correlation"]], [F1_MACRO, F1_CLASS[2], MCC],
            atol=1e-6)
    for metric in metrics:
        metric.reset_state()
        assert float(metric.result()) == 0.0


@pytest.mark.parametrize("jit_compile", [False, True])
def test_regression_metrics_in_evaluate(jit_compile):
    model = _logits_model(1)
    model.compile(loss="mse", metrics=[PearsonCorrelation(), SpearmanCorrelation(capacity=8)],
                  jit_compile=jit_compile)
    result = model.evaluate(Y[:, None], X, batch_size=2, verbose=0, return_dict=True)
    np.testing.assert_allclose([result["pearson_correlation"], result["spearman_correlation"]], [0.8, 0.8],
                               atol=1e-6)


@pytest.mark.parametrize("metric", [
    F1Score(average="weighted", multilabel=True, name="f"), MatthewsCorrelation(num_classes=4),
    PearsonCorrelation(name="p"), SpearmanCorrelation(capacity=32)])
def test_config_round_trip(metric):
    restored = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(metric))
    assert type(restored) is type(metric) and restored.get_config() == metric.get_config()
