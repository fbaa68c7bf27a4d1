"""`HashDropout`: dropout whose random bits come from a keyed integer hash of each position."""

import keras
from keras import ops

_GOLDEN = 0x9E3779B1


def _u32(value):
    return ops.convert_to_tensor(value, "uint32")


def _mix(h):
    """lowbias32 (C. Wellons' hash prospector): a bijective, well-avalanched uint32 mix.

    Every operand is a uint32 tensor: a Python int would promote the arithmetic to int64.
    """
    h = ops.bitwise_xor(h, ops.right_shift(h, _u32(16)))
    h = ops.multiply(h, _u32(0x7FEB352D))
    h = ops.bitwise_xor(h, ops.right_shift(h, _u32(15)))
    h = ops.multiply(h, _u32(0x846CA68B))
    return ops.bitwise_xor(h, ops.right_shift(h, _u32(16)))


def hash_bits(shape, seed):
    """Pseudo-random uint32 bits of `shape`, one keyed hash per position.

    Args:
        shape: the output shape (static or dynamic).
        seed: a `[2]` integer tensor (a `keras.random.SeedGenerator` state); each seed gives an
            unrelated stream, the same seed the same bits.
    """
    seed = ops.cast(seed, "uint32")
    key_a = _mix(ops.bitwise_xor(seed[0], _mix(ops.add(seed[1], _u32(_GOLDEN)))))
    key_b = _mix(ops.add(key_a, ops.bitwise_xor(seed[1], _u32(0x85EBCA6B))))
    size = 1
    for dim in shape:
        size = size * dim
    index = ops.cast(ops.reshape(ops.arange(size, dtype="int32"), shape), "uint32")
    h = _mix(ops.bitwise_xor(ops.multiply(index, _u32(_GOLDEN)), key_a))
    return _mix(ops.bitwise_xor(h, key_b))


def hash_dropout(inputs, seed, rate):
    """Training-time dropout of `inputs` with the keyed-hash mask of `seed`.

    Keeps an element when its `hash_bits` value is at least `rate * 2**32` and scales the kept
    ones by `1 / (1 - rate)`; the same seed gives the same mask (`fused_ops` redraws it in the
    backward pass instead of storing it).

    Args:
        inputs: float tensor.
        seed: a `[2]` integer tensor (a `keras.random.SeedGenerator` state).
        rate: Python float in [0, 1).
    """
    bits = hash_bits(ops.shape(inputs), seed)
    keep = ops.greater_equal(bits, _u32(int(rate * 2 ** 32)))
    scale = ops.cast(1.0 / (1.0 - rate), inputs.dtype)
    return ops.where(keep, inputs * scale, ops.zeros_like(inputs))


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class HashDropout(keras.layers.Layer):
    """Dropout (Bernoulli keep mask, kept values scaled by `1 / (1 - rate)`) with cheap random bits.

    `keras.layers.Dropout` draws its mask from Philox; XLA on CPU generates those bits very
    slowly (≈ 230 ns per element in `jit_compile` functions on the 2-core CPU measured, against
    ≈ 0.8 ns for this layer: `bench/probe_xla_cpu.py`), which made dropout ≈ 14 % of a
    BERT-base pretraining step there (≈ 6 % with this layer). This
    layer hashes each element's index with a key drawn from a `keras.random.SeedGenerator`
    (two rounds of a 32-bit integer mix) and keeps the element when the hash is at least
    `rate * 2**32`: the keep probability is exact to 2**-32, each call gets a fresh key, and the
    whole mask fuses into the surrounding elementwise work. The generator's state is a
    `seed_generator_state` variable like Keras' own, so it is saved and restored the same way.

    Args:
        rate: fraction of the inputs to drop, in [0, 1).
        seed: an int seed for the generator (None: from Keras' global seed).
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Example:
    >>> layer = HashDropout(0.5, seed=1)
    >>> y = layer(keras.ops.ones((4, 1000)), training=True)
    >>> kept = float(keras.ops.mean(keras.ops.cast(y > 0, "float32")))
    >>> 0.45 < kept < 0.55, float(keras.ops.max(y))
    (True, 2.0)
    >>> bool(keras.ops.all(layer(keras.ops.ones((2, 3))) == 1.0))  # inference: identity
    True
    """

    def __init__(self, rate, seed=None, **kwargs):
        super().__init__(**kwargs)
        if not 0 <= rate < 1:
            raise ValueError(f"HashDropout rate must be in [0, 1), got {rate}")
        self.rate = float(rate)
        self.seed = seed
        if self.rate > 0:
            self.seed_generator = keras.random.SeedGenerator(seed)
        self.supports_masking = True
        self.built = True

    def call(self, inputs, training=False):
        if not training or self.rate == 0:
            return inputs
        from keras_bert_kit.layers import fused_ops

        if fused_ops.use_fused(training):
            # Outside XLA: one fused kernel forward, one backward that redraws the same mask.
            return fused_ops.dropout(inputs, self.seed_generator.next(), self.rate)
        return hash_dropout(inputs, self.seed_generator.next(), self.rate)

    def next_seed(self, training):
        """The seed of the next mask, or None when this call would not drop anything."""
        if not training or self.rate == 0:
            return None
        return self.seed_generator.next()

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        config = super().get_config()
        config.update({"rate": self.rate, "seed": self.seed})
        return config
