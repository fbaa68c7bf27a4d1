"""`BertPooler`: the tanh dense layer over the `[CLS]` position."""

import keras

from keras_bert_kit.layers.activations import initializer


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class BertPooler(keras.layers.Layer):
    """Pools a sequence into one vector: `tanh(dense(sequence[:, 0]))`, as BERT's pooler.

    Args:
        hidden_dim: width of the pooled vector.
        initializer_range: stddev of the truncated-normal initializer.

    Example:
    >>> pooler = BertPooler(hidden_dim=8)
    >>> x = np.random.default_rng(0).normal(size=(2, 4, 8)).astype("float32")
    >>> pooled = np.asarray(pooler(x))
    >>> pooled.shape
    (2, 8)
    >>> bool(np.allclose(pooled, np.asarray(pooler(x[:, :1]))))  # reads [CLS] (position 0) only
    True
    """

    def __init__(self, hidden_dim, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.hidden_dim = hidden_dim
        self.initializer_range = initializer_range
        self.dense = keras.layers.Dense(hidden_dim, activation="tanh",
                                        kernel_initializer=initializer(initializer_range),
                                        dtype=self.dtype_policy, name="dense")

    def build(self, sequence_output_shape=None):
        self.dense.build((None, self.hidden_dim))
        self.built = True

    def call(self, sequence_output):
        return self.dense(sequence_output[:, 0])

    def compute_output_shape(self, sequence_output_shape):
        return (sequence_output_shape[0], self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(hidden_dim=self.hidden_dim, initializer_range=self.initializer_range)
        return config
