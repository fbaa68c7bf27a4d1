"""Entity-level NER scores: CoNLL / seqeval (default mode) chunking, hand-computed P/R/F1."""

import pytest

from keras_bert_kit.training.ner_metrics import entity_scores, format_entity_report, get_entities


@pytest.mark.parametrize("tags,expected", [
    # BIO: an I- after O starts an entity; a type change splits; B- always starts.
    (["O", "I-PER", "I-PER", "O"], [("PER", 1, 2)]),
    (["B-PER", "I-LOC", "I-LOC"], [("PER", 0, 0), ("LOC", 1, 2)]),
    (["B-PER", "B-PER", "I-PER"], [("PER", 0, 0), ("PER", 1, 2)]),
    (["B-ORG", "I-ORG"], [("ORG", 0, 1)]),
    (["O", "O"], []),
    ([], []),
    # BIOES: E- and S- end an entity; I-/E- after an ended entity start a new one.
    (["B-PER", "E-PER", "S-LOC", "O"], [("PER", 0, 1), ("LOC", 2, 2)]),
    (["S-PER", "E-PER"], [("PER", 0, 0), ("PER", 1, 1)]),
    (["B-PER", "I-PER", "I-PER", "E-PER"], [("PER", 0, 3)]),
    (["E-LOC", "I-LOC"], [("LOC", 0, 0), ("LOC", 1, 1)]),
])
def test_get_entities(tags, expected):
    assert get_entities(tags) == expected


def test_scores_match_seqeval_documentation_example():
    true = [["O", "O", "O", "B-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    pred = [["O", "O", "B-MISC", "I-MISC", "I-MISC", "I-MISC", "O"], ["B-PER", "I-PER", "O"]]
    scores = entity_scores(true, pred)
    assert scores["micro"]["f1"] == pytest.approx(0.5)
    assert scores["micro"]["precision"] == pytest.approx(0.5)
    assert scores["MISC"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1,
                              "predicted": 1, "correct": 0}
    assert scores["PER"]["f1"] == 1.0


def test_per_type_and_micro_scores_hand_computed():
    true = [["B-PER", "I-PER", "O", "B-LOC", "O", "B-ORG"],
            ["B-LOC", "I-LOC", "O", "B-PER"]]
    pred = [["B-PER", "I-PER", "O", "B-LOC", "I-LOC", "O"],   # PER ok, LOC too long, ORG missed
            ["I-LOC", "I-LOC", "O", "B-PER"]]                 # I- start = same LOC span, PER ok
    scores = entity_scores(true, pred)
    # PER: 2 true, 2 predicted, 2 correct. LOC: 2 true, 2 predicted, 1 correct. ORG: 1 true, 0 predicted.
    assert scores["PER"]["precision"] == 1.0 and scores["PER"]["recall"] == 1.0
    assert scores["LOC"]["precision"] == 0.5 and scores["LOC"]["recall"] == 0.5
    assert scores["ORG"] == {"precision": 0.0, "recall": 0.0, "f1": 0.0, "support": 1,
                             "predicted": 0, "correct": 0}
    # micro: 3 correct of 4 predicted and 5 true.
    assert scores["micro"]["precision"] == pytest.approx(3 / 4)
    assert scores["micro"]["recall"] == pytest.approx(3 / 5)
    assert scores["micro"]["f1"] == pytest.approx(2 * 0.75 * 0.6 / 1.35)
    assert list(scores) == ["LOC", "ORG", "PER", "micro"]


def test_entities_in_different_sentences_are_different_entities():
    true = [["B-PER"], ["O"]]
    pred = [["O"], ["B-PER"]]
    assert entity_scores(true, pred)["micro"]["f1"] == 0.0


def test_bioes_scores():
    true = [["B-PER", "E-PER", "O", "S-LOC"]]
    pred = [["B-PER", "E-PER", "O", "B-LOC"]]  # a lone B- still reads as the one-token LOC
    assert entity_scores(true, pred)["micro"]["f1"] == 1.0


def test_bad_input_errors():
    with pytest.raises(ValueError, match="tag 1: tag 'X-PER'"):
        get_entities(["O", "X-PER"])
    with pytest.raises(ValueError, match="2 true sentences but 1 predicted"):
        entity_scores([["O"], ["O"]], [["O"]])
    with pytest.raises(ValueError, match="sentence 0: 2 true tags but 1 predicted"):
        entity_scores([["O", "O"]], [["O"]])


def test_report_lists_types_and_micro():
    report = format_entity_report(entity_scores([["B-PER", "B-LOC"]], [["B-PER", "O"]]))
    lines = report.splitlines()
    assert lines[0].split() == ["type", "precision", "recall", "f1", "support"]
    assert lines[1].split() == ["LOC", "0.0000", "0.0000", "0.0000", "1"]
    assert lines[-1].split() == ["micro", "1.0000", "0.5000", "0.6667", "2"]
