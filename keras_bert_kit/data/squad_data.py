"""Extractive question answering data: SQuAD v1.1 / v2.0 files and tf.data of their windows.

- `read_squad`: a SQuAD JSON file → `SquadExample`s, every answer checked against its context.
  Problems are raised as one `SquadDataError` naming the file and the question id.
- `make_squad_dataset`: features → batched `(x, {"start_logits": ..., "end_logits": ...})`;
  `squad_batches`: the same batches picked by index vectors (a resumable run's epochs).

Doc-stride windows and n-best decoding (`SquadExample`, `SquadFeatures`, `make_squad_features`,
`decode_answers`) are the question answerer's preprocessing and live in
`keras_bert_kit.text.squad_preprocessor`, where the model reads them too; those names are
re-exported here for the training code that imports them from this module.
"""

import json
import os

import tensorflow as tf

from keras_bert_kit.text.squad_preprocessor import (  # noqa: F401  (re-exported)
    SquadDataError, SquadExample, SquadFeatures, decode_answers, make_squad_features)


def _field(record, key, kind, where):
    if not isinstance(record, dict) or key not in record:
        raise SquadDataError(f"{where}: missing {key!r}")
    value = record[key]
    if not isinstance(value, kind):
        raise SquadDataError(f"{where}: {key!r} is a {type(value).__name__}, expected "
                             f"{kind.__name__ if isinstance(kind, type) else kind}")
    return value


def _read_question(path, qa, context, title, position):
    qas_id = str(_field(qa, "id", (str, int), f"{path}: {position}"))
    where = f"{path}: question id {qas_id!r} ({position})"
    question = _field(qa, "question", str, where)
    if not question.strip():
        raise SquadDataError(f"{where}: empty question")
    if not context.strip():
        raise SquadDataError(f"{where}: empty context")
    is_impossible = bool(qa.get("is_impossible", False))
    raw_answers = qa.get("answers", [])
    if not isinstance(raw_answers, list):
        raise SquadDataError(f"{where}: 'answers' is a {type(raw_answers).__name__}, not a list")
    if is_impossible and raw_answers:
        raise SquadDataError(f"{where}: is_impossible but has {len(raw_answers)} answer(s)")
    if not is_impossible and not raw_answers:
        raise SquadDataError(f"{where}: no answers (and not is_impossible)")
    answers = []
    for answer in raw_answers:
        text = _field(answer, "text", str, where)
        start = _field(answer, "answer_start", int, where)
        if not text.strip():
            raise SquadDataError(f"{where}: empty answer text")
        found = context[start:start + len(text)] if start >= 0 else ""
        if found != text:
            raise SquadDataError(f"{where}: answer {text!r} is not in the context at "
                                 f"answer_start={start} (the context has {found!r} there)")
        answers.append({"text": text, "start": start})
    return SquadExample(qas_id, question, context, answers, is_impossible, title)


def read_squad(path):
    """Reads a SQuAD v1.1 or v2.0 JSON file into `SquadExample`s (one per question).

    Every answer must be the exact substring of its context at `answer_start`; contexts and
    questions must not be blank; answerable questions need answers and v2.0 unanswerable ones
    (`is_impossible`) none; question ids must be unique.

    Args:
        path: the JSON file (`{"data": [{"title", "paragraphs": [{"context", "qas": [...]}]}]}`).

    Returns:
        A list of `SquadExample`.

    Example:
    >>> import json, pathlib, tempfile
    >>> p = pathlib.Path(tempfile.mkdtemp()) / "dev.json"
    >>> qa = {"id": "q1", "question": "Who?", "answers": [{"text": "Ann", "answer_start": 0}]}
    >>> _ = p.write_text(json.dumps({"data": [{"title": "t", "paragraphs": [
    ...     {"context": "Ann met Bob.", "qas": [qa]}]}]}))
    >>> [(e.qas_id, e.answers) for e in read_squad(p)]
    [('q1', [{'text': 'Ann', 'start': 0}])]
    """
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"SQuAD file not found: {path!r}")
    try:
        with open(path, encoding="utf-8") as f:
            document = json.load(f)
    except json.JSONDecodeError as e:
        raise SquadDataError(f"{path}:{e.lineno}: not valid JSON ({e.msg})") from None
    except UnicodeDecodeError as e:
        raise SquadDataError(f"{path}: not UTF-8 ({e})") from None
    examples, seen = [], {}
    for a, article in enumerate(_field(document, "data", list, path)):
        title = article.get("title", "") if isinstance(article, dict) else ""
        for p, paragraph in enumerate(_field(article, "paragraphs", list, f"{path}: data[{a}]")):
            where = f"{path}: data[{a}].paragraphs[{p}]"
            context = _field(paragraph, "context", str, where)
            for q, qa in enumerate(_field(paragraph, "qas", list, where)):
                example = _read_question(path, qa, context, title,
                                         f"data[{a}].paragraphs[{p}].qas[{q}]")
                if example.qas_id in seen:
                    raise SquadDataError(f"{path}: question id {example.qas_id!r} "
                                         f"(data[{a}].paragraphs[{p}].qas[{q}]) is also used at "
                                         f"{seen[example.qas_id]}")
                seen[example.qas_id] = f"data[{a}].paragraphs[{p}].qas[{q}]"
                examples.append(example)
    if not examples:
        raise SquadDataError(f"{path}: no questions")
    return examples


def make_squad_dataset(features, batch_size, *, shuffle=True, seed=None):
    """Batched `(x, {"start_logits": start_positions, "end_logits": end_positions})`.

    Example:
    >>> from keras_bert_kit.text.bert_tokenizer import BertTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "?", "ann", "met", "bob"]
    >>> train = [SquadExample("q1", "Who?", "Ann met Bob", [{"text": "Bob", "start": 8}])]
    >>> features = make_squad_features(train, BertTokenizer(vocab), 12, training=True)
    >>> x, y = next(iter(make_squad_dataset(features, 32, seed=0)))
    >>> x["token_ids"].shape, y["start_logits"].numpy().tolist()
    (TensorShape([1, 12]), [6])
    """
    ds = tf.data.Dataset.from_tensor_slices(
        (features.inputs(),
         {"start_logits": features.start_positions, "end_logits": features.end_positions}))
    if shuffle:
        ds = ds.shuffle(len(features), seed=seed, reshuffle_each_iteration=True)
    return ds.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def squad_batches(features, indices):
    """Batches of `make_squad_dataset`'s form, of the windows picked by a dataset of index vectors
    (a resumable run's epochs: `data/epoch_batches.py`).

    Example:
    >>> from keras_bert_kit.text.bert_tokenizer import BertTokenizer
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "?", "ann", "met", "bob"]
    >>> train = [SquadExample("q1", "Who?", "Ann met Bob", [{"text": "Bob", "start": 8}])]
    >>> features = make_squad_features(train, BertTokenizer(vocab), 12, training=True)
    >>> x, y = next(iter(squad_batches(features, tf.data.Dataset.from_tensor_slices([[0, 0]]))))
    >>> x["token_ids"].shape, y["start_logits"].numpy().tolist()
    (TensorShape([2, 12]), [6, 6])
    """
    inputs = {k: tf.constant(v) for k, v in features.inputs().items()}
    starts = tf.constant(features.start_positions)
    ends = tf.constant(features.end_positions)

    def pick(index):
        return ({k: tf.gather(v, index) for k, v in inputs.items()},
                {"start_logits": tf.gather(starts, index), "end_logits": tf.gather(ends, index)})

    return indices.map(pick, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
