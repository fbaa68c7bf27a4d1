"""`TransformerEncoder`: one post-LayerNorm BERT block around a self-attention layer it is given."""

import keras

from keras_bert_kit.errors import UserError
from keras_bert_kit.layers import dropout_kernels
from keras_bert_kit.layers.activations import get_activation, initializer
from keras_bert_kit.layers.attention import BertSelfAttention
from keras_bert_kit.layers.fused_dense import inference_dense
from keras_bert_kit.layers.gather import gather_positions
from keras_bert_kit.layers.hash_dropout import HashDropout


def _attention_class(attention_cls):
    """`attention_cls` as a class: a class is kept, a registered name (from a config) looked up."""
    if isinstance(attention_cls, type):
        return attention_cls
    found = keras.saving.get_registered_object(attention_cls)
    if found is None:
        raise UserError(
            f"attention_cls={attention_cls!r} is not a registered Keras class: decorate the class "
            "with @keras.saving.register_keras_serializable(), or load with "
            f"custom_objects={{{attention_cls!r}: YourAttention}}")
    return found


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class TransformerEncoder(keras.layers.Layer):
    """Self-attention and feed-forward, each with residual dropout and post-LayerNorm.

    Matches Hugging Face `BertLayer` (exact erf GELU by default, LayerNorm after each residual)
    with the default `BertSelfAttention`. The attention is a layer the block builds from
    `attention_cls`, as Model Garden's `TransformerScaffold` does; the residuals, LayerNorms and
    feed-forward stay here.

    Args:
        hidden_dim: model width.
        num_heads: attention heads; must divide `hidden_dim`.
        intermediate_dim: feed-forward width.
        activation: feed-forward activation name (`"gelu"` = exact erf GELU).
        dropout: dropout on each residual branch.
        attention_dropout: dropout on the attention probabilities.
        layer_norm_epsilon: LayerNorm epsilon.
        initializer_range: stddev of the truncated-normal initializer.
        attention_cls: the attention layer class (or its registered name). The block builds
            `attention_cls(hidden_dim=, num_heads=, dropout=attention_dropout,
            initializer_range=, dtype=, name="attention", **attention_kwargs)` and calls it as
            `attention(inputs, padding_mask=, attention_bias=, query_positions=, training=)`;
            it returns `[batch, seq or q, hidden_dim]` (see `BertSelfAttention`). Register the
            class (`keras.saving.register_keras_serializable`) so that `.keras` files rebuild it.
        attention_kwargs: extra (or overriding) constructor arguments for `attention_cls`.

    Call args:
        inputs: `[batch, seq, hidden_dim]` float tensor.
        padding_mask: optional `[batch, seq]` tensor, 1 for tokens and 0 for padding.
        attention_bias: optional precomputed float32 bias `[batch, 1, 1, seq]` (from
            `attention.padding_mask_to_attention_bias(padding_mask)`), so a stack of blocks
            computes it once.
        query_positions: optional `[batch, q]` int positions: the block then computes its output
            only at those positions (`[batch, q, hidden_dim]`), attending over the whole sequence.
            Keys and values still come from every position; the query projection, attention
            output, feed-forward and LayerNorms run on `q` rows. `BertPretrainer` runs its last
            block this way at [CLS] and the masked positions, the only rows its heads read.

    Example:
    >>> block = TransformerEncoder(hidden_dim=16, num_heads=2, intermediate_dim=32)
    >>> x = np.random.default_rng(0).normal(size=(2, 5, 16)).astype("float32")
    >>> y = block(x, padding_mask=np.ones((2, 5), "int32"))
    >>> tuple(y.shape), type(block.attention).__name__
    ((2, 5, 16), 'BertSelfAttention')
    >>> bool(np.allclose(np.mean(y, axis=-1), 0.0, atol=1e-5))  # post-LayerNorm rows
    True
    """

    def __init__(self, hidden_dim, num_heads, intermediate_dim, activation="gelu", dropout=0.1,
                 attention_dropout=0.1, layer_norm_epsilon=1e-12, initializer_range=0.02,
                 attention_cls=BertSelfAttention, attention_kwargs=None, **kwargs):
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
        self.attention_cls = _attention_class(attention_cls)
        self.attention_kwargs = None if attention_kwargs is None else dict(attention_kwargs)
        self._activation_fn = get_activation(activation)

        def dense(units, name):
            return keras.layers.Dense(units, kernel_initializer=initializer(initializer_range),
                                      dtype=self.dtype_policy, name=name)

        def layer_norm(name):
            return keras.layers.LayerNormalization(epsilon=layer_norm_epsilon,
                                                   dtype=self.dtype_policy, name=name)

        # The attention is created first, so the variables keep the order earlier releases had
        # (optimizer slots and the saved dropout seed states, `training/resume.py`, match
        # variables by position).
        self.attention = self.attention_cls(**{
            "hidden_dim": hidden_dim, "num_heads": num_heads, "dropout": attention_dropout,
            "initializer_range": initializer_range, "dtype": self.dtype_policy,
            "name": "attention", **(self.attention_kwargs or {})})
        self.attention_layer_norm = layer_norm("attention_layer_norm")
        self.intermediate_dense = dense(intermediate_dim, "intermediate")
        self.output_dense = dense(hidden_dim, "output")
        self.output_layer_norm = layer_norm("output_layer_norm")
        self.residual_dropout_layer = HashDropout(dropout, dtype=self.dtype_policy,
                                                  name="residual_dropout")

    # Files written before attention was its own layer (`tests/fixtures/encoder_v1/`) hold the
    # attention projections at this level (`transformer_encoder_1/qkv_dense/vars/0`); files
    # written now hold them under `attention/`. Keras' loader walks a layer's attributes in name
    # order and retries an object that failed to load under one attribute under the next one that
    # reaches it, so these two read-only aliases let old files load. Saving writes each layer
    # once, under the first attribute that reaches it: `attention`, which sorts before both.
    @property
    def qkv_dense(self):
        """The attention's fused Q/K/V `Dense`, under the name older `.keras` files use."""
        return getattr(self.attention, "qkv_dense", None)

    @property
    def attention_output_dense(self):
        """The attention's output `Dense`, under the name older `.keras` files use."""
        return getattr(self.attention, "output_dense", None)

    def build(self, inputs_shape, padding_mask_shape=None, attention_bias_shape=None,
              query_positions_shape=None):
        hidden = (None, None, self.hidden_dim)
        self.attention.build(hidden)
        self.attention_layer_norm.build(hidden)
        self.intermediate_dense.build(hidden)
        self.output_dense.build((None, None, self.intermediate_dim))
        self.output_layer_norm.build(hidden)
        self.built = True

    def call(self, inputs, padding_mask=None, attention_bias=None, query_positions=None,
             training=None):
        if query_positions is None:
            residual = inputs
        else:
            residual = gather_positions(inputs, query_positions)
        attended = self.attention(inputs, padding_mask=padding_mask, attention_bias=attention_bias,
                                  query_positions=query_positions, training=training)
        # Training outside XLA: each elementwise chain is one fused kernel forward and one
        # backward (`dropout_kernels`; under jit_compile XLA fuses the plain ops by itself).
        fused = dropout_kernels.use_fused(training)
        x = self._add_norm(self.attention_layer_norm, attended, residual, training, fused)
        if not training:
            # Inference: matmul, bias and GELU as one fused kernel (`fused_dense`).
            gelu = self.activation == "gelu"
            intermediate = inference_dense(self.intermediate_dense, x, gelu=gelu)
            if not gelu:
                intermediate = self._activation_fn(intermediate)
            output = inference_dense(self.output_dense, intermediate)
            return self._add_norm(self.output_layer_norm, output, x, training, fused)
        intermediate = self.intermediate_dense(x)
        if fused and self.activation == "gelu":
            intermediate = dropout_kernels.gelu_exact(intermediate)
        else:
            intermediate = self._activation_fn(intermediate)
        return self._add_norm(self.output_layer_norm, self.output_dense(intermediate), x, training,
                              fused)

    def _add_norm(self, layer_norm, branch, residual, training, fused):
        """`layer_norm(residual + dropout(branch))`; with `fused`, one kernel each way."""
        if not fused:
            return layer_norm(residual + self.residual_dropout_layer(branch, training=training))
        return dropout_kernels.dropout_add_layer_norm(
            branch, residual, layer_norm.gamma, layer_norm.beta, self.layer_norm_epsilon,
            self.residual_dropout_layer.next_seed(training), self.dropout)

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
            attention_cls=keras.saving.get_registered_name(self.attention_cls),
            # A plain dict: Keras tracks dict attributes of a layer in its own dict type.
            attention_kwargs=None if self.attention_kwargs is None else dict(self.attention_kwargs),
        )
        return config
