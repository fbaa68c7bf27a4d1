"""SQuAD preprocessing: doc-stride windows over question/context pairs, n-best span decoding.

- `make_squad_features`: examples → `SquadFeatures`: `[CLS] question [SEP] context [SEP]`
  windows of `sequence_length` tokens; a context longer than a window is covered by windows
  starting `doc_stride` tokens apart, so every context token is in some window, and each token
  knows the window where it has the most context on both sides. Training labels are the
  answer's first and last token in each window holding the whole answer, else `[CLS]` (0).
- `decode_answers`: start/end logits → the n best spans per question across its windows,
  mapped back to the exact substring of the original context through the tokenizer's offsets,
  and the empty (null) answer for SQuAD v2.0 when it beats the best span by a threshold.
- `SquadPreprocessor`: a `BertPreprocessor` (same in-graph pair packing) that also does the
  above with its own tokenizer and window length: what `BertQuestionAnswerer` packs and decodes
  with.
"""

import dataclasses

import keras
import numpy as np
import tensorflow as tf

from keras_bert_kit.errors import UserError
from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
from keras_bert_kit.text.bert_tokenizer import BertTokenizer

_TOKENIZE_BATCH = 1024


class SquadDataError(UserError):
    """A problem in a SQuAD file; the message names the file and the question id."""


@dataclasses.dataclass
class SquadExample:
    """One question about one context.

    Args:
        qas_id: the question id.
        question: the question text.
        context: the paragraph the answer comes from.
        answers: gold answers, dicts `{"text", "start"}` with `start` a character index into
            `context` (empty for unanswerable questions and unlabelled input).
        is_impossible: SQuAD v2.0's unanswerable question.
        title: the article title.

    Example:
    >>> ex = SquadExample("q1", "Who met Bob?", "Ann met Bob.", [{"text": "Ann", "start": 0}])
    >>> ex.context[ex.answers[0]["start"]:][:3]
    'Ann'
    """

    qas_id: str
    question: str
    context: str
    answers: list = dataclasses.field(default_factory=list)
    is_impossible: bool = False
    title: str = ""


@dataclasses.dataclass
class SquadFeatures:
    """Packed windows of question/context pairs, from `make_squad_features`.

    Args:
        token_ids, segment_ids, padding_mask: int32 `[windows, sequence_length]` model inputs.
        start_positions, end_positions: int32 `[windows]` answer token positions (0 = `[CLS]`:
            no answer in this window).
        example_index: int32 `[windows]`, the example of each window.
        token_to_char: int32 `[windows, sequence_length, 2]` character span in the context of
            each context token; -1 for question, special and padding tokens.
        max_context: bool `[windows, sequence_length]`: this window is the one where the token
            has the most context.
        examples: the `SquadExample`s.
    """

    token_ids: np.ndarray
    segment_ids: np.ndarray
    padding_mask: np.ndarray
    start_positions: np.ndarray
    end_positions: np.ndarray
    example_index: np.ndarray
    token_to_char: np.ndarray
    max_context: np.ndarray
    examples: list

    def __len__(self):
        return len(self.token_ids)

    def inputs(self):
        """The model inputs as a dict of arrays."""
        return {"token_ids": self.token_ids, "segment_ids": self.segment_ids,
                "padding_mask": self.padding_mask}


def _context_tokens(tokenizer, contexts):
    """Token ids and character spans of each distinct context, tokenized in batches."""
    distinct = sorted(set(contexts))
    result = {}
    for start in range(0, len(distinct), _TOKENIZE_BATCH):
        batch = distinct[start:start + _TOKENIZE_BATCH]
        ids, starts, ends = tokenizer.tokenize_with_offsets(tf.constant(batch, tf.string))
        for text, i, s, e in zip(batch, ids.to_list(), starts.to_list(), ends.to_list()):
            result[text] = (i, np.array(BertTokenizer.char_offsets(text, s, e),
                                        np.int32).reshape(-1, 2))
    return result


def _answer_tokens(example, spans):
    """First and last context token of the first gold answer; raises if it has no tokens."""
    answer = example.answers[0]
    first_char, end_char = answer["start"], answer["start"] + len(answer["text"])
    inside = np.flatnonzero((spans[:, 1] > first_char) & (spans[:, 0] < end_char))
    if not len(inside):
        raise SquadDataError(f"question id {example.qas_id!r}: the answer "
                             f"{answer['text']!r} has no tokens (the tokenizer drops it)")
    return int(inside[0]), int(inside[-1])


def _windows(num_tokens, capacity, doc_stride):
    """`(start, length)` of the context windows: `doc_stride` apart until the end is covered."""
    windows, start = [], 0
    while True:
        length = min(capacity, num_tokens - start)
        windows.append((start, length))
        if start + length >= num_tokens:
            return windows
        start += min(length, doc_stride)


def _max_context(windows, num_tokens):
    """Per window, a bool array over context tokens: is this the token's best window."""
    positions = np.arange(num_tokens)
    scores = np.full((len(windows), num_tokens), -np.inf)
    for w, (start, length) in enumerate(windows):
        inside = (positions >= start) & (positions < start + length)
        score = np.minimum(positions - start, start + length - 1 - positions) + 0.01 * length
        scores[w, inside] = score[inside]
    best = np.argmax(scores, axis=0) if num_tokens else np.zeros(0, int)
    return [best[start:start + length] == w for w, (start, length) in enumerate(windows)]


def make_squad_features(examples, tokenizer, sequence_length=384, *, max_query_length=64,
                        doc_stride=128, training=False):
    """Packs examples into `[CLS] question [SEP] context-window [SEP]` features.

    Args:
        examples: `SquadExample`s.
        tokenizer: the `BertTokenizer`.
        sequence_length: tokens per window, special tokens included.
        max_query_length: questions are cut to this many tokens.
        doc_stride: distance between the starts of consecutive context windows, in tokens
            (at most the window's context capacity, so windows overlap or touch).
        training: compute answer positions (answerable examples need answers).

    Returns:
        `SquadFeatures`.

    Example:
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "?", "ann", "met", "bob", "."]
    >>> ex = SquadExample("q1", "Who?", "Ann met Bob.", [{"text": "Bob", "start": 8}])
    >>> f = make_squad_features([ex], BertTokenizer(vocab), 12, training=True)
    >>> f.token_ids[0].tolist(), int(f.start_positions[0]), f.token_to_char[0, 6].tolist()
    ([2, 5, 6, 3, 7, 8, 9, 10, 3, 0, 0, 0], 6, [8, 11])
    """
    if doc_stride < 1 or max_query_length < 1:
        raise ValueError(f"doc_stride ({doc_stride}) and max_query_length ({max_query_length}) "
                         "must be >= 1")
    questions = []
    for start in range(0, len(examples), _TOKENIZE_BATCH):
        batch = [e.question for e in examples[start:start + _TOKENIZE_BATCH]]
        questions += tokenizer(tf.constant(batch, tf.string)).to_list()
    contexts = _context_tokens(tokenizer, [e.context for e in examples])
    rows = {k: [] for k in ("token_ids", "segment_ids", "length", "start", "end", "example",
                            "chars", "max")}
    cls_id, sep_id, pad_id = tokenizer.cls_token_id, tokenizer.sep_token_id, tokenizer.pad_token_id
    for index, example in enumerate(examples):
        question = questions[index][:max_query_length]
        offset = len(question) + 2
        capacity = sequence_length - offset - 1
        if capacity < 1:
            raise ValueError(f"sequence_length={sequence_length} leaves no room for the context "
                             f"after a {len(question)}-token question (max_query_length="
                             f"{max_query_length})")
        ids, spans = contexts[example.context]
        answer = None
        if training and not example.is_impossible:
            answer = _answer_tokens(example, spans)
        windows = _windows(len(ids), capacity, doc_stride)
        for (start, length), is_max in zip(windows, _max_context(windows, len(ids))):
            token_ids = [cls_id, *question, sep_id, *ids[start:start + length], sep_id]
            padding = sequence_length - len(token_ids)
            rows["length"].append(len(token_ids))
            rows["token_ids"].append(token_ids + [pad_id] * padding)
            rows["segment_ids"].append([0] * offset + [1] * (length + 1) + [0] * padding)
            chars = np.full((sequence_length, 2), -1, np.int32)
            chars[offset:offset + length] = spans[start:start + length]
            rows["chars"].append(chars)
            best = np.zeros(sequence_length, bool)
            best[offset:offset + length] = is_max
            rows["max"].append(best)
            first = last = 0
            if answer is not None and start <= answer[0] and answer[1] < start + length:
                first, last = offset + answer[0] - start, offset + answer[1] - start
            rows["start"].append(first)
            rows["end"].append(last)
            rows["example"].append(index)
    token_ids = np.array(rows["token_ids"], np.int32).reshape(-1, sequence_length)
    return SquadFeatures(
        token_ids=token_ids,
        segment_ids=np.array(rows["segment_ids"], np.int32).reshape(-1, sequence_length),
        padding_mask=(np.arange(sequence_length)[None] < np.array(rows["length"])[:, None])
        .astype(np.int32).reshape(-1, sequence_length),
        start_positions=np.array(rows["start"], np.int32),
        end_positions=np.array(rows["end"], np.int32),
        example_index=np.array(rows["example"], np.int32),
        token_to_char=np.array(rows["chars"], np.int32).reshape(-1, sequence_length, 2),
        max_context=np.array(rows["max"], bool).reshape(-1, sequence_length),
        examples=list(examples))


def _softmax(scores):
    scores = np.asarray(scores, np.float64)
    if not len(scores):
        return scores
    exp = np.exp(scores - scores.max())
    return exp / exp.sum()


def decode_answers(features, start_logits, end_logits, *, n_best=20, max_answer_length=30,
                   null_threshold=None):
    """The best answers of each question from its windows' start/end logits.

    A span runs from a start token to an end token of the context, no longer than
    `max_answer_length` tokens, its start in the window where that token has the most context;
    its score is start logit + end logit, and its text the context from the first character of
    its first token to the last character of its last token (an exact substring of the
    context). The null score is the lowest `[CLS]` start + end logit over the question's
    windows.

    Args:
        features: the `SquadFeatures` the logits are for.
        start_logits, end_logits: float `[windows, sequence_length]`.
        n_best: candidates per window and answers kept per question.
        max_answer_length: the longest answer, in tokens.
        null_threshold: None: always answer with the best span (SQuAD v1.1); a number: answer
            `""` when the null score exceeds the best span's score by more than this (v2.0).

    Returns:
        A dict question id → `{"text", "start", "end", "score", "null_score", "probability",
        "n_best"}`; `start`/`end` index the context (None for the empty answer) and `n_best`
        lists the kept candidates as `{"text", "start", "end", "score", "probability"}`
        (probabilities: softmax over the candidates' scores and, with a threshold, the null).

    Example:
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "?", "jane", "fairfax", "left"]
    >>> ex = SquadExample("q1", "Who?", "Jane  Fairfax left.")
    >>> features = make_squad_features([ex], BertTokenizer(vocab), 10)
    >>> start, end = np.zeros((1, 10)), np.zeros((1, 10))
    >>> start[0, 4], end[0, 5] = 3.0, 3.0                  # "jane" ... "fairfax"
    >>> answers = decode_answers(features, start, end, null_threshold=0.0)
    >>> answers["q1"]["text"], answers["q1"]["start"], answers["q1"]["end"]
    ('Jane  Fairfax', 0, 13)
    """
    start_logits, end_logits = np.asarray(start_logits), np.asarray(end_logits)
    candidates = {}
    null_scores = {}
    for f in range(len(features)):
        index = int(features.example_index[f])
        chars = features.token_to_char[f]
        is_context = chars[:, 0] >= 0
        null_score = float(start_logits[f, 0] + end_logits[f, 0])
        null_scores[index] = min(null_scores.get(index, np.inf), null_score)
        start_pool = np.flatnonzero(is_context & features.max_context[f])
        end_pool = np.flatnonzero(is_context)
        starts = start_pool[np.argsort(-start_logits[f, start_pool], kind="stable")[:n_best]]
        ends = end_pool[np.argsort(-end_logits[f, end_pool], kind="stable")[:n_best]]
        found = candidates.setdefault(index, {})
        for s in starts:
            for e in ends:
                if e < s or e - s + 1 > max_answer_length:
                    continue
                span = (int(chars[s, 0]), int(chars[e, 1]))
                score = float(start_logits[f, s] + end_logits[f, e])
                if score > found.get(span, -np.inf):
                    found[span] = score
    results = {}
    for index, example in enumerate(features.examples):
        ranked = sorted(candidates.get(index, {}).items(), key=lambda item: -item[1])[:n_best]
        null_score = null_scores.get(index, 0.0)
        scores = [score for _, score in ranked]
        probabilities = _softmax(scores + ([null_score] if null_threshold is not None else []))
        n_best_list = [{"text": example.context[s:e], "start": s, "end": e, "score": score,
                        "probability": float(p)}
                       for ((s, e), score), p in zip(ranked, probabilities)]
        answer_null = not n_best_list or (
            null_threshold is not None and null_score - n_best_list[0]["score"] > null_threshold)
        if answer_null:
            best = {"text": "", "start": None, "end": None, "score": null_score,
                    "probability": float(probabilities[-1]) if null_threshold is not None
                    and len(probabilities) else 1.0}
        else:
            best = dict(n_best_list[0])
        best.update(null_score=null_score, n_best=n_best_list)
        results[example.qas_id] = best
    return results


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class SquadPreprocessor(BertPreprocessor):
    """A `BertPreprocessor` for extractive QA: packs pairs like its base, and windows contexts.

    Calling it packs `(questions, contexts)` exactly as `BertPreprocessor` does (in-graph, for
    `fit` on raw text and for exports, which answer from the first window). Its Python-side
    methods cover contexts of any length: `features` packs doc-stride windows of
    `sequence_length` tokens (`make_squad_features`) and `decode_answers` reads the best spans
    of their logits back as exact substrings of the contexts. The config is that of
    `BertPreprocessor`.

    Args:
        tokenizer: the `BertTokenizer`.
        sequence_length: the window length, special tokens included.
        pad_to_multiple_of: see `BertPreprocessor`.
        **kwargs: base `keras.layers.Layer` arguments (`name`, ...).

    Example:
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "?", "ann", "met", "bob", "."]
    >>> pre = SquadPreprocessor(BertTokenizer(vocab), sequence_length=12)
    >>> examples = pre.examples(["Who?"], ["Ann met Bob."])
    >>> features = pre.features(examples)
    >>> features.token_ids.shape
    (1, 12)
    >>> start, end = np.zeros((1, 12)), np.zeros((1, 12))
    >>> start[0, 6] = end[0, 6] = 5.0                    # "bob"
    >>> pre.decode_answers(features, start, end)["0"]["text"]
    'Bob'
    """

    @staticmethod
    def examples(questions, contexts):
        """`SquadExample`s (ids `"0"`, `"1"`, ...) of questions about contexts.

        Args:
            questions: a str or a list of str.
            contexts: one context per question (a str with a single question).
        """
        if isinstance(questions, str):
            questions, contexts = [questions], [contexts]
        if len(questions) != len(contexts):
            raise ValueError(f"{len(questions)} questions but {len(contexts)} contexts")
        return [SquadExample(str(i), q, c) for i, (q, c) in enumerate(zip(questions, contexts))]

    def features(self, examples, *, max_query_length=64, doc_stride=128, training=False):
        """`make_squad_features` with this preprocessor's tokenizer and `sequence_length`."""
        if self.sequence_length is None:
            raise ValueError(f"{type(self).__name__} needs a fixed sequence_length (the window "
                             "length)")
        return make_squad_features(examples, self.tokenizer, self.sequence_length,
                                   max_query_length=max_query_length, doc_stride=doc_stride,
                                   training=training)

    @staticmethod
    def decode_answers(features, start_logits, end_logits, *, n_best=20, max_answer_length=30,
                       null_threshold=None):
        """`decode_answers`: question id → its best answer and n-best list."""
        return decode_answers(features, start_logits, end_logits, n_best=n_best,
                              max_answer_length=max_answer_length, null_threshold=null_threshold)
