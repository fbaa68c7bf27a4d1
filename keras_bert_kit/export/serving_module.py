"""`ServingModule`: what an export saves — preprocessor + task model + signatures.

Signatures (all take a `[batch]` `tf.string`, batch size dynamic):
- `serving_default`: `text` (and `text_pair` for pair models) → task outputs; for classifiers
  `probabilities` `[batch, classes]` float32, `label_id` int32 and `label` string
  (regression: `score`).
- `encode`: `text` → `pooled_output` and `mean_embedding` (mean of the valid token vectors).
- `token_ids`: `token_ids`, `segment_ids`, `padding_mask` (int32 `[batch, seq]`) → the task
  outputs, for clients that tokenize themselves.
"""

import keras
import tensorflow as tf

from keras_bert_kit.layers.mean_pooling import MeanPooling

TEXT_SPEC = tf.TensorSpec([None], tf.string)
IDS_SPEC = tf.TensorSpec([None, None], tf.int32)


def _classifier_outputs(model, logits):
    logits = tf.cast(logits, tf.float32)
    if model.problem_type == "regression":
        return {"score": logits[:, 0]}
    if model.problem_type == "multilabel":
        probabilities = tf.sigmoid(logits)
    else:
        probabilities = tf.nn.softmax(logits, axis=-1)
    label_id = tf.argmax(probabilities, axis=-1, output_type=tf.int32)
    labels = model.label_vocabulary or [str(i) for i in range(model.num_classes)]
    return {"probabilities": probabilities, "label_id": label_id,
            "label": tf.gather(tf.constant(labels), label_id)}


def task_outputs(model, packed):
    """Named serving outputs of `model` on packed token inputs."""
    from keras_bert_kit.models.bert_classifier import BertClassifier

    if isinstance(model, BertClassifier):
        return _classifier_outputs(model, model(packed, training=False))
    if hasattr(model, "serving_outputs"):
        return model.serving_outputs(packed)
    raise TypeError(f"export does not know how to serve a {type(model).__name__}")


class ServingModule:
    """Builds the export of a task model and its preprocessor as a `keras.export.ExportArchive`.

    Keras' archive tracks the variables the way TF Serving's TF1 session loader can restore them
    (a `tf.Module` holding the Keras model directly cannot be restored by that loader).

    Args:
        model: a task model (`BertClassifier`, or one with a `serving_outputs(packed)` method)
            with a `preprocessor`.
    """

    def __init__(self, model):
        if getattr(model, "preprocessor", None) is None:
            raise ValueError(f"{type(model).__name__} has no preprocessor; exports take raw text, "
                             "so build the model with preprocessor=BertPreprocessor(...)")
        self.model = model
        self.preprocessor = model.preprocessor
        self.pair = getattr(model, "text_inputs", 1) == 2
        self.archive = keras.export.ExportArchive()
        self.archive.track(model)
        self.endpoints = {}
        self._add_endpoints()

    def _pack(self, text, text_pair=None):
        return self.preprocessor(text if text_pair is None else (text, text_pair))

    def _add_endpoints(self):
        model = self.model
        mean_pooling = MeanPooling()

        if self.pair:
            def serving_default(text, text_pair):
                return task_outputs(model, self._pack(text, text_pair))
            text_signature = [TEXT_SPEC, TEXT_SPEC]
        else:
            def serving_default(text):
                return task_outputs(model, self._pack(text))
            text_signature = [TEXT_SPEC]

        def encode(text):
            packed = self.preprocessor(text)
            out = model.backbone(packed, training=False)
            return {"pooled_output": tf.cast(out["pooled_output"], tf.float32),
                    "mean_embedding": mean_pooling(out["sequence_output"], packed["padding_mask"])}

        def token_ids(token_ids, segment_ids, padding_mask):
            return task_outputs(model, {"token_ids": token_ids, "segment_ids": segment_ids,
                                        "padding_mask": padding_mask})

        for name, fn, signature in (("serving_default", serving_default, text_signature),
                                    ("encode", encode, [TEXT_SPEC]),
                                    ("token_ids", token_ids, [IDS_SPEC, IDS_SPEC, IDS_SPEC])):
            self.endpoints[name] = self.archive.add_endpoint(name, fn, input_signature=signature)

    def write(self, path):
        """Writes the SavedModel to `path`."""
        self.archive.write_out(path, verbose=False)
