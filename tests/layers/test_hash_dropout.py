"""HashDropout: a Bernoulli keep mask with the exact rate, fresh per call, scaled like Keras' Dropout."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.layers.dropout_kernels import hash_bits
from keras_bert_kit.layers.hash_dropout import HashDropout


def masks(layer, shape, calls, jit):
    fn = tf.function(lambda x: layer(x, training=True), jit_compile=jit)
    ones = tf.ones(shape)
    return [fn(ones).numpy() for _ in range(calls)]


@pytest.mark.parametrize("jit", [False, True])
@pytest.mark.parametrize("rate", [0.1, 0.5])
def test_keep_rate_scale_and_fresh_masks(rate, jit):
    shape = (8, 12, 64, 64)  # 393,216 elements per call
    outs = masks(HashDropout(rate, seed=7), shape, 3, jit)
    n = np.prod(shape)
    for y in outs:
        kept = y != 0
        # within 5 standard deviations of the binomial mean
        assert abs(kept.mean() - (1 - rate)) < 5 * np.sqrt(rate * (1 - rate) / n)
        np.testing.assert_allclose(y[kept], 1 / (1 - rate), rtol=1e-6)
    flat = [(y != 0).ravel().astype(np.float64) for y in outs]
    # successive calls, neighbouring elements, rows and heads are uncorrelated
    assert abs(np.corrcoef(flat[0], flat[1])[0, 1]) < 0.01
    assert abs(np.corrcoef(flat[0][:-1], flat[0][1:])[0, 1]) < 0.01
    assert abs(np.corrcoef(flat[0][:-64], flat[0][64:])[0, 1]) < 0.01
    assert abs(np.corrcoef(flat[0][:-4096], flat[0][4096:])[0, 1]) < 0.01


def test_same_seed_same_masks_and_xla_equals_graph():
    eager = masks(HashDropout(0.1, seed=3), (4, 256), 2, jit=False)
    xla = masks(HashDropout(0.1, seed=3), (4, 256), 2, jit=True)
    # Masks come from integer hashing, exact on every kernel path: bitwise by design.
    np.testing.assert_array_equal(eager[0], xla[0])
    np.testing.assert_array_equal(eager[1], xla[1])
    assert not np.array_equal(eager[0], eager[1])
    other = masks(HashDropout(0.1, seed=4), (4, 256), 1, jit=False)
    assert not np.array_equal(eager[0], other[0])


def test_hash_bits_are_uniform_over_32_bits():
    bits = hash_bits((1 << 18,), tf.constant([5, 9])).numpy()
    assert bits.dtype == np.uint32 and np.unique(bits).size == bits.size  # a bijection of the index
    counts = np.bincount(bits >> 28, minlength=16)  # top 4 bits: 16 equal bins
    expected = bits.size / 16
    assert ((counts - expected) ** 2 / expected).sum() < 60  # chi-square, 15 dof (p ≈ 1e-7)
    low = np.bincount(bits & 15, minlength=16)
    assert ((low - expected) ** 2 / expected).sum() < 60


def test_inference_identity_rate_zero_bf16_and_config():
    x = np.random.default_rng(0).standard_normal((2, 5)).astype(np.float32)
    layer = HashDropout(0.3, seed=1)
    np.testing.assert_array_equal(layer(x), x)
    np.testing.assert_array_equal(HashDropout(0.0)(x, training=True), x)
    half = HashDropout(0.3, seed=1, dtype="mixed_bfloat16")
    assert half(tf.cast(x, tf.bfloat16), training=True).dtype == tf.bfloat16
    clone = HashDropout.from_config(layer.get_config())
    assert (clone.rate, clone.seed) == (0.3, 1)
    with pytest.raises(ValueError, match="rate must be in"):
        HashDropout(1.0)
    assert [v.name for v in layer.variables] == ["seed_generator_state"]


def test_keras_dropout_statistics_match():
    """Same keep rate and mean as keras.layers.Dropout on the same input."""
    x = tf.random.stateless_normal((64, 4096), seed=[1, 2]) + 1.0
    ours = HashDropout(0.1, seed=1)(x, training=True).numpy()
    theirs = keras.layers.Dropout(0.1, seed=1)(x, training=True).numpy()
    assert abs((ours == 0).mean() - (theirs == 0).mean()) < 0.005
    assert abs(ours.mean() - theirs.mean()) < 0.01
