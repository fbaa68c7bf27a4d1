"""Building a BERT WordPiece vocabulary (`vocab.txt`) from raw text.

`build_vocabulary` splits the text into words exactly as `BertTokenizer` will (same normalization,
`WordSplitter`), then learns word pieces with tensorflow-text's BERT vocabulary tool
(`tensorflow_text.tools.wordpiece_vocab.bert_vocab_from_dataset`). CLI wiring:
`kbk vocab --input FILES --vocab-size N --output vocab.txt [--cased]` is
`build_vocabulary([pathlib.Path(f) for f in FILES], vocab_size=N, lowercase=not cased,
output="vocab.txt")`.
"""

import os

import tensorflow as tf
from tensorflow_text.tools.wordpiece_vocab import bert_vocab_from_dataset as bert_vocab

from keras_bert_kit.text.bert_tokenizer import SPECIAL_TOKENS
from keras_bert_kit.text.word_splitter import WordSplitter

_BATCH_SIZE = 1024


def _read_lines(paths):
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                yield line.rstrip("\n")


def _resolve_inputs(files_or_lines):
    """Returns a callable giving a fresh iterator over the input lines."""
    if isinstance(files_or_lines, (str, os.PathLike)):
        items, is_path = [files_or_lines], [True]
    else:
        items = list(files_or_lines)
        is_path = [isinstance(x, os.PathLike) for x in items]
    if any(is_path):
        if not all(is_path):
            raise TypeError(
                "build_vocabulary takes either files (pathlib.Path objects, or one str path) or "
                "lines of text (a list of str), not a mix."
            )
        paths = [os.fspath(x) for x in items]
        for path in paths:
            if not os.path.isfile(path):
                raise FileNotFoundError(f"Text file for the vocabulary not found: {path!r}")
        return lambda: _read_lines(paths)
    for i, line in enumerate(items):
        if not isinstance(line, str):
            raise TypeError(f"Line {i} of the text is a {type(line).__name__}, not a str.")
    return lambda: iter(items)


def build_vocabulary(
    files_or_lines,
    vocab_size=30522,
    lowercase=True,
    reserved_tokens=SPECIAL_TOKENS,
    output=None,
    strip_accents=None,
    tokenize_chinese_chars=True,
    max_unique_chars=1000,
    min_count=None,
):
    """Learns a WordPiece vocabulary for `BertTokenizer` from text files or lines.

    The words are those `BertTokenizer` sees (same normalization and splitting); tensorflow-text's
    `bert_vocab_from_dataset` then picks the vocabulary: `reserved_tokens` first (so `[PAD]` is
    id 0), then every character kept (as itself and as `##` suffix), then the learned word
    pieces, most frequent first. CJK ideographs are words of their own, so a Chinese corpus
    yields its (up to `max_unique_chars` most frequent) characters as tokens.

    Args:
        files_or_lines: text to learn from: one path (str or `os.PathLike`), a list of
            `os.PathLike` (e.g. `pathlib.Path`) files, or a list of str lines. Files are read as
            UTF-8, invalid bytes replaced.
        vocab_size: the maximum vocabulary size; the learner aims within 5 % below it (a small
            corpus can give fewer tokens).
        lowercase: build an uncased vocabulary (lower-cased, accents stripped); `False` for
            cased. Use the same value for the `BertTokenizer`.
        reserved_tokens: tokens put first, in this order; must start with `[PAD]` and contain
            `[UNK]`, `[CLS]`, `[SEP]`, `[MASK]` (add e.g. `[unused0]` placeholders after them).
        output: if given, the path of the `vocab.txt` to write (one token per line).
        strip_accents: as for `BertTokenizer` (`None` follows `lowercase`).
        tokenize_chinese_chars: as for `BertTokenizer`.
        max_unique_chars: at most this many distinct characters (the most frequent) are kept;
            words with other characters are ignored.
        min_count: lowest count for a word piece to be considered (the learner's
            `lower_thresh`, default 10); lower it for tiny corpora.

    Returns:
        The vocabulary, a list of str tokens (index = id).

    Example:
    >>> lines = ["The cat sat on the mat.", "The dog sat on the log."] * 20
    >>> vocab = build_vocabulary(lines, vocab_size=100)
    >>> vocab[:5], "the" in vocab, "##t" in vocab
    (['[PAD]', '[UNK]', '[CLS]', '[SEP]', '[MASK]'], True, True)
    """
    reserved_tokens = list(reserved_tokens)
    missing = [t for t in SPECIAL_TOKENS if t not in reserved_tokens]
    if missing or reserved_tokens[0] != "[PAD]":
        raise ValueError(
            f"reserved_tokens must start with '[PAD]' (id 0) and contain {list(SPECIAL_TOKENS)}; "
            f"got {reserved_tokens}."
        )
    if vocab_size < len(reserved_tokens):
        raise ValueError(
            f"vocab_size={vocab_size} is smaller than the {len(reserved_tokens)} reserved tokens."
        )
    lines = _resolve_inputs(files_or_lines)
    if next(iter(lines()), None) is None:
        raise ValueError("build_vocabulary got no text (no lines in the input).")

    splitter = WordSplitter(lowercase, strip_accents, tokenize_chinese_chars)
    dataset = (
        tf.data.Dataset.from_generator(lines, output_signature=tf.TensorSpec([], tf.string))
        .batch(_BATCH_SIZE)
        .map(lambda texts: tf.strings.reduce_join(splitter.split(texts), axis=-1, separator=" "))
    )
    learn_params = {"max_unique_chars": max_unique_chars}
    if min_count is not None:
        learn_params["lower_thresh"] = int(min_count)
    # The words are already normalized and split: the tool's own BasicTokenizer only has to cut
    # them at the spaces, so it must not lower-case or normalize again.
    vocabulary = bert_vocab.bert_vocab_from_dataset(
        dataset,
        vocab_size=vocab_size,
        reserved_tokens=reserved_tokens,
        bert_tokenizer_params={"lower_case": False},
        learn_params=learn_params,
    )
    if output is not None:
        with open(os.fspath(output), "w", encoding="utf-8", newline="\n") as f:
            f.write("".join(token + "\n" for token in vocabulary))
    return vocabulary
