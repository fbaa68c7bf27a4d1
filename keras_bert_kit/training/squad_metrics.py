"""SQuAD exact match and F1 with the official evaluation scripts' normalisation (v1.1 and v2.0).

Answers are compared after `normalize_answer`: lower-cased, punctuation removed, the articles
a / an / the removed, whitespace collapsed. A prediction scores the maximum over the question's
gold answers. v2.0: a question without gold answers has the single gold answer `""`, so only an
empty prediction scores 1 on it; when a prediction or a gold answer normalises to nothing, F1
is 1 if both do and 0 otherwise (v1.1's script scores that case 0). Scores are percentages.
"""

import collections
import re
import string

_PUNCTUATION = frozenset(string.punctuation)
_ARTICLES = re.compile(r"\b(a|an|the)\b", re.UNICODE)


def normalize_answer(text):
    """Lower-cases, removes punctuation and articles, and collapses whitespace (official rule).

    Example:
    >>> normalize_answer("The  Battle of   Hastings!")
    'battle of hastings'
    """
    text = "".join(c for c in text.lower() if c not in _PUNCTUATION)
    return " ".join(_ARTICLES.sub(" ", text).split())


def exact_match(prediction, ground_truth):
    """1.0 when both normalise to the same string, else 0.0.

    Example:
    >>> exact_match("the Eiffel Tower.", "Eiffel tower")
    1.0
    """
    return float(normalize_answer(prediction) == normalize_answer(ground_truth))


def f1(prediction, ground_truth, version="2.0"):
    """Token-overlap F1 of the normalised answers.

    Args:
        prediction: predicted answer text.
        ground_truth: one gold answer text.
        version: `"2.0"` (empty vs empty is 1.0) or `"1.1"` (it is 0.0).

    Example:
    >>> round(f1("in the city of Paris", "Paris city"), 4)
    0.6667
    """
    predicted = normalize_answer(prediction).split()
    gold = normalize_answer(ground_truth).split()
    if version == "2.0" and (not predicted or not gold):
        return float(predicted == gold)
    common = sum((collections.Counter(predicted) & collections.Counter(gold)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(predicted), common / len(gold)
    return 2 * precision * recall / (precision + recall)


def _gold_answers(example, version):
    texts = [a["text"] for a in example.answers]
    if version == "2.0":
        texts = [t for t in texts if normalize_answer(t)] or [""]
    return texts


def squad_scores(examples, predictions, version="auto"):
    """Corpus EM and F1 (in %) of predicted answer texts, as the official scripts compute them.

    A question without a prediction scores 0 (as in the v1.1 script).

    Args:
        examples: `SquadExample`s with their gold answers (see `squad_data.read_squad`).
        predictions: dict question id → predicted answer text (`""` = no answer).
        version: `"1.1"`, `"2.0"`, or `"auto"` (2.0 when any question is unanswerable).

    Returns:
        v1.1: `{"exact_match", "f1", "total"}`. v2.0: `{"exact", "f1", "total", "HasAns_exact",
        "HasAns_f1", "HasAns_total", "NoAns_exact", "NoAns_f1", "NoAns_total"}` (the groups only
        when non-empty), like the official v2.0 script.

    Example:
    >>> from keras_bert_kit.data.squad_data import SquadExample
    >>> ex = [SquadExample("q1", "Who?", "Ann met Bob.", [{"text": "Ann", "start": 0}])]
    >>> squad_scores(ex, {"q1": "ann"})
    {'exact_match': 100.0, 'f1': 100.0, 'total': 1}
    """
    if version == "auto":
        version = "2.0" if any(e.is_impossible for e in examples) else "1.1"
    if version not in ("1.1", "2.0"):
        raise ValueError(f"version={version!r}: expected '1.1', '2.0' or 'auto'")
    exact, overlap, has_answer = [], [], []
    for example in examples:
        gold = _gold_answers(example, version)
        prediction = predictions.get(example.qas_id)
        if prediction is None:
            exact.append(0.0)
            overlap.append(0.0)
        else:
            exact.append(max(exact_match(prediction, g) for g in gold))
            overlap.append(max(f1(prediction, g, version) for g in gold))
        has_answer.append(not example.is_impossible)

    def percent(values):
        return 100.0 * sum(values) / len(values) if values else 0.0

    if version == "1.1":
        return {"exact_match": percent(exact), "f1": percent(overlap), "total": len(exact)}
    scores = {"exact": percent(exact), "f1": percent(overlap), "total": len(exact)}
    for name, keep in (("HasAns", True), ("NoAns", False)):
        chosen = [i for i, h in enumerate(has_answer) if h == keep]
        if chosen:
            scores[f"{name}_exact"] = percent([exact[i] for i in chosen])
            scores[f"{name}_f1"] = percent([overlap[i] for i in chosen])
            scores[f"{name}_total"] = len(chosen)
    return scores
