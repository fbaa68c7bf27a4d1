"""Decoders of served outputs: one example's export outputs → Python (entities, answers, classes).

The exports return per-token tags with UTF-8 byte offsets (tagger), an answer string with its
byte span (QA), or class probabilities and labels (classifiers); these functions turn one
example's outputs into `str` spans of the input text and plain JSON-able values. They need only
numpy, so a client can decode without TensorFlow. Each task model names its decoder
(`BertTask.decoder`), the export records that name in `assets.extra/keras_bert_kit.json`, and
`DECODERS` maps it to a row function `fn(text, outputs, text_pair=None) -> dict`.

Turning a tagger's per-token outputs into entities, for one text:
1. Words: walk the positions with `token_start >= 0`; a position with `word_start == 1` opens a
   new word, the others (`##` continuation pieces) extend the open one. Words are BERT's basic
   words: split at whitespace and punctuation, one per CJK character (as CoNLL-style tokens,
   so `"Bath."` gives `"Bath"` and `"."`).
2. Tags: a word's tag is `label` at its first piece (its probability: `score` there).
3. Entities: read the tag sequence with BIO / BIOES rules (`text.tags.get_entities`: an
   entity opens at `B-`/`S-`, or at an `I-`/`E-` after `O` or a type change, and closes
   before `B-`/`S-`/`O`, after `E-`/`S-`, or at a type change).
4. Span: from `token_start` of the first word's first piece to `token_end` of the last word's
   last piece. These are byte offsets: `text.encode("utf-8")[start:end].decode("utf-8")` is
   the entity's original text (case, accents and inner whitespace kept).
"""

import numpy as np

from keras_bert_kit.text.tags import get_entities


def _as_bytes(text):
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _char_index(data, position):
    """`str` index of UTF-8 byte `position` of `data` (decoded with replacement characters)."""
    return len(data[:position].decode("utf-8", errors="replace"))


def decode_words(text, outputs):
    """Words of one text with their tags, from a tagger export's `serving_default` outputs.

    A word opens at a piece with `word_start == 1` and takes the following `##` pieces (see the module
    docstring); its tag and score are read at its first piece.

    Args:
        text: the input string (`str` or UTF-8 `bytes`).
        outputs: that example's outputs: `label`, `word_start`, `token_start`, `token_end`
            (`[seq]` arrays or lists) and optionally `score`.

    Returns:
        A list of `{"text", "tag", "score", "start", "end", "byte_start", "byte_end"}` dicts;
        `start` / `end` index the text as `str`, `byte_*` its UTF-8 bytes.

    Example:
    >>> decode_words("Zoë went", {"label": ["O", "B-PER", "I-PER", "O", "O"],
    ...                           "word_start": [0, 1, 0, 1, 0],
    ...                           "token_start": [-1, 0, 2, 5, -1], "token_end": [-1, 2, 4, 9, -1]})[0]
    {'text': 'Zoë', 'tag': 'B-PER', 'score': None, 'start': 0, 'end': 3, 'byte_start': 0, 'byte_end': 4}
    """
    data = _as_bytes(text)
    labels = [_text(v) for v in np.asarray(outputs["label"]).ravel()]
    word_start = np.asarray(outputs["word_start"]).ravel()
    starts = np.asarray(outputs["token_start"]).ravel()
    ends = np.asarray(outputs["token_end"]).ravel()
    scores = outputs.get("score")
    scores = None if scores is None else np.asarray(scores, np.float64).ravel()
    words = []
    for i in range(len(labels)):
        if starts[i] < 0:
            continue
        if word_start[i] or not words:
            words.append({"tag": labels[i],
                          "score": None if scores is None else float(scores[i]),
                          "byte_start": int(starts[i]), "byte_end": int(ends[i])})
        else:
            words[-1]["byte_end"] = max(words[-1]["byte_end"], int(ends[i]))
    result = []
    for word in words:
        start, end = word["byte_start"], word["byte_end"]
        result.append({"text": data[start:end].decode("utf-8", "replace"), "tag": word["tag"],
                       "score": word["score"], "start": _char_index(data, start),
                       "end": _char_index(data, end), "byte_start": start, "byte_end": end})
    return result


def decode_entities(text, outputs):
    """Entities of one text from a tagger export's outputs (BIO or BIOES tags).

    Words come from `decode_words`; their tags are read as entities with CoNLL semantics
    (`text.tags.get_entities`), and an entity spans from its first word's first byte to its
    last word's last byte, so `text[start:end]` is its original text (inner spacing kept).

    Args:
        text: the input string (`str` or UTF-8 `bytes`).
        outputs: that example's `label`, `word_start`, `token_start`, `token_end` (and
            optionally `score`).

    Returns:
        A list of `{"text", "type", "score", "start", "end", "byte_start", "byte_end"}` dicts;
        `score` is the mean tag probability of the entity's words (None without `score`).

    Raises:
        ValueError: a tag that is neither `O` nor `B-`/`I-`/`E-`/`S-<TYPE>` (e.g. POS tags:
            use `decode_words`).

    Example:
    >>> decode_entities("Zoë went", {"label": ["O", "B-PER", "I-PER", "O", "O"],
    ...                              "word_start": [0, 1, 0, 1, 0], "token_start": [-1, 0, 2, 5, -1],
    ...                              "token_end": [-1, 2, 4, 9, -1]})
    [{'text': 'Zoë', 'type': 'PER', 'score': None, 'start': 0, 'end': 3, 'byte_start': 0, 'byte_end': 4}]
    """
    data = _as_bytes(text)
    words = decode_words(text, outputs)
    entities = []
    for entity_type, first, last in get_entities([w["tag"] for w in words]):
        start, end = words[first]["byte_start"], words[last]["byte_end"]
        scores = [w["score"] for w in words[first:last + 1]]
        entities.append({
            "text": data[start:end].decode("utf-8", "replace"), "type": entity_type,
            "score": None if None in scores else float(np.mean(scores)),
            "start": _char_index(data, start), "end": _char_index(data, end),
            "byte_start": start, "byte_end": end})
    return entities


def decode_answer(context, outputs):
    """The answer of one (question, context) example from a QA export's outputs.

    Args:
        context: the context string (`str` or UTF-8 `bytes`).
        outputs: that example's `answer`, `answer_start`, `answer_end`, `score`, `null_score`.

    Returns:
        `{"answer", "score", "null_score", "start", "end", "byte_start", "byte_end"}`; `start` /
        `end` index the context as `str` (None, and `answer` `""`, when there is no span).

    Example:
    >>> decode_answer("Emma loves Mr. Knightley", {"answer": b"Mr. Knightley", "answer_start": 11,
    ...                                            "answer_end": 24, "score": 3.5, "null_score": 0.5})
    {'answer': 'Mr. Knightley', 'score': 3.5, 'null_score': 0.5, 'start': 11, 'end': 24, 'byte_start': 11, 'byte_end': 24}
    """
    data = _as_bytes(context)
    byte_start, byte_end = int(outputs["answer_start"]), int(outputs["answer_end"])
    found = byte_start >= 0
    return {"answer": _text(outputs["answer"]),
            "score": float(outputs["score"]), "null_score": float(outputs["null_score"]),
            "start": _char_index(data, byte_start) if found else None,
            "end": _char_index(data, byte_end) if found else None,
            "byte_start": byte_start if found else None, "byte_end": byte_end if found else None}


def plain(value):
    """A served value as plain Python: bytes → str, numpy arrays → lists, numpy scalars → numbers.

    Example:
    >>> plain(np.array([b"B-PER", b"O"])), plain(np.float32(0.5)), plain("café".encode())
    (['B-PER', 'O'], 0.5, 'café')
    """
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, np.ndarray):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, list | tuple):
        return [plain(v) for v in value]
    return value


def decode_classes(outputs):
    """A classifier's (or multiple-choice model's) outputs for one example, as plain Python.

    Args:
        outputs: that example's `probabilities`, `label_id` and `label` (regression: `score`).

    Example:
    >>> decode_classes({"probabilities": np.array([0.25, 0.75], "float32"),
    ...                 "label_id": np.int32(1), "label": b"positive"})
    {'probabilities': [0.25, 0.75], 'label_id': 1, 'label': 'positive'}
    """
    return {name: plain(value) for name, value in outputs.items()}


def classes_row(text, outputs, text_pair=None):
    """Row of a classifier: the text (and pair) and every output (what `kbk predict` prints)."""
    row = {"text": plain(text)}
    if text_pair is not None:
        row["text_pair"] = plain(text_pair)
    row.update(decode_classes(outputs))
    return row


def entities_row(text, outputs, text_pair=None):
    """Row of a tagger: the text and its entities, or its tagged words when the tags are not
    BIO / BIOES (e.g. part-of-speech tags)."""
    del text_pair
    try:
        return {"text": plain(text), "entities": decode_entities(text, outputs)}
    except ValueError:
        return {"text": plain(text), "words": decode_words(text, outputs)}


def words_row(text, outputs, text_pair=None):
    """Row of a tagger read word by word: the text and each word with its tag."""
    del text_pair
    return {"text": plain(text), "words": decode_words(text, outputs)}


def choices_row(text, outputs, text_pair=None):
    """Row of a multiple-choice model: the context, its choices and the outputs (`label_id`: the
    picked choice)."""
    row = {"text": plain(text)}
    if text_pair is not None:
        row["choices"] = plain(text_pair)
    row.update(decode_classes(outputs))
    return row


def answer_row(text, outputs, text_pair=None):
    """Row of a question answerer: the question, the context and the answer with its offsets."""
    if text_pair is None:
        raise ValueError("the answer decoder needs the context (text_pair)")
    return {"question": plain(text), "context": plain(text_pair), **decode_answer(text_pair, outputs)}


DECODERS = {
    "classes": classes_row,
    "choices": choices_row,
    "entities": entities_row,
    "words": words_row,
    "answer": answer_row,
}
