"""`NextSentenceHead`: BERT's two-way next-sentence classifier over the pooled output."""

import keras

from keras_bert_kit.layers.activations import initializer


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class NextSentenceHead(keras.layers.Layer):
    """Maps the pooled output to 2 logits: index 0 = "B follows A", 1 = "B is random" (BERT's order).

    Args:
        hidden_dim: width of the pooled input.
        initializer_range: stddev of the truncated-normal initializer.

    Example:
    >>> head = NextSentenceHead(hidden_dim=8)
    >>> logits = np.asarray(head(np.ones((2, 8), "float32")))
    >>> logits.shape
    (2, 2)
    >>> bool(np.allclose(logits, np.ones((2, 8)) @ head.dense.kernel.numpy(), atol=1e-6))
    True
    """

    def __init__(self, hidden_dim, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.initializer_range = initializer_range
        self.dense = keras.layers.Dense(2, kernel_initializer=initializer(initializer_range),
                                        dtype=self.dtype_policy, name="seq_relationship")

    def build(self, pooled_output_shape=None):
        self.dense.build((None, self.hidden_dim))
        self.built = True

    def call(self, pooled_output):
        return self.dense(pooled_output)

    def compute_output_shape(self, pooled_output_shape):
        return (pooled_output_shape[0], 2)

    def get_config(self):
        config = super().get_config()
        config.update(hidden_dim=self.hidden_dim, initializer_range=self.initializer_range)
        return config
