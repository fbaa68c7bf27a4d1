"""Raw texts as numpy arrays of UTF-8 bytes: what `fit`/`predict` on strings and `kbk predict` read.

Numpy only: no TensorFlow or Keras import, so `export/predict.py` (and a client) can use these
without loading either. A `tf.string` tensor is accepted when TensorFlow is already loaded.
What packs the texts into token ids (the preprocessors) lives beside this, in `text/`.
"""

import sys

import numpy as np


def utf8(text):
    """A text as UTF-8 bytes: `bytes` as they are (invalid UTF-8 included), `str` encoded.

    A `str` carrying undecodable bytes as surrogate escapes (`os.fsdecode`,
    `errors="surrogateescape"`) gets those bytes back; other lone surrogates become `?`.

    Args:
        text: a `str` or `bytes`.

    Example:
    >>> utf8("café"), utf8(b"bad \\xff"), utf8(b"bad \\xff".decode("utf-8", "surrogateescape"))
    (b'caf\\xc3\\xa9', b'bad \\xff', b'bad \\xff')
    """
    if isinstance(text, bytes):
        return bytes(text)
    try:
        return text.encode("utf-8", "surrogateescape")
    except UnicodeEncodeError:
        return text.encode("utf-8", "replace")


def text_array(x):
    """Raw texts as a numpy object array of UTF-8 bytes, or None when `x` is not raw text.

    Raw text: a `str` or `bytes`, a list (or nested lists) of them, a numpy `str` / `bytes` /
    object array of them, a `tf.string` tensor, or a pandas Series of them. Bytes are kept as
    given, invalid UTF-8 included: the model's tokenizer reads each invalid sequence as U+FFFD,
    as the exported graph does. An empty list or array is raw text with no rows.

    Args:
        x: anything; raw text is converted, the rest gives None.

    Example:
    >>> text_array(["good", b"bad \\xff"]).tolist(), text_array([]).shape, text_array([1, 2])
    ([b'good', b'bad \\xff'], (0,), None)
    """
    # A tf.Tensor can only exist once TensorFlow is loaded; this module never loads it.
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(x, tf.Tensor):
        if x.dtype != tf.string:
            return None
        x = x.numpy()
    elif type(x).__module__.partition(".")[0] == "pandas" and hasattr(x, "to_numpy"):
        x = x.to_numpy()
    if isinstance(x, str | bytes):
        x = [x]
    if not isinstance(x, list | np.ndarray):
        return None
    if isinstance(x, list) and not x:
        return np.empty(0, dtype=object)
    try:
        array = np.asarray(x, dtype=object)
    except ValueError:  # ragged nested lists
        return None
    if array.ndim == 0 or not all(isinstance(v, str | bytes) for v in array.flat):
        return None
    return np.vectorize(utf8, otypes=[object])(array) if array.size else array


def raw_text_features(x):
    """`x` (texts, or a `(texts_a, texts_b)` pair of them) as arrays of UTF-8 bytes, or None.

    Args:
        x: texts (see `text_array`), or a 2-tuple of them.

    Example:
    >>> [part.tolist() for part in raw_text_features((["who?"], ["Ann."]))]
    [[b'who?'], [b'Ann.']]
    >>> raw_text_features(([b"a"], [1])) is None
    True
    """
    if isinstance(x, tuple) and len(x) == 2:
        parts = tuple(text_array(part) for part in x)
        return None if any(part is None for part in parts) else parts
    return text_array(x)


def is_raw_text(x):
    """Whether `x` is texts or a pair of texts (`raw_text_features` is not None)."""
    return raw_text_features(x) is not None


def count_texts(features):
    """The number of examples in `raw_text_features` output (a pair counts its first texts).

    Example:
    >>> count_texts(raw_text_features((["a", "b"], ["c", "d"])))
    2
    """
    return len(features[0] if isinstance(features, tuple) else features)
