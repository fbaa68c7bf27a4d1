"""`MaskedLMHead`: gathers the masked positions, transforms them and scores the vocabulary."""

import keras
from keras import ops

from keras_bert_kit.layers.activations import get_activation, initializer
from keras_bert_kit.layers.gather import gather_positions


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class MaskedLMHead(keras.layers.Layer):
    """BERT's MLM head, evaluated only at the masked positions.

    `dense → activation → LayerNorm → (· word_embeddingsᵀ) + bias`. Gathering the positions first
    means the `[hidden, vocab]` projection runs on `max_predictions` rows per sequence instead of
    `seq_len`. With `token_embedding` given, the output projection is tied to that embedding layer
    (the owner model passes it; it is not part of the config). Without it, the head owns an
    output kernel.

    Args:
        vocabulary_size: number of WordPiece ids.
        hidden_dim: width of the encoder output.
        activation: transform activation (`"gelu"` = exact erf GELU).
        layer_norm_epsilon: LayerNorm epsilon.
        initializer_range: stddev of the truncated-normal initializer.
        token_embedding: optional `keras.layers.Embedding` to tie the output projection to.

    Call args:
        sequence_output: `[batch, seq, hidden_dim]`.
        mask_positions: `[batch, num_predictions]` int positions to score; None when
            `sequence_output` already holds just those rows (`[batch, num_predictions, hidden]`).

    Example:
    >>> head = MaskedLMHead(vocabulary_size=50, hidden_dim=8)
    >>> x = np.random.default_rng(0).normal(size=(2, 6, 8)).astype("float32")
    >>> logits = np.asarray(head(x, np.array([[1, 2], [0, 5]])))
    >>> logits.shape
    (2, 2, 50)
    >>> bool(np.allclose(logits[1, 1], np.asarray(head(x[:, 5:6]))[1, 0]))  # row 5 of text 1
    True
    """

    def __init__(self, vocabulary_size, hidden_dim, activation="gelu", layer_norm_epsilon=1e-12,
                 initializer_range=0.02, token_embedding=None, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.hidden_dim = hidden_dim
        self.activation = activation
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        # Not tracked: the embedding belongs to the backbone, the head only reads its matrix.
        object.__setattr__(self, "token_embedding", token_embedding)
        self._activation_fn = get_activation(activation)
        self.transform_dense = keras.layers.Dense(
            hidden_dim, kernel_initializer=initializer(initializer_range),
            dtype=self.dtype_policy, name="transform")
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="transform_layer_norm")

    def build(self, sequence_output_shape=None, mask_positions_shape=None):
        self.transform_dense.build((None, None, self.hidden_dim))
        self.layer_norm.build((None, None, self.hidden_dim))
        if self.token_embedding is None:
            self.output_kernel = self.add_weight(
                shape=(self.hidden_dim, self.vocabulary_size),
                initializer=initializer(self.initializer_range), name="output_kernel")
        self.output_bias = self.add_weight(shape=(self.vocabulary_size,), initializer="zeros",
                                           name="output_bias")
        self.built = True

    def call(self, sequence_output, mask_positions=None):
        if mask_positions is None:
            x = sequence_output  # already the masked rows (BertPretrainer gathers them earlier)
        else:
            x = gather_positions(sequence_output, mask_positions)
        x = self.layer_norm(self._activation_fn(self.transform_dense(x)))
        if self.token_embedding is not None:
            # x · embeddingsᵀ as a matmul of a transpose, not `einsum("bmh,vh->bmv")`: XLA:CPU
            # folds the transpose into the dot, while the einsum's gradient for the table
            # (contracting over both b and m) misses its fast GEMM (`bench/probe_xla_cpu.py`
            # times both).
            embeddings = ops.cast(self.token_embedding.embeddings, self.compute_dtype)
            logits = ops.matmul(x, ops.transpose(embeddings))
        else:
            logits = ops.matmul(x, ops.cast(self.output_kernel, self.compute_dtype))
        return logits + ops.cast(self.output_bias, self.compute_dtype)

    def compute_output_shape(self, sequence_output_shape, mask_positions_shape=None):
        rows = sequence_output_shape[:-1] if mask_positions_shape is None else mask_positions_shape
        return tuple(rows) + (self.vocabulary_size,)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            hidden_dim=self.hidden_dim,
            activation=self.activation,
            layer_norm_epsilon=self.layer_norm_epsilon,
            initializer_range=self.initializer_range,
        )
        return config
