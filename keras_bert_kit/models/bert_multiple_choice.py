"""`BertMultipleChoice`: scores each (context, choice) pair and picks one choice (SWAG/RACE style)."""

import keras
from keras import ops

from keras_bert_kit.layers.activations import initializer
from keras_bert_kit.models.bert_backbone import cls_only
from keras_bert_kit.models.bert_task import BertTask


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class BertMultipleChoice(BertTask):
    """One logit per choice from the pooled output of each packed `(context, choice)` pair.

    Inputs are token dicts of shape `[batch, num_choices, seq]`; the backbone runs on
    `[batch * num_choices, seq]`. Output: float32 logits `[batch, num_choices]`. With a
    preprocessor, raw inputs are `(contexts, choices)`: `contexts` `[batch]` strings and
    `choices` `[batch, num_choices]` strings.

    Args:
        backbone: a `BertBackbone`.
        num_choices: choices per example.
        preprocessor: optional `BertPreprocessor` (pair packing).
        dropout: dropout on the pooled output; default the backbone's.

    Example:
    >>> import numpy as np
    >>> model = BertMultipleChoice(BertBackbone.from_preset("bert_tiny_uncased"), num_choices=4)
    >>> ids = np.ones((2, 4, 8), "int32")
    >>> model({"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": ids}).shape
    (2, 4)
    """

    def __init__(self, backbone, num_choices, preprocessor=None, dropout=None, **kwargs):
        dropout = backbone.dropout if dropout is None else dropout

        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.output_dropout = keras.layers.Dropout(dropout, name="output_dropout")
        self.output_dense = keras.layers.Dense(
            1, kernel_initializer=initializer(backbone.initializer_range), dtype="float32",
            name="choice_logit")

        # === Functional model ===
        names = ("token_ids", "segment_ids", "padding_mask")
        inputs = {n: keras.Input(shape=(num_choices, None), dtype="int32", name=n) for n in names}
        merge = keras.layers.Lambda(lambda t: ops.reshape(t, (-1, ops.shape(t)[-1])),
                                    name="merge_choices")
        merged = {n: merge(inputs[n]) for n in names}
        # Only [CLS] feeds the pooler: the last block runs at that row alone.
        pooled = backbone(merged, query_positions=cls_only(merged["token_ids"]))["pooled_output"]
        logits = self.output_dense(self.output_dropout(pooled))
        logits = keras.layers.Lambda(lambda t: ops.reshape(t, (-1, num_choices)),
                                     name="split_choices")(logits)
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self.num_choices = num_choices
        self.dropout = dropout

    def _packing_fn(self, spec):
        if not isinstance(spec, tuple) or len(spec) < 2:
            return None
        first = spec[0]
        if not (isinstance(first, tuple) and len(first) == 2
                and all(getattr(s, "dtype", None) == "string" for s in first)):
            return None
        return lambda features, *rest: (self._pack_choices(*features), *rest) if rest else \
            self._pack_choices(*features)

    def _pack_choices(self, contexts, choices):
        batch = ops.shape(choices)[0]
        repeated = ops.reshape(ops.repeat(contexts[:, None], self.num_choices, axis=1), (-1,))
        packed = self.preprocessor((repeated, ops.reshape(choices, (-1,))))
        return {k: ops.reshape(v, (batch, self.num_choices, -1)) for k, v in packed.items()}

    def compile(self, optimizer="adamw", loss=None, metrics=None, **kwargs):
        """`keras.Model.compile` with choice cross-entropy and accuracy as defaults."""
        loss = loss or keras.losses.SparseCategoricalCrossentropy(from_logits=True)
        metrics = metrics or [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_choices": self.num_choices,
            "preprocessor": self._serialize_preprocessor(),
            "dropout": self.dropout,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**cls._deserialize_common(config))
