"""Token-classification (NER) data: CoNLL files, word → WordPiece label alignment, windows, tf.data.

- `read_conll`: CoNLL-style files (`.gz` too): one token per line with its tag in a column,
  blank lines between sentences, `-DOCSTART-` lines skipped, BIO or BIOES tags. Every problem
  is raised as one `ConllDataError` whose message starts with `path:line:`.
- `split_words`: raw text → word spans (whitespace words, or one word per character), the
  words the model labels when it reads raw text.
- `align_words`: word sequences (and their tags) → `TaggingWindows`: each word cut into word
  pieces, `[CLS] pieces [SEP]` windows of at most the sequence length sliding over long
  sentences, the first piece of each word carrying its label and the other pieces ignored
  (label `IGNORE_LABEL`), or labelled too with `label_all_subtokens`.
- `make_tagging_dataset`: windows → batched `(x, labels, sample_weight)`, grouped by length.
- `TaggingWindows.word_tags`: per-window logits → one tag per word, each word read from the
  window where it has the most context on both sides.
"""

import dataclasses
import gzip
import os
import re

import numpy as np
import tensorflow as tf

from keras_bert_kit.text.char_table import CJK_RANGES

IGNORE_LABEL = -100
DOCSTART = "-DOCSTART-"
SCHEMES = ("BIO", "BIOES")
WORD_SPLITS = ("whitespace", "character")
_PREFIXES = {"BIO": ("B", "I"), "BIOES": ("B", "I", "E", "S")}
_TOKENIZE_BATCH = 8192
_CJK = "".join(f"{chr(a)}-{chr(b)}" for a, b in CJK_RANGES)
_WORD_PATTERNS = {
    "whitespace": re.compile(rf"[{_CJK}]|[^\s{_CJK}]+"),
    "character": re.compile(r"\S"),
}


class ConllDataError(ValueError):
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
        raise ConllDataError(f"{where}: tag {tag!r} is neither 'O' nor B-/I-/E-/S-<TYPE>")
    if scheme == "BIO" and prefix not in _PREFIXES["BIO"]:
        raise ConllDataError(f"{where}: tag {tag!r} is not a BIO tag (scheme='BIO'); "
                             "pass scheme='BIOES' or 'auto'")


def read_conll(path, *, word_column=0, tag_column=-1, scheme="auto", delimiter=None,
               encoding="utf-8"):
    """Reads a CoNLL-style file: a token and its tag per line, blank lines between sentences.

    Lines starting with `-DOCSTART-` are skipped (and end a sentence). Columns are separated by
    `delimiter`, or by runs of spaces and tabs; other columns (POS, chunk tags) are ignored. A
    `.gz` file is read through gzip.

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
        raise FileNotFoundError(f"CoNLL file not found: {path!r}")
    split = re.compile("[ \t]+") if delimiter is None else re.compile(re.escape(delimiter))
    words, tags, lines = [], [], []
    sentence_words, sentence_tags = [], []
    seen_bioes = False
    line_number = 0
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
                try:
                    word, tag = columns[word_column], columns[tag_column]
                except IndexError:
                    raise ConllDataError(
                        f"{path}:{line_number}: {len(columns)} column(s) in {line!r}; need a word "
                        f"in column {word_column} and a tag in column {tag_column}") from None
                if len(columns) < 2:
                    raise ConllDataError(f"{path}:{line_number}: no tag column in {line!r}")
                _check_tag(tag, "BIOES" if scheme == "auto" else scheme, f"{path}:{line_number}")
                seen_bioes |= tag[:2] in ("E-", "S-")
                if not sentence_words:
                    lines.append(line_number)
                sentence_words.append(word)
                sentence_tags.append(tag)
    except UnicodeDecodeError as e:
        raise ConllDataError(f"{path}: not {encoding} text after line {line_number} ({e}); "
                             "pass encoding=") from None
    except (OSError, EOFError) as e:
        raise ConllDataError(f"{path}: cannot read ({e})") from None
    if sentence_words:
        words.append(sentence_words)
        tags.append(sentence_tags)
    if not words:
        raise ConllDataError(f"{path}: no sentences (only blank or -DOCSTART- lines)")
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
    >>> ds = make_tagging_dataset(windows, batch_size=32, seed=0)  # doctest: +SKIP
    >>> model.fit(ds, epochs=3)  # doctest: +SKIP
    """
    if windows.labels is None:
        raise ValueError("make_tagging_dataset needs labelled windows (align_words with tags=)")
    lengths = np.array([len(t) for t in windows.token_ids], np.int32)
    longest = int(lengths.max())
    boundaries = list(bucket_boundaries or default_bucket_boundaries(longest))
    if boundaries[-1] < longest:
        raise ValueError(f"the last bucket boundary {boundaries[-1]} is below the longest window "
                         f"({longest} tokens)")

    def ragged(arrays):
        return tf.RaggedTensor.from_row_lengths(np.concatenate(arrays), lengths)

    ds = tf.data.Dataset.from_tensor_slices(
        {"token_ids": ragged(windows.token_ids), "labels": ragged(windows.labels)})
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

    def to_model(token_ids, labels, padding_mask):
        x = {"token_ids": token_ids, "segment_ids": tf.zeros_like(token_ids),
             "padding_mask": padding_mask}
        return x, labels, tf.cast(labels != IGNORE_LABEL, tf.float32)

    return ds.map(to_model, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
