"""Entity-level precision / recall / F1 for BIO and BIOES tag sequences (CoNLL / seqeval semantics).

Entities are read from tag sequences the way `conlleval` and seqeval's default mode read them
(lenient, not `strict`): an entity starts at `B-`/`S-`, at an `I-`/`E-` that follows `O` or an
entity that already ended, or wherever the type changes; it ends before `B-`/`S-`/`O`, after
`E-`/`S-`, or where the type changes. So `O I-PER I-PER` holds one PER entity and
`B-PER I-LOC` holds two. A predicted entity counts as correct when its type, first and last
token all equal those of a true entity in the same sentence.
"""

from keras_bert_kit.text.tags import OUTSIDE, get_entities  # noqa: F401  (span reading lives in text/)


def _ratio(numerator, denominator):
    return numerator / denominator if denominator else 0.0


def _scores(correct, predicted, true):
    precision, recall = _ratio(correct, predicted), _ratio(correct, true)
    f1 = _ratio(2 * precision * recall, precision + recall)
    return {"precision": precision, "recall": recall, "f1": f1, "support": true,
            "predicted": predicted, "correct": correct}


def entity_scores(true_tags, predicted_tags):
    """Entity precision, recall and F1 per type and micro-averaged over all entities.

    Args:
        true_tags: gold tag sequences, one list per sentence.
        predicted_tags: predicted tag sequences, same lengths.

    Returns:
        A dict type → `{"precision", "recall", "f1", "support", "predicted", "correct"}` with
        one entry per entity type seen in either, plus `"micro"` over all of them. Ratios with a
        zero denominator are 0.0 (seqeval's `zero_division=0`).

    Example:
    >>> true = [["O", "B-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    >>> pred = [["B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    >>> scores = entity_scores(true, pred)
    >>> scores["micro"]["f1"], scores["PER"]["f1"], scores["MISC"]["f1"]
    (0.5, 1.0, 0.0)
    """
    if len(true_tags) != len(predicted_tags):
        raise ValueError(f"{len(true_tags)} true sentences but {len(predicted_tags)} predicted")
    counts = {}
    for i, (true, predicted) in enumerate(zip(true_tags, predicted_tags)):
        if len(true) != len(predicted):
            raise ValueError(f"sentence {i}: {len(true)} true tags but {len(predicted)} predicted")
        true_entities, predicted_entities = set(get_entities(true)), set(get_entities(predicted))
        for entity_type, *_ in true_entities | predicted_entities:
            counts.setdefault(entity_type, [0, 0, 0])
        for entity in predicted_entities:
            counts[entity[0]][0] += entity in true_entities
            counts[entity[0]][1] += 1
        for entity in true_entities:
            counts[entity[0]][2] += 1
    scores = {entity_type: _scores(*counts[entity_type]) for entity_type in sorted(counts)}
    scores["micro"] = _scores(*(sum(c[k] for c in counts.values()) for k in range(3)))
    return scores


def format_entity_report(scores, digits=4):
    """A fixed-width table of `entity_scores` (one row per type, then micro).

    Example:
    >>> print(format_entity_report(entity_scores([["B-PER"]], [["B-PER"]])))
    type    precision    recall        f1   support
    PER        1.0000    1.0000    1.0000         1
    micro      1.0000    1.0000    1.0000         1
    """
    width = max(len("micro"), *(len(t) for t in scores))
    lines = [f"{'type':<{width}} {'precision':>11} {'recall':>9} {'f1':>9} {'support':>9}"]
    for entity_type, s in scores.items():
        lines.append(f"{entity_type:<{width}} {s['precision']:>11.{digits}f} "
                     f"{s['recall']:>9.{digits}f} {s['f1']:>9.{digits}f} {s['support']:>9}")
    return "\n".join(lines)
