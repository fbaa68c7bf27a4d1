"""`BertSelfAttention`: BERT's multi-head self-attention, from the Q/K/V projection to the output
projection. The residual, dropout and LayerNorm around it belong to `TransformerEncoder`."""

import keras
from keras import ops

from keras_bert_kit.layers import dropout_kernels
from keras_bert_kit.layers.activations import initializer
from keras_bert_kit.layers.fused_dense import inference_dense
from keras_bert_kit.layers.gather import gather_positions
from keras_bert_kit.layers.hash_dropout import HashDropout

# Added to the attention scores of padded keys. exp(-1e4) is 0 in float32 (where the softmax
# runs), the value survives a cast to float16, and a fully padded row stays finite.
_MASKED_SCORE = -1e4


def padding_mask_to_attention_bias(padding_mask):
    """[batch, seq] padding mask (1 = token) → additive float32 bias [batch, 1, 1, seq].

    Example:
    >>> padding_mask_to_attention_bias(np.array([[1, 1, 0]])).numpy().tolist()
    [[[[0.0, 0.0, -10000.0]]]]
    """
    mask = ops.cast(padding_mask, "float32")
    return ((1.0 - mask) * _MASKED_SCORE)[:, None, None, :]


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class BertSelfAttention(keras.layers.Layer):
    """BERT's multi-head self-attention: Q/K/V projection, scaled dot-product, output projection.

    Query, key and value come from one fused `[hidden, 3 * hidden]` projection (`qkv_dense`); the
    scores get the padding bias and a float32 softmax, the probabilities dropout, and the heads'
    context goes through `output_dense`. Training outside XLA takes the fused softmax + dropout
    kernel (`dropout_kernels`); under `jit_compile` XLA fuses the plain ops itself.
    `TransformerEncoder` builds one by default (`attention_cls`); a replacement takes the same
    constructor and call arguments. A variant that changes only how the scores become
    probabilities can subclass this layer and override `_probabilities(scores, attention_bias,
    training)` (`tests/layers/test_attention.py` scales the scores that way).

    Args:
        hidden_dim: model width (queries, keys, values and output).
        num_heads: attention heads; must divide `hidden_dim`.
        dropout: dropout on the attention probabilities.
        initializer_range: stddev of the truncated-normal initializer.
        **kwargs: base `keras.layers.Layer` arguments (`name`, `dtype`, ...).

    Call args:
        inputs: `[batch, seq, hidden_dim]` float tensor.
        padding_mask: optional `[batch, seq]` tensor, 1 for tokens and 0 for padding; used when
            `attention_bias` is not given.
        attention_bias: optional additive float bias `[batch, 1, 1, seq]`
            (`padding_mask_to_attention_bias`), so a stack of blocks computes it once.
        query_positions: optional `[batch, q]` int positions: only those rows are queried, so the
            output is `[batch, q, hidden_dim]`. Keys and values still come from every position.
        training: whether dropout is on.

    Example:
    >>> attention = BertSelfAttention(hidden_dim=16, num_heads=2)
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 16)).astype("float32")
    >>> mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]])
    >>> full = np.asarray(attention(x, padding_mask=mask))
    >>> full.shape
    (2, 5, 16)
    >>> positions = np.array([[0, 4], [0, 2]])  # query only these rows
    >>> rows = attention(x, padding_mask=mask, query_positions=positions)
    >>> bool(np.allclose(rows, np.take_along_axis(full, positions[..., None], 1), atol=1e-6))
    True
    """

    def __init__(self, hidden_dim, num_heads, dropout=0.1, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim={hidden_dim} is not divisible by num_heads={num_heads}")
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.dropout = dropout
        self.initializer_range = initializer_range
        self.head_dim = hidden_dim // num_heads

        self.qkv_dense = keras.layers.Dense(
            3 * hidden_dim, kernel_initializer=initializer(initializer_range),
            dtype=self.dtype_policy, name="qkv")
        self.output_dense = keras.layers.Dense(
            hidden_dim, kernel_initializer=initializer(initializer_range),
            dtype=self.dtype_policy, name="attention_output")
        self.dropout_layer = HashDropout(dropout, dtype=self.dtype_policy,
                                         name="attention_dropout")

    def build(self, inputs_shape=None, padding_mask_shape=None, attention_bias_shape=None,
              query_positions_shape=None):
        self.qkv_dense.build((None, None, self.hidden_dim))
        self.output_dense.build((None, None, self.hidden_dim))
        self.built = True

    def call(self, inputs, padding_mask=None, attention_bias=None, query_positions=None,
             training=None):
        batch, seq_len = ops.shape(inputs)[0], ops.shape(inputs)[1]
        if query_positions is None:
            query_len = seq_len
            # A split along the last axis (gradient: one concat) rather than slicing a
            # [batch, seq, 3, heads, head_dim] view (gradient: three zero-padded copies summed);
            # outside XLA the split is much faster (`bench/probe_xla_cpu.py`, QKV split).
            projected = (inference_dense(self.qkv_dense, inputs) if not training
                         else self.qkv_dense(inputs))
            query, key, value = ops.split(projected, 3, axis=-1)
        else:
            query_len = ops.shape(query_positions)[1]
            query, key, value = self._project_rows(gather_positions(inputs, query_positions),
                                                   inputs)
        heads = (self.num_heads, self.head_dim)
        query = ops.reshape(query, (batch, query_len) + heads)
        key = ops.reshape(key, (batch, seq_len) + heads)
        value = ops.reshape(value, (batch, seq_len) + heads)
        query = query * ops.cast(self.head_dim ** -0.5, query.dtype)

        scores = ops.einsum("bqhd,bkhd->bhqk", query, key)
        if attention_bias is None and padding_mask is not None:
            attention_bias = padding_mask_to_attention_bias(padding_mask)
        probs = self._probabilities(scores, attention_bias, training)
        context = ops.einsum("bhqk,bkhd->bqhd", probs, value)
        context = ops.reshape(context, (batch, query_len, self.hidden_dim))
        if not training:
            return inference_dense(self.output_dense, context)
        return self.output_dense(context)

    def _probabilities(self, scores, attention_bias, training):
        """`dropout(softmax(scores + bias))`, the softmax in float32, out in the compute dtype."""
        if dropout_kernels.use_fused(training):
            # Training outside XLA: one fused kernel forward and one backward.
            return dropout_kernels.softmax_dropout(
                scores, attention_bias, self.compute_dtype,
                self.dropout_layer.next_seed(training), self.dropout)
        scores = ops.cast(scores, "float32")
        if attention_bias is not None:
            scores = scores + ops.cast(attention_bias, "float32")
        probs = ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype)
        return self.dropout_layer(probs, training=training)

    def _project_rows(self, query_rows, inputs):
        """Query from `query_rows`, key and value from every row of `inputs`, with the fused kernel.

        The fused `[hidden, 3 * hidden]` kernel is sliced, so each projection multiplies only the
        rows it needs (a quantized `qkv` layer keeps its own call and projects both in full).
        """
        d = self.hidden_dim
        if getattr(self.qkv_dense, "quantization_mode", None) is not None:
            query = self.qkv_dense(query_rows)[..., :d]
            key_value = self.qkv_dense(inputs)[..., d:]
        else:
            kernel = ops.cast(self.qkv_dense.kernel, self.compute_dtype)
            bias = ops.cast(self.qkv_dense.bias, self.compute_dtype)
            query = ops.matmul(query_rows, kernel[:, :d]) + bias[:d]
            key_value = ops.matmul(inputs, kernel[:, d:]) + bias[d:]
        key, value = ops.split(key_value, 2, axis=-1)
        return query, key, value

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None,
                             attention_bias_shape=None, query_positions_shape=None):
        if query_positions_shape is None:
            return inputs_shape
        return (inputs_shape[0], query_positions_shape[1], self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            dropout=self.dropout,
            initializer_range=self.initializer_range,
        )
        return config
