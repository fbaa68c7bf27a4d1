"""`ExportedModel`: predictions of an exported SavedModel, decoded with the decoder it declares.

What `kbk predict` runs: `serving_default` of the export on raw texts (and pairs), and one
JSON-able row per text — the decoder named in `assets.extra/keras_bert_kit.json` (entities of
a tagger, the answer of a QA model, classes of a classifier; see `text.decoding.DECODERS`), or
every raw output. Exports written before that file existed are recognised by their output names.

Texts may be `str` or `bytes`: bytes go to the graph as they are, so invalid UTF-8 is read as
U+FFFD there, as TF Serving would read it; the rows show such text decoded the same way.
"""

import os

import numpy as np

from keras_bert_kit.errors import UserError
from keras_bert_kit.export.declaration import read_declaration
from keras_bert_kit.text.decoding import DECODERS, plain
from keras_bert_kit.text.raw_text import text_array

_TAGGER_OUTPUTS = {"word_start", "token_start", "token_end", "label"}
_QA_OUTPUTS = {"answer", "answer_start", "answer_end"}


def _detect_decoder(output_names, takes_pairs):
    """The decoder of an export without a declaration, from its output names."""
    if _TAGGER_OUTPUTS <= set(output_names):
        return "entities"
    if _QA_OUTPUTS <= set(output_names) and takes_pairs:
        return "answer"
    return "classes"


def _texts(values, what):
    array = text_array(list(values))
    if array is None:
        raise UserError(f"{what} must be strings (str or bytes), got {list(values)[:3]!r}...")
    return array


class ExportedModel:
    """An exported SavedModel's `serving_default`, loaded once, and its declared decoder.

    Args:
        model_dir: the SavedModel version folder (e.g. `saved_models/sentiment/1`).

    Attributes:
        takes_pairs: True when `serving_default` takes two inputs (pairs: `text_pair`, QA's
            context, or a multiple-choice model's `choices`).
        input_names: the inputs of `serving_default`, in order (e.g. `["text", "text_pair"]`).
        decoder: the decoder name (a key of `text.decoding.DECODERS`).
        task: the exported task class name (None for exports without a declaration).

    Raises:
        UserError: no SavedModel in `model_dir`, or no `serving_default` in it.

    Example:
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "great", "movie"]
    >>> classifier = BertClassifier(
    ...     BertBackbone(len(vocab), num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=8),
    ...     num_classes=2, label_vocabulary=["negative", "positive"],
    ...     preprocessor=BertPreprocessor(BertTokenizer(vocab), sequence_length=8))
    >>> _ = export_saved_model(classifier, "saved_models/sentiment/1", check=False, warmup=False)
    >>> model = ExportedModel("saved_models/sentiment/1")
    >>> model.task, model.decoder, model.takes_pairs
    ('BertClassifier', 'classes', False)
    >>> model.rows(["What a great movie"])  # doctest: +ELLIPSIS
    [{'text': 'What a great movie', 'label': '...', 'label_id': ..., 'probabilities': [...]}]
    """

    def __init__(self, model_dir):
        model_dir = os.fspath(model_dir)
        if not os.path.isfile(os.path.join(model_dir, "saved_model.pb")):
            what = "no saved_model.pb in it" if os.path.isdir(model_dir) else "no such folder"
            raise UserError(f"{model_dir}: {what}; give the SavedModel version folder that "
                            "an export wrote (e.g. saved_models/sentiment/1)")
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the tokenizer ops the graph uses)

        self.model_dir = model_dir
        self.loaded = tf.saved_model.load(model_dir)     # keeps the variables alive
        if "serving_default" not in self.loaded.signatures:
            raise UserError(f"{model_dir}: the SavedModel has no serving_default signature "
                            f"(it has {sorted(self.loaded.signatures)}); export the model with "
                            "kbk export or export_saved_model")
        self.signature = self.loaded.signatures["serving_default"]
        served = list(self.signature.structured_input_signature[1])
        declaration = read_declaration(model_dir)
        if declaration is not None:
            self.input_names = list(declaration["signatures"]["serving_default"])
            self.decoder = declaration["decoder"]
            self.task = declaration["task"]
        else:
            self.input_names = ["text"] + sorted(n for n in served if n != "text")
            self.task = None
        self.takes_pairs = len(self.input_names) == 2
        if declaration is None:
            self.decoder = _detect_decoder(self.signature.structured_outputs, self.takes_pairs)

    def _inputs(self, texts, pairs):
        import tensorflow as tf

        if self.takes_pairs and pairs is None:
            raise UserError(f"{self.model_dir} takes pairs ({', '.join(self.input_names)}; QA: "
                            "question, context): give one pair per text (kbk predict: --pair per "
                            "text, or 'text<TAB>pair' lines)")
        if not self.takes_pairs and pairs is not None:
            raise UserError(f"{self.model_dir} takes single texts: give no pairs (drop --pair)")
        if pairs is not None and len(pairs) != len(texts):
            raise UserError(f"{self.model_dir}: {len(texts)} texts but {len(pairs)} pairs; give "
                            "one pair per text")
        inputs = {self.input_names[0]: tf.constant(_texts(texts, "texts"), tf.string)}
        if pairs is not None:
            inputs[self.input_names[1]] = tf.constant(_texts(pairs, "pairs"), tf.string)
        return inputs

    def outputs(self, texts, pairs=None):
        """`{output name: numpy array}` of `serving_default` on `texts` (and `pairs`), by name."""
        served = self.signature(**self._inputs(texts, pairs))
        return {name: served[name].numpy() for name in sorted(served)}

    def rows(self, texts, pairs=None, raw=False):
        """One JSON-able dict per text.

        Args:
            texts: the first inputs (str, or bytes: invalid UTF-8 is read as U+FFFD).
            pairs: the second inputs of pair exports, one per text.
            raw: every output of `serving_default` (per-token lists for taggers) instead of
                the decoded row.

        Returns:
            With the declared decoder (`text.decoding.DECODERS`): a tagger's
            `{"text", "entities"}` (or `"words"` for tags that are not BIO / BIOES), a QA
            model's `{"question", "context", "answer", "score", ...}`, a classifier's
            `{"text", "probabilities", "label_id", "label"}`. Raw (and for a decoder this
            package does not know): the inputs by name and every output.
        """
        if not len(texts):
            return []
        outputs = self.outputs(texts, pairs)
        decode = None if raw else DECODERS.get(self.decoder)
        rows = []
        for i, text in enumerate(texts):
            example = {name: value[i] for name, value in outputs.items()}
            pair = None if pairs is None else pairs[i]
            if decode is not None:
                rows.append(decode(text, example, pair))
                continue
            row = {self.input_names[0]: plain(text)}
            if pair is not None:
                row[self.input_names[1]] = plain(np.asarray(pair).tolist())
            row.update({name: plain(value) for name, value in example.items()})
            rows.append(row)
        return rows
