"""Fine-tuning data for sentence (pair) classification and regression.

Readers turn TSV / CSV / JSONL files (GLUE layouts included) into `ClassificationExamples`;
`make_classification_dataset` turns those into a batched, shuffled `tf.data.Dataset`, optionally
tokenized and packed by a preprocessor and grouped into a small fixed set of padded lengths;
`classification_batches` packs the same way the batches a resumable run plans per epoch
(`example_lengths` for their buckets, `data/epoch_batches.py`).

Every problem found in a file is raised as one `ClassificationDataError` (a `UserError`) whose
message starts with `path:line:` and says what to do. Label columns are checked, not trusted: a
training file with one class only, two spellings of one number (`1` and `1.0`), or a word among
numeric labels (`positive` among `0`/`1`) is an error naming both spellings and their lines,
rather than a model trained on the wrong classes.
"""

import csv
import dataclasses
import json
import math
import os

import numpy as np
import tensorflow as tf

from keras_bert_kit.errors import UserError

TASKS = ("classification", "multilabel", "regression")
_DELIMITERS = {".tsv": "\t", ".csv": ","}
_JSON_SUFFIXES = (".jsonl", ".ndjson")
_LENGTH_BATCH_SIZE = 512


class ClassificationDataError(UserError):
    """A problem in a classification data file; the message names the file and line."""


@dataclasses.dataclass
class ClassificationExamples:
    """Texts, optional second texts and labels of one split, ready for `make_classification_dataset`.

    Args:
        texts: first (or only) text of each example.
        pairs: second text of each example for sentence-pair tasks, else `None`.
        labels: `int32 [n]` class ids, `float32 [n]` regression targets, `float32 [n, classes]`
            multi-hot vectors, or `None` for an unlabeled split.
        label_vocabulary: label strings indexed by class id; `None` for regression.
        source: where the examples came from (a path, or a TFDS name and split).
        task: `"classification"`, `"multilabel"` or `"regression"`.

    Example:
    >>> import numpy as np
    >>> ex = ClassificationExamples(["good", "bad"], None, np.array([1, 0], "int32"), ["0", "1"], "mem")
    >>> len(ex), ex.num_classes
    (2, 2)
    """

    texts: list
    pairs: list | None
    labels: np.ndarray | None
    label_vocabulary: list | None
    source: str
    task: str = "classification"

    def __len__(self):
        return len(self.texts)

    @property
    def num_classes(self):
        """Width of the model's output: the vocabulary size, or 1 for regression."""
        return 1 if self.label_vocabulary is None else len(self.label_vocabulary)


def build_label_vocabulary(labels):
    """Sorted, duplicate-free label vocabulary; numeric labels keep their numeric order.

    Args:
        labels: iterable of label strings.

    Example:
    >>> build_label_vocabulary(["10", "2", "2", "-1"])
    ['-1', '2', '10']
    >>> build_label_vocabulary(["neutral", "entailment", "contradiction"])
    ['contradiction', 'entailment', 'neutral']
    """
    unique = set(labels)
    try:
        return sorted(unique, key=lambda label: (float(label), label))
    except ValueError:
        return sorted(unique)


def read_classification_file(path, text_column, label_column=None, pair_column=None, *,
                             delimiter=None, has_header=True, task="classification",
                             label_vocabulary=None, label_separator=",", encoding="utf-8-sig"):
    """Reads a TSV, CSV or JSONL file of (pairs of) texts and labels.

    TSV files are read without quote processing, as GLUE's are; CSV files use standard double-quote
    quoting (fields may contain delimiters and newlines). JSONL files hold one object per line.
    Blank lines are skipped.

    Args:
        path: a `.tsv`, `.csv`, `.jsonl` or `.ndjson` file (any name if `delimiter` is given).
        text_column: column of the first text: a header name or a 0-based index (an int or a string
            of digits that is not a header name). For JSONL, a field name.
        label_column: column of the label, or `None` for an unlabeled file.
        pair_column: column of the second text for sentence-pair tasks, or `None`.
        delimiter: field delimiter; `None` picks it from the suffix (tab for `.tsv`, comma for `.csv`).
        has_header: whether the first line of a delimited file names the columns.
        task: `"classification"` (one label per example), `"multilabel"` (labels joined by
            `label_separator`, or a JSON list) or `"regression"` (a float).
        label_vocabulary: labels of the training file, to reuse for dev / test files; `None` builds
            it from this file with `build_label_vocabulary`. Ignored for regression.
        label_separator: separator of multi-label labels, e.g. `","` or `"|"`.
        encoding: text encoding; the default also drops a UTF-8 byte-order mark.

    Returns:
        `ClassificationExamples`.

    Example:
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "dev.tsv"
    >>> _ = p.write_text("sentence1\\tsentence2\\tlabel\\nA cat.\\tA dog.\\t0\\nHi.\\tHello.\\t1\\n")
    >>> ex = read_classification_file(p, "sentence1", "label", pair_column="sentence2")
    >>> ex.pairs, ex.labels.tolist(), ex.label_vocabulary
    (['A dog.', 'Hello.'], [0, 1], ['0', '1'])
    """
    if task not in TASKS:
        raise ValueError(f"task must be one of {TASKS}, got {task!r}")
    path = os.fspath(path)
    suffix = os.path.splitext(path)[1].lower()
    if delimiter is None and suffix not in _JSON_SUFFIXES:
        if suffix not in _DELIMITERS:
            raise ClassificationDataError(
                f"{path}: cannot tell the format from the suffix {suffix!r}; use .tsv, .csv, "
                f".jsonl or .ndjson, or pass delimiter=")
        delimiter = _DELIMITERS[suffix]
    try:
        if delimiter is None:
            rows = _read_jsonl(path, text_column, label_column, pair_column, encoding)
        else:
            rows = _read_delimited(path, text_column, label_column, pair_column, delimiter,
                                   has_header, encoding)
    except UnicodeDecodeError as e:
        raise ClassificationDataError(
            f"{path}:{first_undecodable_line(path, encoding)}: not {encoding} text (byte "
            f"{e.object[e.start:e.end]!r}: {e.reason}) (re-save the file as UTF-8, or pass "
            "encoding=)") from None
    texts = [row[1] for row in rows]
    pairs = [row[2] for row in rows] if pair_column is not None else None
    if label_column is None:
        return ClassificationExamples(texts, pairs, None,
                                      None if task == "regression" else label_vocabulary,
                                      path, task)
    labels, label_vocabulary = _convert_labels(path, [(row[0], row[3]) for row in rows], task,
                                               label_vocabulary, label_separator)
    return ClassificationExamples(texts, pairs, labels, label_vocabulary, path, task)


def _read_delimited(path, text_column, label_column, pair_column, delimiter, has_header, encoding):
    """Rows `(line, text, pair, raw_label)` of a delimited file, checking every line's width."""
    quoting = csv.QUOTE_NONE if delimiter == "\t" else csv.QUOTE_MINIMAL
    rows, header, width, columns = [], None, None, None
    with open(path, encoding=encoding, newline="") as f:
        reader = csv.reader(f, delimiter=delimiter, quoting=quoting, strict=True)
        line = 1
        while True:
            try:
                fields = next(reader)
            except StopIteration:
                break
            except csv.Error as e:
                raise ClassificationDataError(f"{path}:{line}: {e}") from None
            start, line = line, reader.line_num + 1
            if not fields:
                continue
            if width is None:
                width = len(fields)
                if has_header:
                    header = fields
                columns = [_column_index(path, start, c, header, width)
                           for c in (text_column, pair_column, label_column)]
                if has_header:
                    continue
            if len(fields) != width:
                raise ClassificationDataError(
                    f"{path}:{start}: expected {width} fields separated by {delimiter!r}, found "
                    f"{len(fields)} (a stray delimiter or a line break inside a field?)")
            rows.append((start, *(None if c is None else fields[c] for c in columns)))
    if width is None:
        raise ClassificationDataError(f"{path}:1: the file is empty (give a file with examples)")
    if not rows:
        raise ClassificationDataError(f"{path}:{line - 1}: no examples after the header (add examples, or pass has_header=False)")
    return rows


def _column_index(path, line, column, header, width):
    """0-based index of `column` (a header name or an index), or `None` when `column` is `None`."""
    if column is None:
        return None
    available = (", ".join(f"{i}={name!r}" for i, name in enumerate(header)) if header
                 else f"indices 0..{width - 1} (no header)")
    if header and column in header:
        return header.index(column)
    if isinstance(column, str) and column.isdigit():
        column = int(column)
    if isinstance(column, int) and 0 <= column < width:
        return column
    raise ClassificationDataError(f"{path}:{line}: no column {column!r}; available columns: {available}")


def _read_jsonl(path, text_column, label_column, pair_column, encoding):
    """Rows `(line, text, pair, raw_label)` of a JSON-lines file."""
    rows = []
    with open(path, encoding=encoding) as f:
        for line, raw in enumerate(f, start=1):
            if not raw.strip():
                continue
            try:
                record = json.loads(raw)
            except json.JSONDecodeError as e:
                raise ClassificationDataError(f"{path}:{line}: invalid JSON: {e}") from None
            if not isinstance(record, dict):
                raise ClassificationDataError(
                    f"{path}:{line}: expected a JSON object, found {type(record).__name__}")
            values = []
            for field, is_text in ((text_column, True), (pair_column, True), (label_column, False)):
                if field is None:
                    values.append(None)
                    continue
                if field not in record:
                    raise ClassificationDataError(
                        f"{path}:{line}: no field {field!r}; this line has fields {sorted(record)}")
                if is_text and not isinstance(record[field], str):
                    raise ClassificationDataError(
                        f"{path}:{line}: field {field!r} must be a string, found "
                        f"{type(record[field]).__name__}")
                values.append(record[field])
            rows.append((line, *values))
    if not rows:
        raise ClassificationDataError(f"{path}:1: the file is empty")
    return rows


def first_undecodable_line(path, encoding, opener=open):
    """1-based number of the first line of `path` that is not `encoding` text (None: none is).

    Example:
    >>> import pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "latin1.tsv"
    >>> _ = p.write_bytes(b"text\\tlabel\\ncaf\\xe9\\t1\\n")
    >>> first_undecodable_line(p, "utf-8")
    2
    """
    with opener(path, "rb") as f:
        for number, line in enumerate(f, 1):
            try:
                line.decode(encoding)
            except UnicodeDecodeError:
                return number
    return None


def _label_strings(path, line, raw, task, separator):
    """The label(s) of one example as stripped strings; a list for multi-label tasks."""
    if raw is None or (isinstance(raw, str) and not raw.strip()) or raw == []:
        raise ClassificationDataError(f"{path}:{line}: missing or empty label (give every example a label, or leave label_column out for an unlabeled file)")
    if isinstance(raw, list):
        if task != "multilabel":
            raise ClassificationDataError(
                f"{path}:{line}: found a list of labels {raw!r}; pass task='multilabel'")
        return [_label_strings(path, line, item, "classification", separator) for item in raw]
    if isinstance(raw, dict) or (task == "regression" and isinstance(raw, bool)):
        raise ClassificationDataError(f"{path}:{line}: unsupported label {raw!r}")
    label = raw.strip() if isinstance(raw, str) else json.dumps(raw)
    if task == "multilabel":
        parts = [part.strip() for part in label.split(separator) if part.strip()]
        if not parts:
            raise ClassificationDataError(f"{path}:{line}: missing or empty label")
        return parts
    return label


def _number(label):
    """The finite number a label string spells (`"1.0"` → 1.0), or None for a word."""
    try:
        value = float(label)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def check_label_spellings(path, labels, one_class_ok=False):
    """Raises `ClassificationDataError` where a training file's labels cannot all be meant.

    Checks, over `(line, label string)` pairs: two spellings of one number (`1` and `1.0`
    would be two classes), numbers mixed with words (a stray `positive` among `0`/`1`), and —
    unless `one_class_ok` — a single class (nothing to learn; accuracy 1.0 says nothing).

    Example:
    >>> check_label_spellings("train.tsv", [(2, "0"), (3, "1"), (4, "1.0")])
    Traceback (most recent call last):
    ...
    keras_bert_kit.data.text_classification_data.ClassificationDataError: train.tsv:4: label '1.0' and label '1' (line 3) are the same number, so they would be two classes (write each class one way)
    """
    first = {}
    for line, label in labels:
        first.setdefault(label, line)
    numbers = {label: _number(label) for label in first}
    spelled = {}
    for label, value in numbers.items():
        if value is None:
            continue
        other = spelled.setdefault(value, label)
        if other != label:
            later, earlier = sorted((label, other), key=first.get, reverse=True)
            raise ClassificationDataError(
                f"{path}:{first[later]}: label {later!r} and label {earlier!r} (line "
                f"{first[earlier]}) are the same number, so they would be two classes (write "
                "each class one way)")
    words = [label for label, value in numbers.items() if value is None]
    if words and len(words) < len(first):
        digits = [label for label in first if numbers[label] is not None]
        stray, usual = (words, digits) if len(words) <= len(digits) else (digits, words)
        raise ClassificationDataError(
            f"{path}:{first[stray[0]]}: label {stray[0]!r} among labels like {usual[0]!r} (line "
            f"{first[usual[0]]}): the label column mixes numbers and words (fix the stray "
            "label, or check the label column)")
    if len(first) == 1 and not one_class_ok:
        (label,) = first
        raise ClassificationDataError(
            f"{path}:{first[label]}: every example is labelled {label!r}; a classifier needs at "
            "least two classes (check the label column; for a dev or test file pass the "
            "training file's label_vocabulary=)")


def _convert_labels(path, raw_labels, task, label_vocabulary, separator):
    """Label array and vocabulary from `(line, raw_label)` pairs."""
    strings = [(line, _label_strings(path, line, raw, task, separator)) for line, raw in raw_labels]
    if task == "regression":
        values = []
        for line, label in strings:
            try:
                value = float(label)
            except ValueError:
                raise ClassificationDataError(
                    f"{path}:{line}: regression label {label!r} is not a number (fix the label, or use a classification task)") from None
            if not math.isfinite(value):
                raise ClassificationDataError(f"{path}:{line}: regression label {label!r} is not finite")
            values.append(value)
        return np.asarray(values, np.float32), None
    if label_vocabulary is None:
        flat = [(line, s) for line, label in strings
                for s in ([label] if task == "classification" else label)]
        check_label_spellings(path, flat, one_class_ok=task != "classification")
        label_vocabulary = build_label_vocabulary(label for _, label in flat)
    label_vocabulary = [str(label) for label in label_vocabulary]
    ids = {label: i for i, label in enumerate(label_vocabulary)}
    by_value = {_number(label): label for label in label_vocabulary if _number(label) is not None}

    def lookup(line, label):
        if label not in ids:
            known = by_value.get(_number(label))
            hint = (f"the training file writes this class {known!r}: write it the same way"
                    if known is not None else "fix the label, or add examples of it to the "
                    "training file")
            raise ClassificationDataError(
                f"{path}:{line}: label {label!r} is not in the label vocabulary "
                f"{label_vocabulary} ({hint})")
        return ids[label]

    if task == "classification":
        return np.asarray([lookup(line, label) for line, label in strings], np.int32), label_vocabulary
    multi_hot = np.zeros((len(strings), len(label_vocabulary)), np.float32)
    for row, (line, labels) in enumerate(strings):
        multi_hot[row, [lookup(line, label) for label in labels]] = 1.0
    return multi_hot, label_vocabulary


def make_classification_dataset(examples, batch_size, *, shuffle=True, seed=None, cache=True,
                                drop_remainder=False, preprocessor=None, bucket_boundaries=None,
                                length_fn=None):
    """Batched `tf.data.Dataset` of `(x, y)` (or `x` alone for unlabeled examples).

    `x` is a batch of raw strings, a `(texts, pairs)` tuple of batches, or, when `preprocessor` is
    given, its output on those (mapped on batches in parallel). The dataset is prefetched.

    Length bucketing (`bucket_boundaries`): examples are grouped by length so each batch holds
    examples of one bucket `(b[i-1], b[i]]`, and each packed tensor (rank >= 2) is zero-padded, or
    trimmed of padding, along axis 1 to that bucket's boundary. So the packed batches only take
    the shapes in `bucket_boundaries` (few XLA compilations, little padding), whether the
    preprocessor pads to a fixed `sequence_length` (which then also truncates: make it the last
    boundary) or dynamically. Added pads are 0: id 0 (`[PAD]` in BERT vocabularies), segment 0
    and a masked position. Lengths come from `length_fn`, or else from the preprocessor's
    `padding_mask` (the exact packed length). Packed lengths above the last boundary keep the
    preprocessor's shape. Without a preprocessor batches are still grouped by length, but padding
    is left to the model. Bucketing reorders examples even when `shuffle=False`: predict without it.

    Args:
        examples: `ClassificationExamples`.
        batch_size: examples per batch.
        shuffle: shuffle the examples each epoch (and, with buckets, the order of the batches).
        seed: shuffle seed, for a reproducible order.
        cache: keep the examples (and their lengths) after the first epoch: `True` in memory, a
            string for a cache file prefix, `False` for none.
        drop_remainder: drop the last, smaller batch (of each bucket).
        preprocessor: callable mapping a batch of strings, or a `(texts, pairs)` tuple of batches,
            to a dict of packed tensors, e.g. `BertPreprocessor`.
        bucket_boundaries: increasing packed lengths, e.g. `[32, 64, 128]`, or `None`.
        length_fn: callable mapping a batch of strings to int lengths (e.g. the tokenizer's row
            lengths); a pair's length is the sum over its two texts.

    Example:
    >>> import numpy as np
    >>> labels = np.array([0, 1, 0], "int32")
    >>> ex = ClassificationExamples(["a b", "c", "d e f"], None, labels, ["0", "1"], "mem")
    >>> ds = make_classification_dataset(ex, batch_size=2, shuffle=False)
    >>> [x.numpy().tolist() for x, y in ds]
    [[b'a b', b'c'], [b'd e f']]
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    features = examples.texts if examples.pairs is None else (examples.texts, examples.pairs)
    labeled = examples.labels is not None
    ds = tf.data.Dataset.from_tensor_slices((features, examples.labels) if labeled else (features,))
    boundaries = _check_boundaries(bucket_boundaries)
    if boundaries:
        length_fn = _element_lengths(length_fn, preprocessor)
        ds = (ds.batch(_LENGTH_BATCH_SIZE)
              .map(lambda *e: (*e, length_fn(e[0])), num_parallel_calls=tf.data.AUTOTUNE)
              .unbatch())
    if cache:
        ds = ds.cache("" if cache is True else cache)
    if shuffle:
        ds = ds.shuffle(len(examples), seed=seed, reshuffle_each_iteration=True)
    if boundaries:
        ds = ds.bucket_by_sequence_length(
            lambda *e: e[-1], [b + 1 for b in boundaries], [batch_size] * (len(boundaries) + 1),
            drop_remainder=drop_remainder)
        if shuffle:
            ds = ds.shuffle(len(examples) // batch_size + len(boundaries) + 1, seed=seed,
                            reshuffle_each_iteration=True)
        ds = ds.map(lambda *e: e[:-1])
    else:
        ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    if preprocessor is not None:
        def pack(x, *y):
            packed = preprocessor(x)
            if boundaries:
                packed = _fit_to_boundary(packed, boundaries)
            return (packed, *y)
        ds = ds.map(pack, num_parallel_calls=tf.data.AUTOTUNE)
    if not labeled:
        ds = ds.map(lambda x: x)  # unwraps the 1-tuple `(x,)` into `x`
    return ds.prefetch(tf.data.AUTOTUNE)


def _check_boundaries(bucket_boundaries):
    """Validated bucket boundaries as a list of increasing positive ints (empty for none)."""
    if bucket_boundaries is None:
        return []
    boundaries = [int(b) for b in bucket_boundaries]
    if not boundaries or boundaries[0] < 1 or any(a >= b for a, b in zip(boundaries, boundaries[1:])):
        raise ValueError(f"bucket_boundaries must be increasing positive ints, got {bucket_boundaries}")
    return boundaries


def _element_lengths(length_fn, preprocessor):
    """Function from a batch of features (strings or a pair tuple) to int32 lengths."""
    if length_fn is not None:
        def lengths(x):
            parts = x if isinstance(x, tuple) else (x,)
            return tf.add_n([tf.cast(length_fn(part), tf.int32) for part in parts])
        return lengths
    if preprocessor is None:
        raise ValueError("bucket_boundaries needs a preprocessor or a length_fn to measure lengths")
    return lambda x: tf.reduce_sum(tf.cast(preprocessor(x)["padding_mask"], tf.int32), axis=1)


def _fit_to_boundary(packed, boundaries):
    """Pads or trims every rank >= 2 tensor along axis 1 to the smallest boundary holding the batch.

    Only padding is trimmed: the boundary is at least the batch's longest `padding_mask` row.
    """
    mask = packed["padding_mask"]
    longest = tf.reduce_max(tf.concat([tf.reduce_sum(tf.cast(mask, tf.int32), axis=1), [0]], 0))
    limits = tf.constant(boundaries, tf.int32)
    index = tf.searchsorted(limits, [longest])[0]
    target = tf.where(index < len(boundaries), tf.gather(limits, tf.minimum(index, len(boundaries) - 1)),
                      tf.shape(mask)[1])

    def fit(t):
        if t.shape.rank is None or t.shape.rank < 2:
            return t
        t = t[:, :target]
        return tf.pad(t, [[0, 0], [0, target - tf.shape(t)[1]]] + [[0, 0]] * (t.shape.rank - 2))

    return tf.nest.map_structure(fit, packed)


def example_lengths(examples, preprocessor=None, length_fn=None):
    """Each example's length, as `make_classification_dataset` buckets it, as a NumPy array.

    Lengths come from `length_fn` (a pair: the sum over its two texts), else from the
    preprocessor's `padding_mask` (the packed length, truncation included).

    Example:
    >>> import numpy as np
    >>> ex = ClassificationExamples(["a b", "c", "d e f"], None, None, None, "mem")
    >>> example_lengths(ex, length_fn=lambda x: tf.strings.length(x)).tolist()
    [3, 1, 5]
    """
    measure = _element_lengths(length_fn, preprocessor)
    features = examples.texts if examples.pairs is None else (examples.texts, examples.pairs)
    batches = tf.data.Dataset.from_tensor_slices(features).batch(_LENGTH_BATCH_SIZE)
    lengths = [measure(x).numpy() for x in batches]
    return np.concatenate(lengths).astype(np.int32) if lengths else np.zeros(0, np.int32)


def classification_batches(examples, indices, *, preprocessor=None, bucket_boundaries=None):
    """Batches `(x, y)` of `examples` picked by a dataset of index vectors, packed like
    `make_classification_dataset`'s (see `data/epoch_batches.py`: a resumable run's batches).

    Args:
        examples: labelled `ClassificationExamples`.
        indices: a `tf.data.Dataset` of int32 index vectors (e.g. `index_batches`), one a batch.
        preprocessor: as `make_classification_dataset` (None: raw strings).
        bucket_boundaries: as `make_classification_dataset`: each packed batch is padded or
            trimmed to the smallest boundary that holds it (its examples share a bucket).

    Example:
    >>> import numpy as np
    >>> ex = ClassificationExamples(["a", "b", "c"], None, np.array([0, 1, 0], "int32"),
    ...                             ["0", "1"], "mem")
    >>> batches = classification_batches(ex, tf.data.Dataset.from_tensor_slices([[2, 0]]))
    >>> [(x.numpy().tolist(), y.numpy().tolist()) for x, y in batches]
    [([b'c', b'a'], [0, 0])]
    """
    boundaries = _check_boundaries(bucket_boundaries)
    texts = tf.constant(examples.texts)
    pairs = None if examples.pairs is None else tf.constant(examples.pairs)
    labels = tf.constant(examples.labels)

    def pick(index):
        x = tf.gather(texts, index)
        if pairs is not None:
            x = (x, tf.gather(pairs, index))
        if preprocessor is not None:
            x = preprocessor(x)
            if boundaries:
                x = _fit_to_boundary(x, boundaries)
        return x, tf.gather(labels, index)

    return indices.map(pick, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
