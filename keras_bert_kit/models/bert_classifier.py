"""`BertClassifier`: sentence / sentence-pair classification, multi-label and regression on BERT."""


import keras

from keras_bert_kit.layers.activations import initializer
from keras_bert_kit.layers.mean_pooling import MeanPooling
from keras_bert_kit.models.bert_task import BertTask, load_pretrained_parts

PROBLEM_TYPES = ("classification", "multilabel", "regression")
POOLING = ("pooled", "mean")


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class BertClassifier(BertTask):
    """A dense head on the pooled output, for single texts or text pairs.

    Outputs float32 logits `[batch, num_classes]` (float32 under mixed precision too). With
    `problem_type="multilabel"` each class is an independent sigmoid; with `"regression"`
    (`num_classes=1`) the output is the predicted value.

    Args:
        backbone: a `BertBackbone`.
        num_classes: output units.
        preprocessor: optional `BertPreprocessor`; then fit/evaluate/predict take raw strings.
        problem_type: `"classification"`, `"multilabel"` or `"regression"`.
        dropout: dropout on the pooled output; default the backbone's dropout.
        label_vocabulary: optional class names (index = class id), stored with the model and
            used by exports to return label strings.
        text_inputs: 1 for single texts, 2 for pairs (`(texts_a, texts_b)`).
        pooling: `"pooled"` (BERT's `[CLS]` pooler, as Hugging Face's
            `BertForSequenceClassification`) or `"mean"` (mean of the valid token vectors, the
            embedding sentence-transformers checkpoints such as all-MiniLM-L6-v2 are trained for).

    Example:
    >>> import numpy as np
    >>> backbone = BertBackbone.from_preset("bert_tiny_uncased")
    >>> classifier = BertClassifier(backbone, num_classes=3)
    >>> ids = np.array([[101, 7592, 102]])
    >>> classifier.predict({"token_ids": ids, "segment_ids": 0 * ids,
    ...                     "padding_mask": 1 + 0 * ids}, verbose=0).shape
    (1, 3)
    """

    def __init__(self, backbone, num_classes=2, preprocessor=None, problem_type="classification",
                 dropout=None, label_vocabulary=None, text_inputs=1, pooling="pooled", **kwargs):
        if pooling not in POOLING:
            raise ValueError(f"pooling={pooling!r}: expected one of {POOLING}")
        if problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type={problem_type!r}: expected one of {PROBLEM_TYPES}")
        if label_vocabulary is not None and len(label_vocabulary) != num_classes:
            raise ValueError(f"label_vocabulary has {len(label_vocabulary)} labels but "
                             f"num_classes={num_classes}")
        dropout = backbone.dropout if dropout is None else dropout

        # === Layers ===
        self.backbone = backbone
        self.preprocessor = preprocessor
        self.output_dropout = keras.layers.Dropout(dropout, name="output_dropout")
        self.output_dense = keras.layers.Dense(
            num_classes, kernel_initializer=initializer(backbone.initializer_range),
            dtype="float32", name="logits")

        # === Functional model ===
        inputs = dict(backbone.input)
        encoded = backbone(inputs)
        if pooling == "mean":
            pooled = MeanPooling(name="mean_pooling")(encoded["sequence_output"], inputs["padding_mask"])
        else:
            pooled = encoded["pooled_output"]
        logits = self.output_dense(self.output_dropout(pooled))
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.problem_type = problem_type
        self.dropout = dropout
        self.label_vocabulary = list(label_vocabulary) if label_vocabulary is not None else None
        self.text_inputs = text_inputs
        self.pooling = pooling

    def compile(self, optimizer="adamw", loss=None, metrics=None, **kwargs):
        """`keras.Model.compile` with the loss and metric of the problem type as defaults."""
        if loss is None:
            loss = {
                "classification": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                "multilabel": keras.losses.BinaryCrossentropy(from_logits=True),
                "regression": keras.losses.MeanSquaredError(),
            }[self.problem_type]
        if metrics is None:
            metrics = {
                "classification": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
                "multilabel": [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)],
                "regression": [keras.metrics.MeanAbsoluteError(name="mae")],
            }[self.problem_type]
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics, **kwargs)

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_classes": self.num_classes,
            "preprocessor": self._serialize_preprocessor(),
            "problem_type": self.problem_type,
            "dropout": self.dropout,
            "label_vocabulary": self.label_vocabulary,
            "text_inputs": self.text_inputs,
            "pooling": self.pooling,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**cls._deserialize_common(config))

    @classmethod
    def from_pretrained(cls, path, num_classes=2, sequence_length=128, preprocessor="auto",
                        backbone_kwargs=None, **kwargs):
        """A classifier on pretrained weights, with a preprocessor from the folder's vocabulary.

        Args:
            path: a Hugging Face / Google BERT folder or file, or our `.keras` backbone or
                classifier file.
            num_classes: output units.
            sequence_length: packer length for the automatic preprocessor.
            preprocessor: `"auto"` (built from `vocab.txt` beside the weights when present),
                a `BertPreprocessor`, or None.
            backbone_kwargs: passed to `BertBackbone.from_pretrained` (e.g. `dtype`).
            **kwargs: passed to the constructor.
        """
        loaded, backbone, preprocessor = load_pretrained_parts(path, sequence_length, preprocessor,
                                                               backbone_kwargs)
        if isinstance(loaded, cls):
            return loaded
        return cls(backbone, num_classes=num_classes, preprocessor=preprocessor, **kwargs)
