"""SQuAD EM / F1: the official scripts' normalisation, v1.1 and v2.0 semantics, known values."""

import pytest

from keras_bert_kit.data.squad_data import SquadExample
from keras_bert_kit.training.squad_metrics import exact_match, f1, normalize_answer, squad_scores


@pytest.mark.parametrize("text,normalized", [
    ("The Eiffel Tower", "eiffel tower"),
    ("  an   apple, a pear; THE end!  ", "apple pear end"),
    ("Theatre and anarchy", "theatre and anarchy"),      # articles only as whole words
    ("U.S.A.", "usa"),
    ("don't", "dont"),
    ("Café\tcrème", "café crème"),                        # no accent stripping in the official rule
    ("", ""),
])
def test_normalize_answer(text, normalized):
    assert normalize_answer(text) == normalized


def test_exact_match_and_f1_known_values():
    assert exact_match("The Beatles.", "beatles") == 1.0
    assert exact_match("Beatles band", "beatles") == 0.0
    # "in city of paris" vs "paris city": 2 common, P = 2/4, R = 2/2.
    assert f1("in the city of Paris", "Paris city") == pytest.approx(2 / 3)
    # tokens count with multiplicity: common = {cat: 1, dog: 1}, P = R = 2/3.
    assert f1("cat cat dog", "cat dog dog") == pytest.approx(2 / 3)
    assert f1("blue", "red") == 0.0


def test_empty_answers_v1_and_v2():
    assert f1("", "", version="2.0") == 1.0
    assert f1("", "", version="1.1") == 0.0
    assert f1("the", "", version="2.0") == 1.0      # normalises to empty
    assert f1("something", "", version="2.0") == 0.0


def _example(qas_id, answers, impossible=False):
    return SquadExample(qas_id, "q?", "context", [{"text": a, "start": 0} for a in answers],
                        impossible)


def test_v1_scores_take_the_best_gold_answer_and_zero_for_missing():
    examples = [_example("a", ["Hartfield", "at Hartfield"]), _example("b", ["Highbury"]),
                _example("c", ["Emma Woodhouse"])]
    scores = squad_scores(examples, {"a": "at Hartfield", "c": "Emma"})
    assert scores["total"] == 3
    assert scores["exact_match"] == pytest.approx(100 / 3)
    # a: 1.0, b: missing 0, c: P = 1, R = 1/2, F1 = 2/3.
    assert scores["f1"] == pytest.approx(100 * (1 + 0 + 2 / 3) / 3)


def test_v2_scores_split_has_answer_and_no_answer():
    examples = [_example("a", ["Hartfield"]), _example("b", [], impossible=True),
                _example("c", [], impossible=True), _example("d", ["Highbury"])]
    scores = squad_scores(examples, {"a": "Hartfield", "b": "", "c": "Highbury", "d": ""})
    assert scores == {"exact": 50.0, "f1": 50.0, "total": 4,
                      "HasAns_exact": 50.0, "HasAns_f1": 50.0, "HasAns_total": 2,
                      "NoAns_exact": 50.0, "NoAns_f1": 50.0, "NoAns_total": 2}


def test_agrees_with_the_official_v2_functions_in_transformers():
    official = pytest.importorskip("transformers.data.metrics.squad_metrics")
    pairs = [("The Eiffel Tower!", "eiffel tower"), ("a cat on the mat", "the cat sat"),
             ("", ""), ("x", ""), ("Paris, France", "paris"), ("1,000 km", "1000 km"),
             ("an  Apple   pie", "apple pies")]
    for prediction, gold in pairs:
        assert exact_match(prediction, gold) == official.compute_exact(gold, prediction)
        assert f1(prediction, gold) == pytest.approx(official.compute_f1(gold, prediction))


def test_bad_version():
    with pytest.raises(ValueError, match="version='3.0'"):
        squad_scores([_example("a", ["x"])], {}, version="3.0")
