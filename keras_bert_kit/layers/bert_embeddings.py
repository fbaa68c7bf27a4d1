"""`BertEmbeddings`: token + learned position + segment embeddings, LayerNorm and dropout."""

import keras
from keras import ops

from keras_bert_kit.layers.activations import initializer
from keras_bert_kit.layers.hash_dropout import HashDropout


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class BertEmbeddings(keras.layers.Layer):
    """Sums word, position and segment embeddings, then LayerNorm and dropout (BERT's input block).

    Args:
        vocabulary_size: number of WordPiece ids.
        hidden_dim: embedding width.
        max_sequence_length: number of learned positions.
        num_segments: number of segment (token type) ids.
        dropout: dropout rate after the LayerNorm.
        layer_norm_epsilon: LayerNorm epsilon.
        initializer_range: stddev of the truncated-normal initializer.

    Example:
    >>> layer = BertEmbeddings(vocabulary_size=100, hidden_dim=8)
    >>> x = np.asarray(layer(np.array([[2, 5, 3]]), np.zeros((1, 3), "int32")))
    >>> x.shape
    (1, 3, 8)
    >>> bool(np.allclose(x.mean(-1), 0.0, atol=1e-6))  # each vector after LayerNorm
    True
    """

    def __init__(self, vocabulary_size, hidden_dim, max_sequence_length=512, num_segments=2,
                 dropout=0.1, layer_norm_epsilon=1e-12, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        self.vocabulary_size = vocabulary_size
        self.hidden_dim = hidden_dim
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.dropout = dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range

        self.token_embedding = keras.layers.Embedding(
            vocabulary_size, hidden_dim, embeddings_initializer=initializer(initializer_range),
            dtype=self.dtype_policy, name="token_embedding")
        self.segment_embedding = keras.layers.Embedding(
            num_segments, hidden_dim, embeddings_initializer=initializer(initializer_range),
            dtype=self.dtype_policy, name="segment_embedding")
        self.layer_norm = keras.layers.LayerNormalization(
            epsilon=layer_norm_epsilon, dtype=self.dtype_policy, name="layer_norm")
        self.dropout_layer = HashDropout(dropout, dtype=self.dtype_policy, name="dropout")

    def build(self, token_ids_shape=None, segment_ids_shape=None):
        self.token_embedding.build(None)
        self.segment_embedding.build(None)
        self.position_embeddings = self.add_weight(
            shape=(self.max_sequence_length, self.hidden_dim),
            initializer=initializer(self.initializer_range),
            name="position_embeddings")
        self.layer_norm.build((None, None, self.hidden_dim))
        self.built = True

    def call(self, token_ids, segment_ids, training=None):
        seq_len = ops.shape(token_ids)[1]
        positions = ops.cast(self.position_embeddings[:seq_len], self.compute_dtype)
        x = self.token_embedding(token_ids) + self.segment_embedding(segment_ids) + positions[None]
        x = self.layer_norm(x)
        return self.dropout_layer(x, training=training)

    def compute_output_shape(self, token_ids_shape, segment_ids_shape=None):
        return tuple(token_ids_shape) + (self.hidden_dim,)

    def get_config(self):
        config = super().get_config()
        config.update(
            vocabulary_size=self.vocabulary_size,
            hidden_dim=self.hidden_dim,
            max_sequence_length=self.max_sequence_length,
            num_segments=self.num_segments,
            dropout=self.dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            initializer_range=self.initializer_range,
        )
        return config
