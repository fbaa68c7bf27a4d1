"""`HashDropout`: dropout whose random bits come from a keyed integer hash of each position."""

import keras

from keras_bert_kit.layers import dropout_kernels


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class HashDropout(keras.layers.Layer):
    """Dropout (Bernoulli keep mask, kept values scaled by `1 / (1 - rate)`) with cheap random bits.

    `keras.layers.Dropout` draws its mask from Philox, whose bits XLA on CPU generates slowly
    enough to be a visible share of a pretraining step (`bench/probe_xla_cpu.py` times both
    layers per element). This layer hashes each element's index with a key drawn from a
    `keras.random.SeedGenerator` (two rounds of a 32-bit integer mix, `dropout_kernels.hash_bits`)
    and keeps the element when the hash is at least `rate * 2**32`: the keep probability is exact
    to 2**-32, each call gets a fresh key, and the whole mask fuses into the surrounding
    elementwise work. The generator's state is a `seed_generator_state` variable like Keras' own.

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
        if dropout_kernels.use_fused(training):
            # Outside XLA: one fused kernel forward, one backward that redraws the same mask.
            return dropout_kernels.dropout(inputs, self.seed_generator.next(), self.rate)
        return dropout_kernels.hash_dropout(inputs, self.seed_generator.next(), self.rate)

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
