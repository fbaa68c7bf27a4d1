"""Token-classification (NER) data: CoNLL files and tf.data of labelled word-piece windows.

- `read_conll`: CoNLL-style files (`.gz` too): one token per line with its tag in a column,
  blank lines between sentences, `-DOCSTART-` lines skipped, BIO or BIOES tags. The column
  layout is read from the first token line (the tag is the last column) and holds for the
  whole file: a line with fewer or more columns is an error, never a silent shift (a missing
  NER column would make the chunk column the tag). Every problem is raised as one
  `ConllDataError` whose message starts with `path:line:` and says what to do.
- `make_tagging_dataset`: windows → batched `(x, labels, sample_weight)`, grouped by length;
  `tagging_batches`: the same batches picked by index vectors (a resumable run's epochs,
  `data/epoch_batches.py`), `window_lengths` / `tagging_boundaries` their buckets.

Word → word-piece alignment (`split_words`, `align_words`, `TaggingWindows`, `IGNORE_LABEL`)
is the tagger's preprocessing and lives in `keras_bert_kit.text.tagging_preprocessor`, where the
model reads it too; those names are re-exported here for the training code that imports them
from this module.
"""

import dataclasses
import gzip
import os
import re

import numpy as np
import tensorflow as tf

from keras_bert_kit.data.text_classification_data import first_undecodable_line
from keras_bert_kit.errors import UserError
from keras_bert_kit.text.tagging_preprocessor import (  # noqa: F401  (re-exported)
    IGNORE_LABEL, WORD_SPLITS, TaggingWindows, align_words, default_bucket_boundaries,
    split_words)

DOCSTART = "-DOCSTART-"
SCHEMES = ("BIO", "BIOES")
_PREFIXES = {"BIO": ("B", "I"), "BIOES": ("B", "I", "E", "S")}


class ConllDataError(UserError):
    """A problem in a CoNLL file; the message names the file and line."""


@dataclasses.dataclass
class TaggedSentences:
    """Sentences as word lists with one tag per word, as read by `read_conll`.

    Args:
        words: one list of words (str) per sentence.
        tags: one list of tags per sentence, as long as its words.
        source: where the sentences came from (a path).
        scheme: `"BIO"` or `"BIOES"`.
        lines: 1-based line number of each sentence's first word (for error messages).

    Example:
    >>> s = TaggedSentences([["Jane", "left"]], [["B-PER", "O"]], "mem", "BIO", [1])
    >>> len(s), s.tag_vocabulary()
    (1, ['O', 'B-PER', 'I-PER'])
    """

    words: list
    tags: list
    source: str
    scheme: str = "BIO"
    lines: list | None = None

    def __len__(self):
        return len(self.words)

    def tag_vocabulary(self):
        """`build_tag_vocabulary` of these tags, in this scheme."""
        return build_tag_vocabulary(self.tags, self.scheme)

    def check_tags(self, label_vocabulary):
        """Raises `ConllDataError` at the first tag missing from `label_vocabulary`."""
        known = set(label_vocabulary)
        for i, tags in enumerate(self.tags):
            for j, tag in enumerate(tags):
                if tag not in known:
                    line = self.lines[i] + j if self.lines else f"sentence {i}"
                    raise ConllDataError(
                        f"{self.source}:{line}: tag {tag!r} is not in the label vocabulary "
                        f"{list(label_vocabulary)} (from the training data)")

    def head(self, n):
        """The first `n` sentences."""
        return TaggedSentences(self.words[:n], self.tags[:n], self.source, self.scheme,
                               self.lines[:n] if self.lines else None)


def _open_text(path, encoding):
    if path.endswith(".gz"):
        return gzip.open(path, "rt", encoding=encoding, newline="")
    return open(path, encoding=encoding, newline="")


def _check_tag(tag, scheme, where):
    if tag == "O":
        return
    prefix, dash, entity_type = tag.partition("-")
    if not dash or not entity_type or prefix not in _PREFIXES["BIOES"]:
        raise ConllDataError(f"{where}: tag {tag!r} is neither 'O' nor B-/I-/E-/S-<TYPE> "
                             "(fix the tag; is the tag the last column?)")
    if scheme == "BIO" and prefix not in _PREFIXES["BIO"]:
        raise ConllDataError(f"{where}: tag {tag!r} is not a BIO tag (scheme='BIO'); "
                             "pass scheme='BIOES' or 'auto'")


def _word_and_tag(columns, layout, word_column, tag_column, where):
    """The word and tag of one token line, after checking it has the file's column layout."""
    width, first = layout
    if len(columns) < 2:
        raise ConllDataError(f"{where}: no tag column in {' '.join(columns)!r} (write "
                             "'word ... tag', the tag in the last column)")
    if len(columns) != width:
        fewer = "fewer" if len(columns) < width else "more"
        shifted = f", so its tag would be {columns[tag_column]!r}" if fewer == "fewer" else ""
        raise ConllDataError(
            f"{where}: {len(columns)} columns, {fewer} than the {width} of line {first} "
            f"(the tag is the last column{shifted}; give every token line the same columns)")
    try:
        return columns[word_column], columns[tag_column]
    except IndexError:
        raise ConllDataError(f"{where}: {len(columns)} column(s); need a word in column "
                             f"{word_column} and a tag in column {tag_column} (check "
                             "word_column= / tag_column=)") from None


def read_conll(path, *, word_column=0, tag_column=-1, scheme="auto", delimiter=None,
               encoding="utf-8"):
    """Reads a CoNLL-style file: a token and its tag per line, blank lines between sentences.

    Lines starting with `-DOCSTART-` are skipped (and end a sentence). Columns are separated by
    `delimiter`, or by runs of spaces and tabs; other columns (POS, chunk tags) are ignored. The
    first token line fixes the number of columns for the file; a line with another number is a
    `ConllDataError` naming its line. A `.gz` file is read through gzip.

    Args:
        path: the file (`.conll`, `.txt`, `.tsv`, ... or any of those `.gz`).
        word_column: 0-based column of the token.
        tag_column: 0-based column of the tag (negative counts from the end).
        scheme: `"BIO"`, `"BIOES"`, or `"auto"` (BIOES when an `E-`/`S-` tag occurs).
        delimiter: column separator; `None`: runs of spaces and tabs.
        encoding: text encoding.

    Returns:
        `TaggedSentences`.

    Example:
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "train.conll"
    >>> _ = p.write_text("-DOCSTART- O\\n\\nJane B-PER\\nleft O\\n\\nRome S-LOC\\n")
    >>> s = read_conll(p)
    >>> s.words, s.tags, s.scheme
    ([['Jane', 'left'], ['Rome']], [['B-PER', 'O'], ['S-LOC']], 'BIOES')
    """
    if scheme not in (*SCHEMES, "auto"):
        raise ValueError(f"scheme={scheme!r}: expected 'BIO', 'BIOES' or 'auto'")
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(2, "No such file", path)
    split = re.compile("[ \t]+") if delimiter is None else re.compile(re.escape(delimiter))
    words, tags, lines = [], [], []
    sentence_words, sentence_tags = [], []
    seen_bioes = False
    line_number = 0
    layout = None  # (number of columns, the first token line with them)
    try:
        with _open_text(path, encoding) as f:
            for line_number, line in enumerate(f, 1):
                line = line.rstrip("\r\n")
                if not line.strip() or line.startswith(DOCSTART):
                    if sentence_words:
                        words.append(sentence_words)
                        tags.append(sentence_tags)
                        sentence_words, sentence_tags = [], []
                    continue
                columns = split.split(line.strip(" \t") if delimiter is None else line)
                layout = layout or (len(columns), line_number)
                word, tag = _word_and_tag(columns, layout, word_column, tag_column,
                                          f"{path}:{line_number}")
                _check_tag(tag, "BIOES" if scheme == "auto" else scheme, f"{path}:{line_number}")
                seen_bioes |= tag[:2] in ("E-", "S-")
                if not sentence_words:
                    lines.append(line_number)
                sentence_words.append(word)
                sentence_tags.append(tag)
    except UnicodeDecodeError as e:
        opener = gzip.open if path.endswith(".gz") else open
        raise ConllDataError(f"{path}:{first_undecodable_line(path, encoding, opener)}: not "
                             f"{encoding} text ({e.reason}) (re-save the file as UTF-8, or pass "
                             "encoding=)") from None
    except (OSError, EOFError) as e:
        raise ConllDataError(f"{path}: cannot read ({e})") from None
    if sentence_words:
        words.append(sentence_words)
        tags.append(sentence_tags)
    if not words:
        raise ConllDataError(f"{path}: no sentences, only blank or -DOCSTART- lines (give a "
                             "file with one 'word ... tag' line per token)")
    if scheme == "auto":
        scheme = "BIOES" if seen_bioes else "BIO"
    return TaggedSentences(words, tags, path, scheme, lines)


def build_tag_vocabulary(tag_sequences, scheme="BIO"):
    """Label vocabulary: `"O"` first, then every tag of each entity type seen, types sorted.

    Every prefix of the scheme is included for each type (so a type seen only as `B-` still gets
    its `I-`, which `label_all_subtokens` and predictions may need).

    Args:
        tag_sequences: tag lists.
        scheme: `"BIO"` or `"BIOES"`.

    Example:
    >>> build_tag_vocabulary([["B-PER", "O", "B-LOC"]])
    ['O', 'B-LOC', 'I-LOC', 'B-PER', 'I-PER']
    """
    if scheme not in SCHEMES:
        raise ValueError(f"scheme={scheme!r}: expected one of {SCHEMES}")
    types = sorted({tag[2:] for tags in tag_sequences for tag in tags if tag != "O"})
    return ["O"] + [f"{prefix}-{t}" for t in types for prefix in _PREFIXES[scheme]]


def make_tagging_dataset(windows, batch_size, *, shuffle=True, seed=None, bucket_boundaries=None):
    """Batched `(x, labels, sample_weight)` of labelled windows, grouped by length.

    Each batch holds windows of one length bucket, padded to the bucket's boundary (pads: id 0,
    label `IGNORE_LABEL`, weight 0), so there are few distinct shapes. `sample_weight` is 1.0
    on labelled pieces and 0.0 elsewhere.

    Args:
        windows: `TaggingWindows` with labels.
        batch_size: windows per batch.
        shuffle: shuffle windows (and batches) every epoch.
        seed: shuffle seed.
        bucket_boundaries: increasing padded lengths whose last one is at least the longest
            window; default `default_bucket_boundaries` of the longest window.

    Returns:
        A `tf.data.Dataset`.

    Example:
    >>> from keras_bert_kit.text.bert_tokenizer import BertTokenizer
    >>> tokenizer = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "jane", "left"])
    >>> windows = align_words(tokenizer, [["Jane", "left"], ["left"]], 16,
    ...                       tags=[["B-PER", "O"], ["O"]], label_vocabulary=["O", "B-PER"])
    >>> ds = make_tagging_dataset(windows, batch_size=2, shuffle=False)
    >>> x, labels, weights = next(iter(ds))
    >>> x["token_ids"].shape, labels.numpy()[0].tolist()[:4], weights.numpy()[0].tolist()[:4]
    (TensorShape([2, 4]), [-100, 1, 0, -100], [0.0, 1.0, 1.0, 0.0])
    """
    lengths = window_lengths(windows)
    boundaries = tagging_boundaries(windows, bucket_boundaries)
    ds = tf.data.Dataset.from_tensor_slices(_ragged_windows(windows, lengths))
    ds = ds.map(lambda e: (e["token_ids"], e["labels"], tf.ones_like(e["token_ids"])))
    if shuffle:
        ds = ds.shuffle(len(lengths), seed=seed, reshuffle_each_iteration=True)
    ds = ds.bucket_by_sequence_length(
        lambda ids, labels, mask: tf.shape(ids)[0], [b + 1 for b in boundaries],
        [batch_size] * (len(boundaries) + 1), padding_values=(0, IGNORE_LABEL, 0),
        pad_to_bucket_boundary=True)
    bucket = np.searchsorted(boundaries, lengths)
    num_batches = int(sum(-(-np.sum(bucket == b) // batch_size) for b in range(len(boundaries))))
    ds = ds.apply(tf.data.experimental.assert_cardinality(num_batches))
    if shuffle:
        ds = ds.shuffle(num_batches, seed=seed, reshuffle_each_iteration=True)

    return ds.map(_to_model, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)


def _to_model(token_ids, labels, padding_mask):
    x = {"token_ids": token_ids, "segment_ids": tf.zeros_like(token_ids),
         "padding_mask": padding_mask}
    return x, labels, tf.cast(labels != IGNORE_LABEL, tf.float32)


def window_lengths(windows):
    """The number of pieces of each window (`[CLS]` and `[SEP]` included), an int32 array."""
    return np.array([len(t) for t in windows.token_ids], np.int32)


def tagging_boundaries(windows, bucket_boundaries=None):
    """The padded lengths windows are grouped by: `bucket_boundaries`, else
    `default_bucket_boundaries` of the longest window.

    Raises:
        ValueError: unlabelled windows, or a last boundary below the longest window.
    """
    if windows.labels is None:
        raise ValueError("make_tagging_dataset needs labelled windows (align_words with tags=)")
    longest = int(window_lengths(windows).max())
    boundaries = list(bucket_boundaries or default_bucket_boundaries(longest))
    if boundaries[-1] < longest:
        raise ValueError(f"the last bucket boundary {boundaries[-1]} is below the longest window "
                         f"({longest} tokens)")
    return boundaries


def _ragged_windows(windows, lengths):
    def ragged(arrays):
        return tf.RaggedTensor.from_row_lengths(np.concatenate(arrays), lengths)

    return {"token_ids": ragged(windows.token_ids), "labels": ragged(windows.labels)}


def tagging_batches(windows, indices, bucket_boundaries):
    """Batches `(x, labels, sample_weight)` of the windows picked by a dataset of index vectors,
    padded like `make_tagging_dataset`'s to the smallest boundary holding each batch.

    Args:
        windows: labelled `TaggingWindows`.
        indices: a `tf.data.Dataset` of int32 index vectors (e.g. `index_batches`), one a batch.
        bucket_boundaries: `tagging_boundaries(windows, ...)`.

    Example:
    >>> from keras_bert_kit.text.bert_tokenizer import BertTokenizer
    >>> tokenizer = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "jane", "left"])
    >>> windows = align_words(tokenizer, [["Jane", "left"], ["left"]], 16,
    ...                       tags=[["B-PER", "O"], ["O"]], label_vocabulary=["O", "B-PER"])
    >>> picked = tf.data.Dataset.from_tensor_slices([[1, 0]])
    >>> x, labels, weights = next(iter(tagging_batches(windows, picked, [8, 16])))
    >>> x["token_ids"].shape, labels.numpy()[1].tolist()[:4]
    (TensorShape([2, 8]), [-100, 1, 0, -100])
    """
    data = _ragged_windows(windows, window_lengths(windows))
    limits = tf.constant(list(bucket_boundaries), tf.int32)

    def pick(index):
        token_ids = tf.gather(data["token_ids"], index)
        labels = tf.gather(data["labels"], index)
        longest = tf.reduce_max(tf.concat([token_ids.row_lengths(), [0]], 0))
        position = tf.minimum(tf.searchsorted(limits, [tf.cast(longest, tf.int32)])[0],
                              len(bucket_boundaries) - 1)
        width = tf.gather(limits, position)

        def padded(ragged, value):
            dense = ragged.to_tensor(value)
            return tf.pad(dense, [[0, 0], [0, width - tf.shape(dense)[1]]], constant_values=value)

        return _to_model(padded(token_ids, 0), padded(labels, IGNORE_LABEL),
                         padded(tf.ones_like(token_ids), 0))

    return indices.map(pick, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
