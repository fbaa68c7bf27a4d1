"""`TransformerEncoder`: one post-LayerNorm BERT block with a fused query/key/value projection."""

import keras
from keras import ops

from keras_bert_kit.layers import fused_ops
from keras_bert_kit.layers.activations import get_activation, initializer
from keras_bert_kit.layers.gather import gather_positions
from keras_bert_kit.layers.hash_dropout import HashDropout

# Added to the attention scores of padded keys. exp(-1e4) is 0 in float32 (where the softmax
# runs), the value survives a cast to float16, and a fully padded row stays finite.
_MASKED_SCORE = -1e4


def padding_mask_to_attention_bias(padding_mask):
    """[batch, seq] padding mask (1 = token) → additive float32 bias [batch, 1, 1, seq]."""
    mask = ops.cast(padding_mask, "float32")
    return ((1.0 - mask) * _MASKED_SCORE)[:, None, None, :]


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class TransformerEncoder(keras.layers.Layer):
    """Multi-head self-attention and feed-forward, each with residual dropout and post-LayerNorm.

    Matches Hugging Face `BertLayer` (exact erf GELU by default, LayerNorm after each residual).
    Query, key and value come from one fused `[hidden, 3 * hidden]` projection.

    Args:
        hidden_dim: model width.
        num_heads: attention heads; must divide `hidden_dim`.
        intermediate_dim: feed-forward width.
        activation: feed-forward activation name (`"gelu"` = exact erf GELU).
        dropout: dropout on each residual branch.
        attention_dropout: dropout on the attention probabilities.
        layer_norm_epsilon: LayerNorm epsilon.
        initializer_range: stddev of the truncated-normal initializer.

    Call args:
        inputs: `[batch, seq, hidden_dim]` float tensor.
        padding_mask: optional `[batch, seq]` tensor, 1 for tokens and 0 for padding.
        attention_bias: optional precomputed float32 bias `[batch, 1, 1, seq]` (from
            `padding_mask_to_attention_bias(padding_mask)`), so a stack of blocks computes it once.
        query_positions: optional `[batch, q]` int positions: the block then computes its output
            only at those positions (`[batch, q, hidden_dim]`), attending over the whole sequence.
            Keys and values still come from every position; the query projection, attention
            output, feed-forward and LayerNorms run on `q` rows. `BertPretrainer` runs its last
            block this way at [CLS] and the masked positions, the only rows its heads read.

    Example:
    >>> import numpy as np
    >>> block = TransformerEncoder(hidden_dim=16, num_heads=2, intermediate_dim=32)
    >>> block(np.zeros((2, 5, 16), "float32"), padding_mask=np.ones((2, 5), "int32")).shape
    (2, 5, 16)
    """

    def __init__(self, hidden_dim, num_heads, intermediate_dim, activation="gelu", dropout=0.1,
                 attention_dropout=0.1, layer_norm_epsilon=1e-12, initializer_range=0.02, **kwargs):
        super().__init__(**kwargs)
        if hidden_dim % num_heads:
            raise ValueError(f"hidden_dim={hidden_dim} is not divisible by num_heads={num_heads}")
        self.hidden_dim = hidden_dim
        self.num_heads = num_heads
        self.intermediate_dim = intermediate_dim
        self.activation = activation
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.head_dim = hidden_dim // num_heads
        self._activation_fn = get_activation(activation)

        def dense(units, name):
            return keras.layers.Dense(units, kernel_initializer=initializer(initializer_range),
                                      dtype=self.dtype_policy, name=name)

        def layer_norm(name):
            return keras.layers.LayerNormalization(epsilon=layer_norm_epsilon,
                                                   dtype=self.dtype_policy, name=name)

        self.qkv_dense = dense(3 * hidden_dim, "qkv")
        self.attention_output_dense = dense(hidden_dim, "attention_output")
        self.attention_layer_norm = layer_norm("attention_layer_norm")
        self.intermediate_dense = dense(intermediate_dim, "intermediate")
        self.output_dense = dense(hidden_dim, "output")
        self.output_layer_norm = layer_norm("output_layer_norm")
        self.attention_dropout_layer = HashDropout(attention_dropout, dtype=self.dtype_policy,
                                                   name="attention_dropout")
        self.residual_dropout_layer = HashDropout(dropout, dtype=self.dtype_policy,
                                                  name="residual_dropout")

    def build(self, inputs_shape, padding_mask_shape=None, attention_bias_shape=None,
              query_positions_shape=None):
        hidden = (None, None, self.hidden_dim)
        self.qkv_dense.build(hidden)
        self.attention_output_dense.build(hidden)
        self.attention_layer_norm.build(hidden)
        self.intermediate_dense.build(hidden)
        self.output_dense.build((None, None, self.intermediate_dim))
        self.output_layer_norm.build(hidden)
        self.built = True

    def call(self, inputs, padding_mask=None, attention_bias=None, query_positions=None,
             training=None):
        batch, seq_len = ops.shape(inputs)[0], ops.shape(inputs)[1]
        heads = (self.num_heads, self.head_dim)
        if query_positions is None:
            residual, query_len = inputs, seq_len
            # A split along the last axis (gradient: one concat) rather than slicing a
            # [batch, seq, 3, heads, head_dim] view (gradient: three zero-padded copies summed).
            # Outside XLA (bfloat16 on CPU) 3.8 vs 27.8 ms fwd+bwd at BERT-base b8 s128; under
            # XLA 4.3 vs 3.7 ms, ≈ 0.2 % of a step (`bench/probe_xla_cpu.py`).
            query, key, value = ops.split(self.qkv_dense(inputs), 3, axis=-1)
        else:
            residual = gather_positions(inputs, query_positions)
            query_len = ops.shape(query_positions)[1]
            query, key, value = self._project_rows(residual, inputs)
        query = ops.reshape(query, (batch, query_len) + heads)
        key = ops.reshape(key, (batch, seq_len) + heads)
        value = ops.reshape(value, (batch, seq_len) + heads)
        query = query * ops.cast(self.head_dim ** -0.5, query.dtype)

        scores = ops.einsum("bqhd,bkhd->bhqk", query, key)
        if attention_bias is None and padding_mask is not None:
            attention_bias = padding_mask_to_attention_bias(padding_mask)
        fused = fused_ops.use_fused(training)
        if fused:
            # Training outside XLA: each elementwise chain is one fused kernel forward and one
            # backward (`fused_ops`; under jit_compile XLA fuses the plain ops by itself).
            probs = fused_ops.softmax_dropout(
                scores, attention_bias, self.compute_dtype,
                self.attention_dropout_layer.next_seed(training), self.attention_dropout)
        else:
            scores = ops.cast(scores, "float32")
            if attention_bias is not None:
                scores = scores + ops.cast(attention_bias, "float32")
            probs = ops.cast(ops.softmax(scores, axis=-1), self.compute_dtype)
            probs = self.attention_dropout_layer(probs, training=training)
        context = ops.einsum("bhqk,bkhd->bqhd", probs, value)
        context = ops.reshape(context, (batch, query_len, self.hidden_dim))

        attended = self.attention_output_dense(context)
        x = self._add_norm(self.attention_layer_norm, attended, residual, training, fused)
        intermediate = self.intermediate_dense(x)
        if fused and self.activation == "gelu":
            intermediate = fused_ops.gelu_exact(intermediate)
        else:
            intermediate = self._activation_fn(intermediate)
        return self._add_norm(self.output_layer_norm, self.output_dense(intermediate), x, training,
                              fused)

    def _add_norm(self, layer_norm, branch, residual, training, fused):
        """`layer_norm(residual + dropout(branch))`; with `fused`, one kernel each way."""
        if not fused:
            return layer_norm(residual + self.residual_dropout_layer(branch, training=training))
        return fused_ops.dropout_add_layer_norm(
            branch, residual, layer_norm.gamma, layer_norm.beta, self.layer_norm_epsilon,
            self.residual_dropout_layer.next_seed(training), self.dropout)

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

    def compute_output_shape(self, inputs_shape, padding_mask_shape=None, attention_bias_shape=None,
                             query_positions_shape=None):
        if query_positions_shape is None:
            return inputs_shape
        return (inputs_shape[0], query_positions_shape[1], self.hidden_dim)

    def get_config(self):
        config = super().get_config()
        config.update(
            hidden_dim=self.hidden_dim,
            num_heads=self.num_heads,
            intermediate_dim=self.intermediate_dim,
            activation=self.activation,
            dropout=self.dropout,
            attention_dropout=self.attention_dropout,
            layer_norm_epsilon=self.layer_norm_epsilon,
            initializer_range=self.initializer_range,
        )
        return config
