"""`BertClassifier`: sentence / sentence-pair classification, multi-label and regression on BERT."""


import keras
import numpy as np
import tensorflow as tf

from keras_bert_kit.errors import UserError
from keras_bert_kit.layers.activations import initializer
from keras_bert_kit.layers.mean_pooling import MeanPooling
from keras_bert_kit.models.bert_backbone import cls_only
from keras_bert_kit.models.bert_task import BertTask
from keras_bert_kit.models.pretrained_io import load_pretrained_parts
from keras_bert_kit.text.bert_preprocessor import BertPreprocessor, trim_padding
from keras_bert_kit.text.raw_text import text_array

PROBLEM_TYPES = ("classification", "multilabel", "regression")
POOLING = ("pooled", "mean")
WINDOW_AGGREGATIONS = ("mean", "max")


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
            served as the `label` output of exports.
        text_inputs: 1 for single texts, 2 for pairs (`(texts_a, texts_b)`).
        pooling: `"pooled"` (BERT's `[CLS]` pooler, as Hugging Face's
            `BertForSequenceClassification`) or `"mean"` (mean of the valid token vectors, the
            embedding sentence-transformers checkpoints such as all-MiniLM-L6-v2 are trained for;
            the backbone's unused pooler is then set `trainable=False`).
        window_stride: None (texts longer than the preprocessor's `sequence_length` are
            truncated) or the token stride of sliding windows: `predict` on raw texts and exports
            then classify every window of a long text and aggregate the window logits (single
            texts only; training still sees the truncated texts).
        window_aggregation: `"mean"` or `"max"` of the window logits.
        max_windows: at most this many windows per text, the first ones (default 32: with
            `sequence_length=128` and stride 64 the first ~2,100 tokens; the cap bounds the work
            one huge input can cause in a served model). None: all windows.

    Example:
    >>> import numpy as np
    >>> backbone = BertBackbone.from_preset("bert_tiny_uncased")
    >>> classifier = BertClassifier(backbone, num_classes=3)
    >>> ids = np.array([[101, 7592, 102]])
    >>> classifier.predict({"token_ids": ids, "segment_ids": 0 * ids,
    ...                     "padding_mask": 1 + 0 * ids}, verbose=0).shape
    (1, 3)
    """

    task_name = "classify"
    preprocessor_cls = BertPreprocessor
    decoder = "classes"
    trims_served_padding = True
    hf_architecture = "BertForSequenceClassification"

    def __init__(self, backbone, num_classes=2, preprocessor=None, problem_type="classification",
                 dropout=None, label_vocabulary=None, text_inputs=1, pooling="pooled",
                 window_stride=None, window_aggregation="mean", max_windows=32, **kwargs):
        if pooling not in POOLING:
            raise ValueError(f"pooling={pooling!r}: expected one of {POOLING}")
        if problem_type not in PROBLEM_TYPES:
            raise ValueError(f"problem_type={problem_type!r}: expected one of {PROBLEM_TYPES}")
        if label_vocabulary is not None and len(label_vocabulary) != num_classes:
            raise ValueError(f"label_vocabulary has {len(label_vocabulary)} labels but "
                             f"num_classes={num_classes}")
        if window_aggregation not in WINDOW_AGGREGATIONS:
            raise ValueError(f"window_aggregation={window_aggregation!r}: expected one of "
                             f"{WINDOW_AGGREGATIONS}")
        if window_stride is not None:
            if text_inputs != 1:
                raise ValueError("window_stride applies to single texts; pair classifiers "
                                 "truncate with the longest_first rule")
            if preprocessor is not None:
                width = preprocessor.sequence_length - 2
                if not 1 <= int(window_stride) <= width:
                    raise ValueError(f"window_stride={window_stride}: expected 1..{width} "
                                     "(sequence_length - 2), so that no token is skipped")
        dropout = backbone.dropout if dropout is None else dropout

        # === Layers ===
        self.backbone = backbone
        self.preprocessor = self.adopt_preprocessor(preprocessor)
        self.output_dropout = keras.layers.Dropout(dropout, name="output_dropout")
        self.output_dense = keras.layers.Dense(
            num_classes, kernel_initializer=initializer(backbone.initializer_range),
            dtype="float32", name="logits")

        # === Functional model ===
        inputs = dict(backbone.input)
        if pooling == "mean":
            encoded = backbone(inputs)
            pooled = MeanPooling(name="mean_pooling")(encoded["sequence_output"], inputs["padding_mask"])
            # The [CLS] pooler does not feed the logits: freeze it rather than leave it without
            # gradients (its weights stay as loaded, for `encode` and later reuse).
            backbone.pooler.trainable = False
        else:
            # Only [CLS] feeds the pooler: the last block runs at that row alone.
            pooled = backbone(inputs, query_positions=cls_only(inputs["token_ids"]))["pooled_output"]
        logits = self.output_dense(self.output_dropout(pooled))
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self.num_classes = num_classes
        self.problem_type = problem_type
        self.dropout = dropout
        self.label_vocabulary = list(label_vocabulary) if label_vocabulary is not None else None
        self.text_inputs = text_inputs
        self.pooling = pooling
        self.window_stride = None if window_stride is None else int(window_stride)
        self.window_aggregation = window_aggregation
        self.max_windows = None if max_windows is None else int(max_windows)
        self._windowed_fn = None

    def windowed_logits(self, texts, pad_to_multiple_of=None):
        """Logits `[batch, num_classes]` of raw texts over sliding windows (in-graph).

        Each text is cut into windows of `sequence_length - 2` tokens every `window_stride`
        tokens (see `BertPreprocessor.pack_windows`) and the window logits are aggregated by
        `window_aggregation`. A text that fits in one window gets exactly its plain logits.

        Args:
            texts: a `[batch]` string tensor.
            pad_to_multiple_of: run the windows at the longest window's length rounded up to a
                multiple of this (`trim_padding`) instead of the full `sequence_length`.
        """
        if self.preprocessor is None or self.window_stride is None:
            raise ValueError("windowed_logits needs a preprocessor and window_stride")
        packed, index = self.preprocessor.pack_windows(texts, self.window_stride, self.max_windows)
        if pad_to_multiple_of is not None:
            packed = trim_padding(packed, pad_to_multiple_of)
        logits = tf.cast(self(packed, training=False), tf.float32)
        count = tf.shape(texts)[0]
        if self.window_aggregation == "max":
            return tf.math.unsorted_segment_max(logits, index, count)
        return tf.math.unsorted_segment_mean(logits, index, count)

    def predict(self, x, batch_size=None, verbose="auto", **kwargs):
        """`keras.Model.predict`; raw single texts go through `windowed_logits` when windowed."""
        texts = None
        if self.window_stride is not None:
            array = None if isinstance(x, tf.data.Dataset) else text_array(x)
            if array is not None and array.ndim == 1 and len(array):
                texts = tf.data.Dataset.from_tensor_slices(array).batch(batch_size or 32)
            elif isinstance(x, tf.data.Dataset):
                spec = x.element_spec
                if isinstance(spec, tuple) and isinstance(spec[0], tf.TensorSpec):
                    spec, x = spec[0], x.map(lambda t, *_: t)
                if isinstance(spec, tf.TensorSpec) and spec.dtype == tf.string:
                    texts = x
        if texts is None:
            return super().predict(x, batch_size=batch_size, verbose=verbose, **kwargs)
        if self._windowed_fn is None:
            self._windowed_fn = tf.function(self.windowed_logits, input_signature=[
                tf.TensorSpec([None], tf.string)], reduce_retracing=True)
        logits = [self._windowed_fn(batch).numpy() for batch in texts]
        if not logits:
            return np.zeros((0, self.num_classes), np.float32)
        return np.concatenate(logits)

    # === Task contract ===

    def default_loss(self):
        return {
            "classification": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            "multilabel": keras.losses.BinaryCrossentropy(from_logits=True),
            "regression": keras.losses.MeanSquaredError(),
        }[self.problem_type]

    def default_metrics(self):
        return {
            "classification": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")],
            "multilabel": [keras.metrics.BinaryAccuracy(name="accuracy", threshold=0.0)],
            "regression": [keras.metrics.MeanAbsoluteError(name="mae")],
        }[self.problem_type]

    def outputs_from_logits(self, logits):
        """Served outputs of logits: `probabilities` `[batch, classes]` float32, `label_id`
        int32 and `label` string (the class name); regression: `score` `[batch]`."""
        logits = tf.cast(logits, tf.float32)
        if self.problem_type == "regression":
            return {"score": logits[:, 0]}
        if self.problem_type == "multilabel":
            probabilities = tf.sigmoid(logits)
        else:
            probabilities = tf.nn.softmax(logits, axis=-1)
        label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
        labels = self.label_vocabulary or [str(i) for i in range(self.num_classes)]
        return {"probabilities": probabilities, "label_id": label_id,
                "label": tf.gather(tf.constant(labels), label_id)}

    def serving_outputs(self, packed, text=None, text_pair=None):
        """`outputs_from_logits` of the packed inputs (the strings are not needed)."""
        del text, text_pair
        return self.outputs_from_logits(self(packed, training=False))

    def serve_text(self, text, text_pair=None, pad_to_multiple_of=None):
        """Served outputs of raw strings; with `window_stride`, long single texts are classified
        over sliding windows (`windowed_logits`), not truncated."""
        if self.window_stride is not None and text_pair is None:
            return self.outputs_from_logits(
                self.windowed_logits(text, pad_to_multiple_of=pad_to_multiple_of))
        return super().serve_text(text, text_pair, pad_to_multiple_of)

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
            "window_stride": self.window_stride,
            "window_aggregation": self.window_aggregation,
            "max_windows": self.max_windows,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**cls._deserialize_common(config))

    def hf_head_config(self):
        """`BertForSequenceClassification` with `id2label` (`LABEL_i` without a label
        vocabulary, as transformers) and `problem_type`."""
        from keras_bert_kit.config import HeadConfig

        if self.pooling != "pooled":
            raise UserError(f"pooling={self.pooling!r} has no Hugging Face equivalent "
                            "(BertForSequenceClassification reads the [CLS] pooler); save it "
                            "with .save() as a .keras file instead")
        labels = self.label_vocabulary or [f"LABEL_{i}" for i in range(self.num_classes)]
        return HeadConfig(self.hf_architecture, labels, self.problem_type)

    @classmethod
    def from_pretrained(cls, path, num_classes=None, sequence_length=128, preprocessor="auto",
                        backbone_kwargs=None, *, label_vocabulary=None, problem_type=None,
                        head="auto", **kwargs):
        """A classifier on pretrained weights, with its head and labels when the checkpoint has
        them, and a preprocessor from the folder's vocabulary.

        A `BertForSequenceClassification` checkpoint (safetensors, `pytorch_model.bin`,
        `tf_model.h5`) or a Google `run_classifier.py` one (`output_weights`) gives its head:
        `num_classes` from the head's tensor, `label_vocabulary` from `config.json` `id2label`
        (in id order), `problem_type` from `problem_type` (one output and none stated:
        regression, as transformers). An argument that disagrees with the checkpoint's head is
        a `UserError`; any other checkpoint gets a new head, and a logged warning says so.

        Args:
            path: a Hugging Face / Google BERT folder or file, or our `.keras` backbone or
                classifier file.
            num_classes: output units (default: the checkpoint head's, else 2).
            sequence_length: packer length for the automatic preprocessor.
            preprocessor: `"auto"` (built from `vocab.txt` beside the weights when present),
                a `BertPreprocessor`, or None.
            backbone_kwargs: passed to `BertBackbone.from_checkpoint` (e.g. `dtype`).
            label_vocabulary: class names (default: the checkpoint's `id2label`).
            problem_type: `"classification"`, `"multilabel"` or `"regression"` (default: the
                checkpoint's, else classification).
            head: `"auto"` (load the checkpoint's head when it has one) or `"new"` (start a new
                head whatever the checkpoint holds; said in a warning).
            **kwargs: passed to the constructor.

        Example:
        >>> clf = BertClassifier.from_pretrained("checkpoints/sst2-bert")  # doctest: +SKIP
        >>> clf.num_classes, clf.label_vocabulary  # doctest: +SKIP
        (2, ['negative', 'positive'])
        """
        from keras_bert_kit.models.pretrained_heads import plan_head

        loaded, backbone, preprocessor, checkpoint = load_pretrained_parts(
            path, sequence_length, preprocessor, backbone_kwargs, cls.preprocessor_cls)
        if isinstance(loaded, cls):
            return loaded
        plan = plan_head(cls, checkpoint, source=path, head=head, units=num_classes,
                         labels=label_vocabulary, problem_type=problem_type)
        problem_type = plan.problem_type or ("regression" if plan.checkpoint is not None
                                             and plan.units == 1 else "classification")
        labels = None if problem_type == "regression" and label_vocabulary is None else plan.labels
        model = cls(backbone, num_classes=plan.units, preprocessor=preprocessor,
                    problem_type=problem_type, label_vocabulary=labels, **kwargs)
        plan.apply(model)
        return model
