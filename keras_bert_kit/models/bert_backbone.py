"""`BertBackbone`: the BERT encoder as a functional `keras.Model`, with checkpoint interop."""

import keras
from keras import ops

from keras_bert_kit.layers.attention import padding_mask_to_attention_bias
from keras_bert_kit.layers.bert_embeddings import BertEmbeddings
from keras_bert_kit.layers.gather import check_positions
from keras_bert_kit.layers.pooler import BertPooler
from keras_bert_kit.layers.transformer_encoder import TransformerEncoder
from keras_bert_kit.config import BertConfig


def cls_only(token_ids):
    """Empty `[batch, 0]` query positions: `backbone(inputs, query_positions=cls_only(ids))`
    computes the last block at [CLS] only, for models that read just `pooled_output`."""
    return ops.zeros_like(token_ids[:, :0])


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class BertBackbone(keras.Model):
    """BERT encoder: embeddings, `num_layers` transformer blocks and the pooler.

    Inputs are a dict of int tensors `token_ids`, `segment_ids`, `padding_mask`, each
    `[batch, seq]` (seq may change from call to call, up to `max_sequence_length`). Outputs are
    a dict: `sequence_output` `[batch, seq, hidden_dim]` and `pooled_output` `[batch, hidden_dim]`.

    Args:
        vocabulary_size: number of WordPiece ids.
        num_layers: transformer blocks.
        num_heads: attention heads per block.
        hidden_dim: model width.
        intermediate_dim: feed-forward width.
        hidden_act: feed-forward activation (`"gelu"` = exact erf GELU).
        dropout: embedding and residual dropout.
        attention_dropout: attention-probability dropout.
        max_sequence_length: number of learned positions.
        num_segments: segment (token type) vocabulary.
        layer_norm_epsilon: LayerNorm epsilon.
        initializer_range: stddev of the truncated-normal initializer.
        dtype: a dtype or `keras.DTypePolicy` (e.g. `"mixed_bfloat16"`); default: the global policy.
        attention_cls: the attention layer of every block (default `BertSelfAttention`); a
            registered Keras class taking `hidden_dim`, `num_heads`, `dropout`,
            `initializer_range` (see `TransformerEncoder`). Checkpoints load into it when it
            keeps `BertSelfAttention`'s weights (a subclass that changes the computation).
        attention_kwargs: extra constructor arguments of `attention_cls`.

    Example:
    >>> import numpy as np
    >>> backbone = BertBackbone.from_preset("bert_tiny_uncased")
    >>> ids = np.array([[101, 7592, 102, 0]])
    >>> out = backbone({"token_ids": ids, "segment_ids": np.zeros_like(ids),
    ...                 "padding_mask": (ids != 0).astype("int32")})
    >>> tuple(out["pooled_output"].shape)
    (1, 128)
    """

    def __init__(self, vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim,
                 hidden_act="gelu", dropout=0.1, attention_dropout=0.1, max_sequence_length=512,
                 num_segments=2, layer_norm_epsilon=1e-12, initializer_range=0.02, dtype=None,
                 attention_cls=None, attention_kwargs=None, **kwargs):
        # Validates the combination (heads divide width, known activation).
        BertConfig(vocabulary_size, num_layers, num_heads, hidden_dim, intermediate_dim, hidden_act,
                   dropout, attention_dropout, max_sequence_length, num_segments,
                   layer_norm_epsilon, initializer_range)

        attention = {} if attention_cls is None else {"attention_cls": attention_cls}
        if attention_kwargs:
            attention["attention_kwargs"] = dict(attention_kwargs)

        # === Layers ===
        self.embeddings = BertEmbeddings(
            vocabulary_size=vocabulary_size, hidden_dim=hidden_dim,
            max_sequence_length=max_sequence_length, num_segments=num_segments, dropout=dropout,
            layer_norm_epsilon=layer_norm_epsilon, initializer_range=initializer_range,
            dtype=dtype, name="embeddings")
        self.transformer_layers = [
            TransformerEncoder(
                hidden_dim=hidden_dim, num_heads=num_heads, intermediate_dim=intermediate_dim,
                activation=hidden_act, dropout=dropout, attention_dropout=attention_dropout,
                layer_norm_epsilon=layer_norm_epsilon, initializer_range=initializer_range,
                dtype=dtype, name=f"transformer_layer_{i}", **attention)
            for i in range(num_layers)
        ]
        self.pooler = BertPooler(hidden_dim, initializer_range=initializer_range, dtype=dtype,
                                 name="pooler")

        # === Functional model ===
        token_ids = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        segment_ids = keras.Input(shape=(None,), dtype="int32", name="segment_ids")
        padding_mask = keras.Input(shape=(None,), dtype="int32", name="padding_mask")
        bias = keras.layers.Lambda(padding_mask_to_attention_bias, name="attention_bias")(padding_mask)
        super().__init__(
            inputs={"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask},
            outputs=self._encode(token_ids, segment_ids, bias),
            dtype=dtype,
            **kwargs,
        )

        # === Config ===
        self.vocabulary_size = vocabulary_size
        self.num_layers = num_layers
        self.num_heads = num_heads
        self.hidden_dim = hidden_dim
        self.intermediate_dim = intermediate_dim
        self.hidden_act = hidden_act
        self.dropout = dropout
        self.attention_dropout = attention_dropout
        self.max_sequence_length = max_sequence_length
        self.num_segments = num_segments
        self.layer_norm_epsilon = layer_norm_epsilon
        self.initializer_range = initializer_range
        self.attention_cls = attention_cls
        self.attention_kwargs = dict(attention_kwargs) if attention_kwargs else None

    def call(self, inputs, training=None, mask=None, query_positions=None):
        """The functional graph; with `query_positions`, the last block only at those rows.

        Args:
            inputs: dict `token_ids`, `segment_ids`, `padding_mask` (`[batch, seq]`).
            query_positions: optional `[batch, q]` int positions. `sequence_output` is then
                `[batch, q, hidden]`, the rows at those positions, and `pooled_output` is
                unchanged; the last block computes its queries, feed-forward and LayerNorms at
                [CLS] and those `q` rows only (keys and values from every row). Used by
                `BertPretrainer` (the MLM head reads only the masked rows); equal to gathering
                the full `sequence_output`.
        """
        if query_positions is None:
            return super().call(inputs, training=training, mask=mask)
        bias = padding_mask_to_attention_bias(inputs["padding_mask"])
        return self._encode(inputs["token_ids"], inputs["segment_ids"], bias, query_positions,
                            training=training)

    def _encode(self, token_ids, segment_ids, bias, query_positions=None, training=None):
        """Embeddings → blocks → pooler: the functional graph (symbolic) and the
        `query_positions` path (called eagerly or traced) share this one wiring."""
        x = self.embeddings(token_ids, segment_ids, training=training)
        for layer in self.transformer_layers[:-1]:
            x = layer(x, attention_bias=bias, training=training)
        last = self.transformer_layers[-1]
        if query_positions is None:
            x = last(x, attention_bias=bias, training=training)
            return {"sequence_output": x, "pooled_output": self.pooler(x)}
        check_positions(query_positions, "query_positions")
        cls = ops.zeros((ops.shape(query_positions)[0], 1), "int32")
        rows = ops.concatenate([cls, ops.cast(query_positions, "int32")], axis=1)
        rows = last(x, attention_bias=bias, query_positions=rows, training=training)
        return {"sequence_output": rows[:, 1:], "pooled_output": self.pooler(rows)}

    def compute_output_spec(self, inputs, training=None, mask=None, query_positions=None):
        if query_positions is None:
            return super().compute_output_spec(inputs, training=training, mask=mask)
        check_positions(query_positions, "query_positions")
        batch = inputs["token_ids"].shape[0]
        dtype = self.embeddings.compute_dtype
        return {
            "sequence_output": keras.KerasTensor(
                (batch, query_positions.shape[1], self.hidden_dim), dtype=dtype),
            "pooled_output": keras.KerasTensor((batch, self.hidden_dim), dtype=dtype),
        }

    @property
    def token_embedding(self):
        """The word-embedding layer (the MLM head ties its output projection to it)."""
        return self.embeddings.token_embedding

    @property
    def bert_config(self):
        """This backbone's architecture as a `BertConfig`."""
        return BertConfig(**{f: getattr(self, f) for f in BertConfig.__dataclass_fields__})

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            # The layers' policy: a functional model's own `dtype_policy` ignores `dtype=`.
            "dtype": keras.saving.serialize_keras_object(self.embeddings.dtype_policy),
            **self.bert_config.to_dict(),
            **self._attention_config(),
        }

    def _attention_config(self):
        """The attention class by its registered name (None: the default; older files lack it)."""
        name = self.attention_cls
        if name is not None and not isinstance(name, str):
            name = keras.saving.get_registered_name(name)
        return {"attention_cls": name, "attention_kwargs": self.attention_kwargs}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        if isinstance(config.get("dtype"), dict):
            config["dtype"] = keras.saving.deserialize_keras_object(config["dtype"])
        return cls(**config)

    @classmethod
    def from_bert_config(cls, config, **kwargs):
        """Builds a randomly initialised backbone from a `BertConfig`; `kwargs` override its fields."""
        return cls(**{**config.to_dict(), **kwargs})

    @classmethod
    def from_preset(cls, name, **kwargs):
        """Builds a randomly initialised backbone with a named architecture (see `PRESETS`)."""
        return cls.from_bert_config(BertConfig.from_preset(name), **kwargs)

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        """Loads a Hugging Face BERT folder/file or a Google TF1 BERT checkpoint.

        Args:
            path: a folder with `config.json` and `model.safetensors`, `tf_model.h5` or
                `pytorch_model.bin`; a Google folder with `bert_config.json` and
                `bert_model.ckpt.*`; or one of those files directly.
            **kwargs: passed to the constructor (e.g. `dtype="mixed_bfloat16"`, `dropout=0.0`).
        """
        from keras_bert_kit.checkpoints import load_checkpoint

        return cls.from_checkpoint(load_checkpoint(path), **kwargs)

    @classmethod
    def from_checkpoint(cls, checkpoint, **kwargs):
        """A backbone with the weights of a `Checkpoint` (`checkpoints.load_checkpoint`)."""
        from keras_bert_kit.checkpoints.weight_mapping import assign_backbone_weights

        backbone = cls.from_bert_config(checkpoint.config, **kwargs)
        assign_backbone_weights(backbone, checkpoint)
        return backbone

    def save_pretrained(self, path, tokenizer=None):
        """Writes a Hugging Face `BertModel` folder: `config.json` + `model.safetensors`, and
        `vocab.txt` + `tokenizer_config.json` when a `BertTokenizer` is given."""
        from keras_bert_kit.checkpoints.hf_checkpoint import save_hf_folder, tokenizer_files
        from keras_bert_kit.checkpoints.weight_mapping import backbone_state_dict

        files = tokenizer_files(tokenizer, self.max_sequence_length) if tokenizer else None
        save_hf_folder(path, self.bert_config, backbone_state_dict(self), architecture="BertModel",
                       files=files)
