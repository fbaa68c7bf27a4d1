"""`BertMultipleChoice`: scores each (context, choice) pair and picks one choice (SWAG/RACE style)."""

import keras
import tensorflow as tf
from keras import ops

from keras_bert_kit.layers.activations import initializer
from keras_bert_kit.models.bert_backbone import cls_only
from keras_bert_kit.models.bert_task import BertTask
from keras_bert_kit.models.pretrained_io import load_pretrained_parts
from keras_bert_kit.models.serving_signature import TEXT_SPEC, ServingSignature
from keras_bert_kit.text.bert_preprocessor import BertPreprocessor


class BertMultipleChoice(BertTask):
    """One logit per choice from the pooled output of each packed `(context, choice)` pair.

    Inputs are token dicts of shape `[batch, num_choices, seq]`; the backbone runs on
    `[batch * num_choices, seq]`. Output: float32 logits `[batch, num_choices]`. With a
    preprocessor, raw inputs are `(contexts, choices)`: `contexts` `[batch]` strings and
    `choices` `[batch, num_choices]` strings; exports serve the same pair (`text`, `choices`).

    Args:
        backbone: a `BertBackbone`.
        num_choices: choices per example.
        preprocessor: optional `BertPreprocessor` (pair packing).
        dropout: dropout on the pooled output; default the backbone's.

    Example:
    >>> import numpy as np
    >>> model = BertMultipleChoice(BertBackbone.from_preset("bert_tiny_uncased"), num_choices=4)
    >>> ids = np.ones((2, 4, 8), "int32")
    >>> tuple(model({"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": ids}).shape)
    (2, 4)
    """

    task_name = "multiple-choice"
    preprocessor_cls = BertPreprocessor
    decoder = "choices"
    hf_architecture = "BertForMultipleChoice"
    hf_head_units = 1

    def __init__(self, backbone, num_choices, preprocessor=None, dropout=None, **kwargs):
        dropout = backbone.dropout if dropout is None else dropout

        # === Layers ===
        self.backbone = backbone
        self.preprocessor = self.adopt_preprocessor(preprocessor)
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

    # === Task contract ===

    def default_loss(self):
        """Cross-entropy over the choices."""
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def default_metrics(self):
        """Choice accuracy."""
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def serving_outputs(self, packed, text=None, text_pair=None):
        """Served outputs of packed `[batch, num_choices, seq]` inputs: `probabilities`
        `[batch, num_choices]` float32 (softmax over the choices) and `label_id` int32 (the
        picked choice)."""
        del text, text_pair
        logits = tf.cast(self(packed, training=False), tf.float32)
        probabilities = tf.nn.softmax(logits, axis=-1)
        return {"probabilities": probabilities,
                "label_id": tf.argmax(probabilities, axis=-1, output_type=tf.int32)}

    def serving_signatures(self, pad_to_multiple_of=8):
        """The base signatures, with `serving_default` taking `text` (the contexts, `[batch]`)
        and `choices` (`[batch, num_choices]` strings), and `token_ids` taking
        `[batch, num_choices, seq]` ids."""
        signatures = super().serving_signatures(pad_to_multiple_of)

        def serving_default(text, choices):
            return self.serving_outputs(self._pack_choices(text, choices))

        def token_ids(token_ids, segment_ids, padding_mask):
            return self.serving_outputs({"token_ids": token_ids, "segment_ids": segment_ids,
                                         "padding_mask": padding_mask})

        ids = tf.TensorSpec([None, self.num_choices, None], tf.int32)
        signatures["serving_default"] = ServingSignature(serving_default, {
            "text": TEXT_SPEC,
            "choices": tf.TensorSpec([None, self.num_choices], tf.string)})
        signatures["token_ids"] = ServingSignature(
            token_ids, {"token_ids": ids, "segment_ids": ids, "padding_mask": ids})
        return signatures

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

    @classmethod
    def from_pretrained(cls, path, num_choices=4, sequence_length=128, preprocessor="auto",
                        backbone_kwargs=None, *, head="auto", **kwargs):
        """A multiple-choice model on pretrained weights, with a preprocessor from the vocabulary.

        A `BertForMultipleChoice` checkpoint gives its one-logit head (`classifier.*`); any
        other gets a new head, said in a warning. Hugging Face checkpoints do not fix the number
        of choices; this model's graph does (`num_choices`).

        Args:
            path: a Hugging Face / Google BERT folder or file, or a `.keras` backbone or model
                holding one.
            num_choices: choices per example.
            sequence_length: packer length of the automatic preprocessor.
            preprocessor: `"auto"` (from `vocab.txt` beside the weights), a `BertPreprocessor`,
                or None.
            backbone_kwargs: passed to `BertBackbone.from_checkpoint` (e.g. `dtype`).
            head: `"auto"` (load the checkpoint's head when it has one) or `"new"`.
            **kwargs: passed to the constructor (`dropout`).
        """
        from keras_bert_kit.models.pretrained_heads import plan_head

        _, backbone, preprocessor, checkpoint = load_pretrained_parts(
            path, sequence_length, preprocessor, backbone_kwargs, cls.preprocessor_cls)
        plan = plan_head(cls, checkpoint, source=path, head=head)
        model = cls(backbone, num_choices=num_choices, preprocessor=preprocessor, **kwargs)
        plan.apply(model)
        return model
