"""Dropout kernels: the fused chains equal the plain TF ops they replace (values and gradients, in
every mode), and layers take them only when training outside XLA."""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.layers import TransformerEncoder, dropout_kernels
from keras_bert_kit.layers.dropout_kernels import hash_bits

pytestmark = pytest.mark.numerics  # compared with the plain ops, which take the CPU's kernel path

SEED = tf.constant([7, 9])
RATE = 0.1


def plain_dropout(x):
    keep = hash_bits(keras.ops.shape(x), SEED) >= np.uint32(int(RATE * 2 ** 32))
    return tf.where(keep, x * tf.cast(1 / (1 - RATE), x.dtype), tf.zeros_like(x))


def plain_add_norm(x, residual, gamma, beta):
    total = tf.cast(residual, tf.float32) + tf.cast(plain_dropout(x), tf.float32)
    mean, var = tf.nn.moments(total, [-1], keepdims=True)
    return tf.cast((total - mean) / tf.sqrt(var + 1e-12) * gamma + beta, x.dtype)


def plain_softmax(scores, bias):
    probs = tf.cast(tf.nn.softmax(tf.cast(scores, tf.float32) + bias, axis=-1), scores.dtype)
    return plain_dropout(probs)


def plain_gelu(x):
    xf = tf.cast(x, tf.float32)
    return tf.cast(0.5 * xf * (1 + tf.math.erf(xf / math.sqrt(2))), x.dtype)


def value_and_grads(fn, inputs, cotangent, jit):
    def run(*xs):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            out = fn(*xs)
        return out, tape.gradient(out, xs, output_gradients=cotangent)
    out, grads = tf.function(run, jit_compile=jit)(*inputs)
    return [np.asarray(tf.cast(t, tf.float32)) for t in (out, *grads)]


rng = np.random.default_rng(0)
HIDDEN = tf.constant(rng.normal(size=(2, 6, 32)), tf.float32)
RESIDUAL = tf.constant(rng.normal(size=(2, 6, 32)), tf.float32)
GAMMA = tf.constant(rng.normal(size=32), tf.float32)
BETA = tf.constant(rng.normal(size=32), tf.float32)
SCORES = tf.constant(3 * rng.normal(size=(2, 3, 6, 6)), tf.float32)
BIAS = tf.constant([[[[0, 0, 0, 0, 0, 0]]], [[[0, 0, 0, 0, -1e4, -1e4]]]], tf.float32)
CASES = {
    "dropout": (lambda x: dropout_kernels.dropout(x, SEED, RATE), plain_dropout, [HIDDEN]),
    "gelu": (dropout_kernels.gelu_exact, plain_gelu, [HIDDEN]),
    "dropout_add_layer_norm": (
        lambda x, r, g, b: dropout_kernels.dropout_add_layer_norm(x, r, g, b, 1e-12, SEED, RATE),
        plain_add_norm, [HIDDEN, RESIDUAL, GAMMA, BETA]),
    "softmax_dropout": (
        lambda s: dropout_kernels.softmax_dropout(s, BIAS, s.dtype, SEED, RATE),
        lambda s: plain_softmax(s, BIAS), [SCORES]),
}


@pytest.mark.parametrize("dtype", ["float32", "bfloat16"])
@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("name", sorted(CASES))
def test_fused_op_matches_plain_ops(name, jit, dtype):
    fused, plain, inputs = CASES[name]
    # The tensors a layer would pass in its compute dtype; LayerNorm scale/offset stay float32.
    inputs = [t if t.shape.rank == 1 else tf.cast(t, dtype) for t in inputs]
    cotangent = tf.cast(tf.constant(rng.normal(size=inputs[0].shape)), dtype)
    got = value_and_grads(fused, inputs, cotangent, jit)
    want = value_and_grads(plain, inputs, cotangent, jit=False)
    tol = 1e-5 if dtype == "float32" else 4e-2
    for g, w in zip(got, want):
        np.testing.assert_allclose(g, w, rtol=tol, atol=tol * max(1.0, np.abs(w).max()))
    if name != "gelu":  # the same dropout mask as the plain ops: zeros in the same places
        np.testing.assert_array_equal(got[0] == 0, want[0] == 0)


@pytest.mark.parametrize("jit", [False, True])
def test_encoder_training_path_equals_inference_path_without_dropout(jit):
    """With dropout 0 the fused training path computes the plain inference path and its gradients."""
    block = TransformerEncoder(hidden_dim=32, num_heads=4, intermediate_dim=48, dropout=0.0,
                               attention_dropout=0.0)
    x = tf.constant(rng.normal(size=(2, 6, 32)), tf.float32)
    mask = tf.constant([[1] * 6, [1] * 4 + [0] * 2], tf.int32)
    block(x, padding_mask=mask)
    cotangent = tf.constant(rng.normal(size=(2, 6, 32)), tf.float32)

    def run(training):
        def fn(x):
            with tf.GradientTape() as tape:
                tape.watch(x)
                out = block(x, padding_mask=mask, training=training)
            return out, tape.gradient(out, [x] + block.trainable_weights,
                                      output_gradients=cotangent)
        return tf.function(fn, jit_compile=jit)(x)

    (train_out, train_grads), (infer_out, infer_grads) = run(True), run(False)
    np.testing.assert_allclose(train_out, infer_out, atol=1e-5)
    assert len(train_grads) == len(infer_grads) == 13  # the input and 12 weights
    for a, b in zip(train_grads, infer_grads):
        np.testing.assert_allclose(a, b, atol=2e-5)


def test_encoder_training_dropout_is_seeded_and_fresh():
    block = TransformerEncoder(hidden_dim=32, num_heads=4, intermediate_dim=48, dropout=0.3,
                               attention_dropout=0.3)
    x = tf.constant(rng.normal(size=(2, 6, 32)), tf.float32)
    first, second = (np.asarray(block(x, training=True)) for _ in range(2))
    assert not np.allclose(first, second)  # a fresh mask per call
    assert np.all(np.isfinite(first))
    np.testing.assert_array_equal(block(x), block(x))  # inference: deterministic


def test_rate_outside_zero_one_is_one_clear_error():
    for call in (lambda: dropout_kernels.dropout(HIDDEN, SEED, 1.0),
                 lambda: dropout_kernels.dropout_add_layer_norm(HIDDEN, RESIDUAL, GAMMA, BETA,
                                                                1e-12, SEED, -0.1),
                 lambda: dropout_kernels.softmax_dropout(SCORES, BIAS, "float32", SEED, 1.5)):
        with pytest.raises(ValueError, match=r"dropout rate must be in \[0, 1\)"):
            call()


def test_use_fused_only_when_training_outside_xla():
    """The XLA check reads the context `tf.function(jit_compile=True)` traces in, nested too."""
    assert not dropout_kernels.in_xla_compilation()
    assert dropout_kernels.use_fused(True) and not dropout_kernels.use_fused(False)

    def flags():
        return tf.constant([dropout_kernels.in_xla_compilation(), dropout_kernels.use_fused(True)])

    assert tf.function(flags)().numpy().tolist() == [False, True]
    assert tf.function(flags, jit_compile=True)().numpy().tolist() == [True, False]
    inner = tf.function(flags)
    assert tf.function(lambda: inner(), jit_compile=True)().numpy().tolist() == [True, False]
