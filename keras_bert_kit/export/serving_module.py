"""`ServingModule`: what an export saves — preprocessor + task model + signatures.

Signatures (all take a `[batch]` `tf.string`, batch size dynamic):
- `serving_default`: `text` (and `text_pair` for pair models) → task outputs. The raw strings
  are passed to the model's `serving_outputs` too, so outputs that point into the text are
  served:
  - classifiers: `probabilities` `[batch, classes]` float32, `label_id` int32 and `label`
    string (regression: `score`).
  - `BertTokenClassifier` (`text`): `[batch, seq]` tensors over the packed
    `[CLS] pieces [SEP] [PAD]...` — `label_id` int32, `label` string (the tag), `score`
    float32 (its probability), `word_start` int32 (1 on the first piece of each word) and
    `token_start` / `token_end` int64 (the UTF-8 byte span of each piece in `text`, -1 on
    `[CLS]`, `[SEP]` and padding). Texts longer than the sequence length are truncated.
  - `BertQuestionAnswerer` (`text` = question, `text_pair` = context): `[batch]` tensors
    `answer` string (the exact substring of the context), `answer_start` / `answer_end` int64
    (its UTF-8 byte span in the context, -1 when there is no span), `start_index` /
    `end_index` int32 (token positions), `score` and `null_score` float32.
- `encode`: `text` → `pooled_output` and `mean_embedding` (mean of the valid token vectors).
- `token_ids`: `token_ids`, `segment_ids`, `padding_mask` (int32 `[batch, seq]`) → the task
  outputs, for clients that tokenize themselves (without the outputs that need the text:
  no `token_start` / `token_end`, no `answer`).

Turning a tagger's per-token outputs into entities, client side (what
`keras_bert_kit.export.decoding.decode_entities` and `kbk predict` do), for one text:
1. Words: walk the positions with `token_start >= 0`; a position with `word_start == 1` opens a
   new word, the others (`##` continuation pieces) extend the open one. Words are BERT's basic
   words: split at whitespace and punctuation, one per CJK character (as CoNLL-style tokens,
   so `"Bath."` gives `"Bath"` and `"."`).
2. Tags: a word's tag is `label` at its first piece (its probability: `score` there).
3. Entities: read the tag sequence with BIO / BIOES rules (`ner_metrics.get_entities`: an
   entity opens at `B-`/`S-`, or at an `I-`/`E-` after `O` or a type change, and closes
   before `B-`/`S-`/`O`, after `E-`/`S-`, or at a type change).
4. Span: from `token_start` of the first word's first piece to `token_end` of the last word's
   last piece. These are byte offsets: `text.encode("utf-8")[start:end].decode("utf-8")` is
   the entity's original text (case, accents and inner whitespace kept); for `str` indices
   use `BertTokenizer.char_offsets(text, starts, ends)`.
"""

import inspect

import keras
import tensorflow as tf

from keras_bert_kit.layers.mean_pooling import MeanPooling
from keras_bert_kit.text.bert_preprocessor import trim_padding

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


def task_outputs(model, packed, text=None, text_pair=None):
    """Named serving outputs of `model` on packed token inputs.

    Args:
        model: a `BertClassifier`, or a task model with a `serving_outputs(packed, ...)` method.
        packed: the preprocessor's output (or a client's token dicts).
        text: the `[batch]` strings `packed` came from, if any.
        text_pair: the second strings of pair inputs, if any.

    `text` / `text_pair` are passed on to the keyword arguments of that name that
    `serving_outputs` accepts (outputs that point into the text, such as a tagger's byte
    offsets or a QA model's answer string, need them); None values are not passed.
    """
    from keras_bert_kit.models.bert_classifier import BertClassifier

    if isinstance(model, BertClassifier):
        return _classifier_outputs(model, model(packed, training=False))
    if hasattr(model, "serving_outputs"):
        accepted = inspect.signature(model.serving_outputs).parameters
        strings = {name: value for name, value in (("text", text), ("text_pair", text_pair))
                   if value is not None and name in accepted}
        return model.serving_outputs(packed, **strings)
    raise TypeError(f"export does not know how to serve a {type(model).__name__}")


class ServingModule:
    """Builds the export of a task model and its preprocessor as a `keras.export.ExportArchive`.

    Keras' archive tracks the variables the way TF Serving's TF1 session loader can restore them
    (a `tf.Module` holding the Keras model directly cannot be restored by that loader).

    Args:
        model: a task model (`BertClassifier`, or one with a `serving_outputs(packed, text=None,
            text_pair=None)` method; it gets the keywords it accepts) with a `preprocessor`.
        pad_to_multiple_of: classifiers and `encode` run each request at the length of its
            longest text (after truncation), rounded up to a multiple of this, instead of the
            preprocessor's full `sequence_length` (same outputs, less work); None: always the
            full length. Tagger and QA exports keep the full length (their per-token outputs
            are `[batch, sequence_length]`).
    """

    def __init__(self, model, pad_to_multiple_of=8):
        if getattr(model, "preprocessor", None) is None:
            raise ValueError(f"{type(model).__name__} has no preprocessor; exports take raw text, "
                             "so build the model with preprocessor=BertPreprocessor(...)")
        self.model = model
        self.preprocessor = model.preprocessor
        self.pair = getattr(model, "text_inputs", 1) == 2
        self.pad_to_multiple_of = pad_to_multiple_of
        self.archive = keras.export.ExportArchive()
        self.archive.track(model)
        self.endpoints = {}
        self._add_endpoints()

    def _pack(self, text, text_pair=None, trim=False):
        packed = self.preprocessor(text if text_pair is None else (text, text_pair))
        if trim and self.pad_to_multiple_of is not None:
            packed = trim_padding(packed, self.pad_to_multiple_of)
        return packed

    def _add_endpoints(self):
        from keras_bert_kit.models.bert_classifier import BertClassifier

        model = self.model
        mean_pooling = MeanPooling()
        trim = isinstance(model, BertClassifier)

        if self.pair:
            def serving_default(text, text_pair):
                return task_outputs(model, self._pack(text, text_pair, trim=trim), text=text,
                                    text_pair=text_pair)
            text_signature = [TEXT_SPEC, TEXT_SPEC]
        elif getattr(model, "window_stride", None) is not None:
            def serving_default(text):
                # Long texts are classified over sliding windows, not truncated.
                return _classifier_outputs(model, model.windowed_logits(
                    text, pad_to_multiple_of=self.pad_to_multiple_of))
            text_signature = [TEXT_SPEC]
        else:
            def serving_default(text):
                return task_outputs(model, self._pack(text, trim=trim), text=text)
            text_signature = [TEXT_SPEC]

        def encode(text):
            packed = self._pack(text, trim=True)
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
