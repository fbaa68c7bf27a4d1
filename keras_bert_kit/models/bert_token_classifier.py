"""`BertTokenClassifier`: per-token labels (NER, chunking, POS) on BERT, decoded to words and entities."""


import keras
import numpy as np
import tensorflow as tf

from keras_bert_kit.layers.activations import initializer
from keras_bert_kit.models.bert_task import BertTask
from keras_bert_kit.models.pretrained_io import load_pretrained_parts
from keras_bert_kit.text.tagging_preprocessor import (IGNORE_LABEL, WORD_SPLITS,
                                                      TaggingPreprocessor,
                                                      default_bucket_boundaries)


class BertTokenClassifier(BertTask):
    """A dense head on every token's vector: float32 logits `[batch, seq, num_labels]`.

    Training data is word-level: `TaggingPreprocessor.align_words` cuts words into word pieces
    and labels the first piece of each word (the others get `IGNORE_LABEL`, which the default
    loss skips). `predict_tags` and `predict_entities` do the reverse with the same
    preprocessor: windows over long inputs, one tag per word read from its first piece,
    entities with character offsets; this model only runs the windows.

    Args:
        backbone: a `BertBackbone`.
        num_labels: output units (tags).
        preprocessor: optional `TaggingPreprocessor` (a plain `BertPreprocessor` becomes one on
            the same tokenizer); its tokenizer and `sequence_length` (the window length) are
            what `predict_tags` / `predict_entities` and exports use.
        label_vocabulary: tag strings by label id (e.g. `["O", "B-PER", "I-PER"]`); needed to
            decode tags and entities, and returned by exports.
        dropout: dropout on the token vectors; default the backbone's dropout.
        word_split: how `predict_entities` splits raw text into words (see
            `text.tagging_preprocessor.split_words`): `"whitespace"` or `"character"`
            (character-level corpora such as Chinese NER data).

    Example:
    >>> import numpy as np
    >>> backbone = BertBackbone.from_preset("bert_tiny_uncased")
    >>> tagger = BertTokenClassifier(backbone, num_labels=3, label_vocabulary=["O", "B-X", "I-X"])
    >>> ids = np.array([[101, 7592, 102]])
    >>> tagger.predict({"token_ids": ids, "segment_ids": 0 * ids,
    ...                 "padding_mask": 1 + 0 * ids}, verbose=0).shape
    (1, 3, 3)
    """

    task_name = "tag"
    preprocessor_cls = TaggingPreprocessor
    decoder = "entities"
    hf_architecture = "BertForTokenClassification"
    hf_has_pooler = False
    weighted_default_metrics = True

    def __init__(self, backbone, num_labels, preprocessor=None, label_vocabulary=None,
                 dropout=None, word_split="whitespace", **kwargs):
        if label_vocabulary is not None and len(label_vocabulary) != num_labels:
            raise ValueError(f"label_vocabulary has {len(label_vocabulary)} labels but "
                             f"num_labels={num_labels}")
        if word_split not in WORD_SPLITS:
            raise ValueError(f"word_split={word_split!r}: expected one of {WORD_SPLITS}")
        dropout = backbone.dropout if dropout is None else dropout

        # === Layers ===
        self.backbone = backbone
        self.preprocessor = self.adopt_preprocessor(preprocessor)
        self.output_dropout = keras.layers.Dropout(dropout, name="output_dropout")
        self.output_dense = keras.layers.Dense(
            num_labels, kernel_initializer=initializer(backbone.initializer_range),
            dtype="float32", name="logits")

        # === Functional model ===
        inputs = dict(backbone.input)
        sequence_output = backbone(inputs)["sequence_output"]
        logits = self.output_dense(self.output_dropout(sequence_output))
        super().__init__(inputs=inputs, outputs=logits, **kwargs)

        # === Config ===
        self.num_labels = num_labels
        self.label_vocabulary = list(label_vocabulary) if label_vocabulary is not None else None
        self.dropout = dropout
        self.word_split = word_split

    # === Task contract ===

    def default_loss(self):
        """Token cross-entropy that skips `IGNORE_LABEL` (continuation pieces, specials)."""
        return keras.losses.SparseCategoricalCrossentropy(from_logits=True,
                                                          ignore_class=IGNORE_LABEL)

    def default_metrics(self):
        """Token accuracy, weighted (`weighted_default_metrics`) so ignored pieces do not count."""
        return [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]

    def _check_decoding(self):
        if self.preprocessor is None or self.preprocessor.sequence_length is None:
            raise ValueError(f"{type(self).__name__} needs a preprocessor with a fixed "
                             "sequence_length (the window length) to read words")
        if self.label_vocabulary is None:
            raise ValueError(f"{type(self).__name__} needs a label_vocabulary to decode tags")

    def window_logits(self, windows, batch_size=32):
        """Logits of every window of a `TaggingWindows`, batched by length.

        Returns:
            A list of float32 `[window_length, num_labels]` arrays, in window order.
        """
        lengths = np.array([len(t) for t in windows.token_ids])
        boundaries = default_bucket_boundaries(int(lengths.max()) if len(lengths) else 8)
        order = np.argsort(lengths, kind="stable")
        result = [None] * len(lengths)
        for start in range(0, len(order), batch_size):
            batch = order[start:start + batch_size]
            longest = int(lengths[batch].max())
            padded = next(b for b in boundaries if b >= longest)
            logits = np.asarray(self.predict_on_batch(windows.padded_inputs(batch, padded)))
            for row, i in enumerate(batch):
                result[i] = logits[row, :lengths[i]]
        return result

    def predict_tags(self, sentences, batch_size=32, stride=None):
        """Tags of words: one tag per word of each sentence.

        Args:
            sentences: lists of words (str), e.g. `TaggedSentences.words`.
            batch_size: windows per model call.
            stride: window stride in pieces for long sentences (default half a window).

        Returns:
            A list (per sentence) of tag lists; a word the tokenizer drops entirely (control
            characters only) is tagged `"O"`.

        Example:
        >>> tagger.predict_tags([["Jane", "Austen", "wrote"]])  # doctest: +SKIP
        [['B-PER', 'I-PER', 'O']]
        """
        self._check_decoding()
        windows = self.preprocessor.align_words(sentences, stride=stride)
        return self.preprocessor.word_tags(windows, self.window_logits(windows, batch_size),
                                           self.label_vocabulary)

    def predict_entities(self, texts, batch_size=32):
        """Entities in raw texts, with character offsets into each text.

        The texts are split into words (`word_split`), tagged, and the tags read as entities
        with CoNLL semantics (`text.tags.get_entities`); an entity spans from the start of its
        first word to the end of its last, so `text[start:end]` is the entity's exact original
        text (accents, case and inner spacing kept). See `TaggingPreprocessor.entities`.

        Args:
            texts: a str or a list of str.
            batch_size: windows per model call.

        Returns:
            One list per text of `{"text", "type", "start", "end"}` dicts.

        Example:
        >>> tagger.predict_entities(["Jane Austen lived in Bath."])  # doctest: +SKIP
        [[{'text': 'Jane Austen', 'type': 'PER', 'start': 0, 'end': 11},
          {'text': 'Bath.', 'type': 'LOC', 'start': 21, 'end': 26}]]
        """
        texts = [texts] if isinstance(texts, str) else list(texts)
        self._check_decoding()
        words, spans = self.preprocessor.split_texts(texts, self.word_split)
        tags = self.predict_tags(words, batch_size=batch_size)
        return self.preprocessor.entities(texts, spans, tags)

    def serving_outputs(self, packed, text=None, text_pair=None):
        """Export outputs per token: label ids, label strings, scores, word starts (and offsets).

        Args:
            packed: the preprocessor's output for `text` (or token dicts from a client).
            text: the `[batch]` strings `packed` came from; when given, the UTF-8 byte span of
                each token in its text is returned too.
            text_pair: unused (taggers read single texts).

        Returns:
            A dict of `[batch, seq]` tensors: `label_id` (int32), `label` (string, the tag),
            `score` (float32 probability of that tag), `word_start` (int32 1 on the first piece
            of each word, 0 on continuation pieces, special tokens and padding: read a word's
            tag there), and with `text` `token_start` / `token_end` (int64 byte offsets, -1
            on special tokens and padding). Texts longer than the sequence length are truncated.
        """
        del text_pair
        logits = tf.cast(self(packed, training=False), tf.float32)
        probabilities = tf.nn.softmax(logits, axis=-1)
        label_id = tf.argmax(logits, axis=-1, output_type=tf.int32)
        labels = self.label_vocabulary or [str(i) for i in range(self.num_labels)]
        token_ids = tf.cast(packed["token_ids"], tf.int32)
        tokenizer = self.preprocessor.tokenizer if self.preprocessor is not None else None
        word_start = tf.cast(packed["padding_mask"], tf.bool)
        if tokenizer is not None:
            inside_or_special = tf.constant(
                [t.startswith("##") or t in ("[CLS]", "[SEP]", "[PAD]")
                 for t in tokenizer.vocabulary])
            word_start &= ~tf.gather(inside_or_special, token_ids)
        outputs = {"label_id": label_id, "label": tf.gather(tf.constant(labels), label_id),
                   "score": tf.reduce_max(probabilities, axis=-1),
                   "word_start": tf.cast(word_start, tf.int32)}
        if text is not None and tokenizer is not None:
            _, starts, ends = tokenizer.tokenize_with_offsets(text)
            length = tf.shape(token_ids)[1]

            def aligned(offsets):
                inner = offsets[:, :length - 2].to_tensor(default_value=-1)
                batch = tf.shape(token_ids)[:1]
                inner = tf.concat([tf.fill(tf.concat([batch, [1]], 0), tf.constant(-1, tf.int64)),
                                   inner], axis=1)
                return tf.pad(inner, [[0, 0], [0, length - tf.shape(inner)[1]]],
                              constant_values=-1)

            outputs["token_start"], outputs["token_end"] = aligned(starts), aligned(ends)
        return outputs

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "num_labels": self.num_labels,
            "preprocessor": self._serialize_preprocessor(),
            "label_vocabulary": self.label_vocabulary,
            "dropout": self.dropout,
            "word_split": self.word_split,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**cls._deserialize_common(config))

    def hf_head_config(self):
        """`BertForTokenClassification` with `id2label` (`LABEL_i` without a label vocabulary)."""
        from keras_bert_kit.config import HeadConfig

        labels = self.label_vocabulary or [f"LABEL_{i}" for i in range(self.num_labels)]
        return HeadConfig(self.hf_architecture, labels)

    @classmethod
    def from_pretrained(cls, path, label_vocabulary=None, sequence_length=128,
                        preprocessor="auto", backbone_kwargs=None, *, head="auto", **kwargs):
        """A token classifier on pretrained weights, with its head and tags when the checkpoint
        has them, and a preprocessor from the vocabulary.

        A `BertForTokenClassification` checkpoint gives its head (`classifier.*`) and its tags
        (`config.json` `id2label`); a `label_vocabulary` that disagrees is a `UserError`. Any
        other checkpoint needs `label_vocabulary` and gets a new head, said in a warning.

        Args:
            path: a Hugging Face / Google BERT folder or file, or a `.keras` backbone or model
                holding one (e.g. a `BertPretrainer`).
            label_vocabulary: tags by label id (default: the checkpoint's `id2label`).
            sequence_length: window length of the automatic preprocessor.
            preprocessor: `"auto"` (a `TaggingPreprocessor` from `vocab.txt` beside the
                weights), a `BertPreprocessor`, or None.
            backbone_kwargs: passed to `BertBackbone.from_checkpoint` (e.g. `dtype`).
            head: `"auto"` (load the checkpoint's head when it has one) or `"new"`.
            **kwargs: passed to the constructor (`dropout`, `word_split`).

        Example:
        >>> tagger = BertTokenClassifier.from_pretrained(
        ...     "runs/pretrain/backbone", ["O", "B-PER", "I-PER"])  # doctest: +SKIP
        """
        from keras_bert_kit.models.pretrained_heads import plan_head

        _, backbone, preprocessor, checkpoint = load_pretrained_parts(
            path, sequence_length, preprocessor, backbone_kwargs, cls.preprocessor_cls)
        plan = plan_head(cls, checkpoint, source=path, head=head, labels=label_vocabulary,
                         units_arg="num_labels", default_units=None)
        model = cls(backbone, num_labels=plan.units, preprocessor=preprocessor,
                    label_vocabulary=plan.labels, **kwargs)
        plan.apply(model)
        return model
