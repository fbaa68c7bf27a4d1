"""Client-side decoding of exported tagger and QA outputs: entities and answers with offsets.

The exports return per-token tags with UTF-8 byte offsets (tagger) and an answer string with its
byte span (QA); these helpers turn one example's outputs into `str` spans of the input text, as
`kbk predict` prints them. They need only numpy and `ner_metrics.get_entities` (BIO / BIOES).
"""

import numpy as np

from keras_bert_kit.training.ner_metrics import get_entities


def _as_bytes(text):
    return text.encode("utf-8") if isinstance(text, str) else bytes(text)


def _text(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _char_index(data, position):
    """`str` index of UTF-8 byte `position` of `data` (decoded with replacement characters)."""
    return len(data[:position].decode("utf-8", errors="replace"))


def decode_words(text, outputs):
    """Words of one text with their tags, from a tagger export's `serving_default` outputs.

    A word opens at a piece with `word_start == 1` and takes the following `##` pieces (see the
    `ServingModule` docstring); its tag and score are read at its first piece.

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
    (`ner_metrics.get_entities`), and an entity spans from its first word's first byte to its
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
