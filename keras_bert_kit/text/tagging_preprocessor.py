"""Tagging preprocessing: words ↔ word pieces, windows over long sentences, tags back to words.

- `split_words`: raw text → word spans (whitespace words, or one word per character), the words
  a tagger labels when it reads raw text.
- `align_words`: word sequences (and their tags) → `TaggingWindows`: each word cut into word
  pieces, `[CLS] pieces [SEP]` windows of at most the sequence length sliding over long
  sentences, the first piece of each word carrying its label and the other pieces ignored
  (label `IGNORE_LABEL`), or labelled too with `label_all_subtokens`.
- `TaggingWindows.word_tags`: per-window logits → one tag per word, each word read from the
  window where it has the most context on both sides.
- `TaggingPreprocessor`: a `BertPreprocessor` (same in-graph packing) that also does the above
  with its own tokenizer and window length, and reads word tags as entities with character
  offsets: what `BertTokenClassifier` packs and decodes with.
"""

import dataclasses
import re

import keras
import numpy as np
import tensorflow as tf

from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
from keras_bert_kit.text.char_table import CJK_RANGES
from keras_bert_kit.text.tags import get_entities

IGNORE_LABEL = -100
WORD_SPLITS = ("whitespace", "character")
_TOKENIZE_BATCH = 8192
_CJK = "".join(f"{chr(a)}-{chr(b)}" for a, b in CJK_RANGES)
_WORD_PATTERNS = {
    "whitespace": re.compile(rf"[{_CJK}]|[^\s{_CJK}]+"),
    "character": re.compile(r"\S"),
}


def split_words(text, word_split="whitespace"):
    """Character spans of the words of a raw text, as the tagger reads them.

    Args:
        text: a str.
        word_split: `"whitespace"`: runs of non-space characters, each CJK ideograph a word of
            its own (English CoNLL tokens joined by spaces, Chinese text without spaces);
            `"character"`: every non-space character is a word (character-level corpora such as
            People's Daily, where digits and Latin letters are tagged one by one too).

    Returns:
        A list of `(start, end)` indices into `text`.

    Example:
    >>> split_words("Jane  visited 北京.")
    [(0, 4), (6, 13), (14, 15), (15, 16), (16, 17)]
    >>> split_words("IBM 在", "character")
    [(0, 1), (1, 2), (2, 3), (4, 5)]
    """
    if word_split not in WORD_SPLITS:
        raise ValueError(f"word_split={word_split!r}: expected one of {WORD_SPLITS}")
    return [m.span() for m in _WORD_PATTERNS[word_split].finditer(text)]


@dataclasses.dataclass
class TaggingWindows:
    """Packed `[CLS] pieces [SEP]` windows over word sequences, from `align_words`.

    Args:
        token_ids: one int32 array per window (unpadded, special tokens included).
        labels: one int32 array per window (`IGNORE_LABEL` where no loss applies), or None.
        word_ids: one int32 array per window: the index of each piece's word in its sentence,
            -1 for `[CLS]` and `[SEP]`.
        decode_mask: one bool array per window: true on the piece a word's tag is read from
            (its first piece, in the window where that piece has the most context).
        sentence_index: int32 `[windows]`, the sentence of each window.
        num_words: words per sentence.

    Example:
    >>> from keras_bert_kit.text.bert_tokenizer import BertTokenizer
    >>> tokenizer = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "jane", "left"])
    >>> windows = align_words(tokenizer, [["Jane", "left"]], 8)
    >>> windows.token_ids[0].tolist(), windows.word_ids[0].tolist()
    ([2, 5, 6, 3], [-1, 0, 1, -1])
    """

    token_ids: list
    labels: list | None
    word_ids: list
    decode_mask: list
    sentence_index: np.ndarray
    num_words: list

    def __len__(self):
        return len(self.token_ids)

    def padded_inputs(self, indices, length):
        """Model inputs `token_ids`, `segment_ids`, `padding_mask` `[len(indices), length]`."""
        token_ids = np.zeros((len(indices), length), np.int32)
        padding_mask = np.zeros((len(indices), length), np.int32)
        for row, i in enumerate(indices):
            token_ids[row, :len(self.token_ids[i])] = self.token_ids[i]
            padding_mask[row, :len(self.token_ids[i])] = 1
        return {"token_ids": token_ids, "segment_ids": np.zeros_like(token_ids),
                "padding_mask": padding_mask}

    def word_label_ids(self, window_logits):
        """One label id per word from per-window logits; -1 for words without pieces.

        Args:
            window_logits: one `[len(token_ids[i]), num_labels]` array per window (or longer:
                padding rows are ignored).

        Returns:
            A list (per sentence) of int lists (per word).
        """
        result = [[-1] * n for n in self.num_words]
        for i, logits in enumerate(window_logits):
            positions = np.flatnonzero(self.decode_mask[i])
            predicted = np.argmax(np.asarray(logits)[positions], axis=-1)
            words = result[self.sentence_index[i]]
            for word, label in zip(self.word_ids[i][positions], predicted):
                words[word] = int(label)
        return result

    def word_tags(self, window_logits, label_vocabulary):
        """Tags per word (`"O"` for words the tokenizer dropped), from per-window logits."""
        return [[label_vocabulary[i] if i >= 0 else "O" for i in ids]
                for ids in self.word_label_ids(window_logits)]


def _word_pieces(tokenizer, sentences):
    """Token ids of every distinct word, tokenized once, in batches: dict word → list of ids."""
    distinct = sorted({w for words in sentences for w in words})
    pieces = {}
    for start in range(0, len(distinct), _TOKENIZE_BATCH):
        batch = distinct[start:start + _TOKENIZE_BATCH]
        for word, ids in zip(batch, tokenizer(tf.constant(batch, tf.string)).to_list()):
            pieces[word] = ids
    return pieces


def _window_bounds(num_pieces, piece_word, capacity, stride):
    """`(start, end)` piece ranges of the windows of one sentence; starts snap to word starts."""
    if num_pieces <= capacity:
        return [(0, num_pieces)]
    bounds, start = [], 0
    while True:
        end = min(start + capacity, num_pieces)
        bounds.append((start, end))
        if end == num_pieces:
            return bounds
        following = start + stride
        word_start = following
        while word_start > 0 and piece_word[word_start - 1] == piece_word[following]:
            word_start -= 1
        start = word_start if word_start > start else following


def _best_window(position, bounds):
    """Index of the window where `position` has the most context (SQuAD's max-context rule)."""
    scores = [min(position - s, e - 1 - position) + 0.01 * (e - s) if s <= position < e else -1
              for s, e in bounds]
    return int(np.argmax(scores))


def _continuation_label(tag, label_index):
    """Label of a word's non-first pieces with `label_all_subtokens`: B-/E-/S- become I-."""
    if tag != "O":
        inside = "I-" + tag[2:]
        if inside in label_index:
            return label_index[inside]
    return label_index[tag]


def align_words(tokenizer, sentences, sequence_length, *, tags=None, label_vocabulary=None,
                stride=None, label_all_subtokens=False):
    """Cuts word sequences into word pieces and packs them into labelled windows.

    Every word is tokenized on its own (so raw text split by `split_words` and CoNLL tokens go
    through the same path). A sentence whose pieces do not fit `sequence_length - 2` is covered
    by overlapping windows, `stride` pieces apart, each starting at a word boundary where it can;
    every piece of every word lands in some window, and each word is decoded from the window
    where it has the most context. In training, a word is labelled in every window holding it.

    Args:
        tokenizer: a `BertTokenizer`.
        sentences: lists of words (str).
        sequence_length: window length, `[CLS]` and `[SEP]` included (>= 3).
        tags: tag lists (one per word), or None for unlabelled input.
        label_vocabulary: tags in id order; needed with `tags`.
        stride: distance between window starts, in pieces; default half a window.
        label_all_subtokens: label every piece of a word (B-/E-/S- turned into I- after the
            first piece) instead of only the first one.

    Returns:
        `TaggingWindows`.

    Example:
    >>> from keras_bert_kit.text.bert_tokenizer import BertTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##believ", "##able", "x"]
    >>> w = align_words(BertTokenizer(vocab), [["unbelievable", "x"]], 16, tags=[["B-M", "O"]],
    ...                 label_vocabulary=["O", "B-M", "I-M"])
    >>> w.token_ids[0].tolist(), w.labels[0].tolist()
    ([2, 5, 6, 7, 8, 3], [-100, 1, -100, -100, 0, -100])
    """
    if sequence_length is None or int(sequence_length) < 3:
        raise ValueError(f"sequence_length must be >= 3, got {sequence_length}")
    capacity = int(sequence_length) - 2
    stride = min(capacity, max(1, capacity // 2 if stride is None else int(stride)))
    if tags is not None:
        if label_vocabulary is None:
            raise ValueError("align_words: tags need a label_vocabulary")
        if len(tags) != len(sentences):
            raise ValueError(f"{len(sentences)} sentences but {len(tags)} tag lists")
        label_index = {tag: i for i, tag in enumerate(label_vocabulary)}
    pieces = _word_pieces(tokenizer, sentences)
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    windows = TaggingWindows([], [] if tags is not None else None, [], [], [], [])
    for s, words in enumerate(sentences):
        if tags is not None and len(tags[s]) != len(words):
            raise ValueError(f"sentence {s}: {len(words)} words but {len(tags[s])} tags")
        ids, piece_word, first = [], [], []
        for w, word in enumerate(words):
            word_ids = pieces[word]
            ids += word_ids
            piece_word += [w] * len(word_ids)
            first += [True] + [False] * (len(word_ids) - 1)
        ids, piece_word, first = (np.array(ids, np.int32), np.array(piece_word, np.int32),
                                  np.array(first, bool))
        if tags is not None:
            word_labels = np.array([label_index[t] for t in tags[s]] or [0], np.int32)
            piece_labels = np.where(first, word_labels[piece_word] if len(ids) else 0, IGNORE_LABEL)
            if label_all_subtokens:
                inside = np.array([_continuation_label(t, label_index) for t in tags[s]] or [0],
                                  np.int32)
                piece_labels = np.where(first, piece_labels, inside[piece_word] if len(ids) else 0)
        bounds = _window_bounds(len(ids), piece_word, capacity, stride)
        home = np.array([_best_window(p, bounds) if first[p] else -1 for p in range(len(ids))],
                        np.int32)
        for b, (start, end) in enumerate(bounds):
            windows.token_ids.append(np.concatenate([[cls_id], ids[start:end], [sep_id]])
                                     .astype(np.int32))
            windows.word_ids.append(np.concatenate([[-1], piece_word[start:end], [-1]])
                                    .astype(np.int32))
            windows.decode_mask.append(np.concatenate([[False], home[start:end] == b, [False]]))
            if tags is not None:
                windows.labels.append(np.concatenate(
                    [[IGNORE_LABEL], piece_labels[start:end], [IGNORE_LABEL]]).astype(np.int32))
            windows.sentence_index.append(s)
        windows.num_words.append(len(words))
    windows.sentence_index = np.array(windows.sentence_index, np.int32)
    return windows


def default_bucket_boundaries(sequence_length):
    """Padded lengths to group windows by: quarters of `sequence_length`, multiples of 8."""
    return sorted({max(8, -(-sequence_length * q // 4) // 8 * 8) for q in (1, 2, 3)}
                  | {sequence_length})


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class TaggingPreprocessor(BertPreprocessor):
    """A `BertPreprocessor` for taggers: packs like its base, and aligns words with word pieces.

    Calling it packs texts exactly as `BertPreprocessor` does (in-graph, for `fit` on raw text
    and for exports); its Python-side methods cut word sequences into `[CLS] pieces [SEP]`
    windows of `sequence_length` (`align_words`), read one tag per word back from the windows'
    logits (`word_tags`), and turn the tags of raw texts into entities with character offsets
    (`split_texts`, `entities`). The config is that of `BertPreprocessor`.

    Args:
        tokenizer: the `BertTokenizer`.
        sequence_length: the window length, `[CLS]` and `[SEP]` included.
        pad_to_multiple_of: see `BertPreprocessor`.
        **kwargs: base `keras.layers.Layer` arguments (`name`, ...).

    Example:
    >>> from keras_bert_kit.text.bert_tokenizer import BertTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "jane", "left", "bath"]
    >>> pre = TaggingPreprocessor(BertTokenizer(vocab), sequence_length=8)
    >>> words, spans = pre.split_texts(["Jane  left Bath"])
    >>> windows = pre.align_words(words)
    >>> windows.token_ids[0].tolist()
    [2, 5, 6, 7, 3]
    >>> logits = [np.eye(3)[[0, 1, 0, 1, 0]]]          # B-PER on "jane" and "bath"
    >>> tags = pre.word_tags(windows, logits, ["O", "B-PER", "I-PER"])
    >>> tags
    [['B-PER', 'O', 'B-PER']]
    >>> pre.entities(["Jane  left Bath"], spans, tags)
    [[{'text': 'Jane', 'type': 'PER', 'start': 0, 'end': 4}, {'text': 'Bath', 'type': 'PER', 'start': 11, 'end': 15}]]
    """

    def align_words(self, sentences, *, tags=None, label_vocabulary=None, stride=None,
                    label_all_subtokens=False):
        """`align_words` with this preprocessor's tokenizer and `sequence_length`."""
        if self.sequence_length is None:
            raise ValueError(f"{type(self).__name__} needs a fixed sequence_length (the window "
                             "length) to align words")
        return align_words(self.tokenizer, sentences, self.sequence_length, tags=tags,
                           label_vocabulary=label_vocabulary, stride=stride,
                           label_all_subtokens=label_all_subtokens)

    @staticmethod
    def word_tags(windows, window_logits, label_vocabulary):
        """Tags per word of each sentence from per-window logits (see `TaggingWindows`)."""
        return windows.word_tags(window_logits, label_vocabulary)

    @staticmethod
    def split_texts(texts, word_split="whitespace"):
        """Words of raw texts: `(words, spans)`, one list per text (see `split_words`)."""
        spans = [split_words(text, word_split) for text in texts]
        words = [[text[s:e] for s, e in text_spans] for text, text_spans in zip(texts, spans)]
        return words, spans

    @staticmethod
    def entities(texts, spans, tags):
        """Entities of raw texts from their words' spans and tags (BIO / BIOES).

        An entity spans from the start of its first word to the end of its last, so
        `text[start:end]` is its exact original text (accents, case and inner spacing kept).

        Returns:
            One list per text of `{"text", "type", "start", "end"}` dicts.
        """
        result = []
        for text, text_spans, text_tags in zip(texts, spans, tags):
            found = []
            for entity_type, first, last in get_entities(text_tags):
                start, end = text_spans[first][0], text_spans[last][1]
                found.append({"text": text[start:end], "type": entity_type, "start": start,
                              "end": end})
            result.append(found)
        return result
