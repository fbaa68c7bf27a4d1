"""`.keras` task models saved before the task contract still load and predict the same.

The fixtures (`tests/fixtures/old_keras/`, written by its `make_old_keras_models.py` at an older
commit) store a plain `BertPreprocessor` in the tagger and QA configs and the tokenizer's whole
vocabulary inline in the config. Loading gives the task's own preprocessor class on the same
tokenizer (same packing); re-saving writes today's format (vocabulary as an asset).
"""

import json
import zipfile

import keras
import numpy as np
import pytest

from keras_bert_kit.models.bert_classifier import BertClassifier
from keras_bert_kit.models.bert_question_answerer import BertQuestionAnswerer
from keras_bert_kit.models.bert_token_classifier import BertTokenClassifier
from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
from keras_bert_kit.text.squad_preprocessor import SquadPreprocessor
from keras_bert_kit.text.tagging_preprocessor import TaggingPreprocessor
from tests.conftest import FIXTURES

OLD = FIXTURES / "old_keras"
EXPECTED = json.loads((OLD / "expected.json").read_text(encoding="utf-8"))
SENTENCES = [["Zoë", "went", "to", "Paris"], ["Bob", "saw", "the", "unbelievable", "market", "."] * 3]
TEXTS = ["Zoë went to Paris and saw Rome .", "the unbelievable Bob went to 北京"]
QUESTIONS = ["Who went to Paris?", "Who?"]
CONTEXTS = ["Zoë went to Paris and Bob went to Rome.", "the market and the market saw Bob ."]
IDS = {"token_ids": np.array([[2, 7, 9, 10, 11, 3, 0]], np.int32),
       "segment_ids": np.array([[0, 0, 0, 0, 1, 1, 0]], np.int32),
       "padding_mask": np.array([[1, 1, 1, 1, 1, 1, 0]], np.int32)}


def _config(path):
    with zipfile.ZipFile(path) as archive:
        return archive.read("config.json").decode("utf-8")


def test_fixtures_are_in_the_old_format():
    for name in ("tagger", "question_answerer", "classifier"):
        config = json.loads(_config(OLD / f"{name}.keras"))["config"]
        assert config["preprocessor"]["class_name"] == "BertPreprocessor"
        assert "[MASK]" in config["preprocessor"]["config"]["tokenizer"]["config"]["vocabulary"]


def test_old_tagger_loads_with_a_tagging_preprocessor_and_predicts_the_same(tmp_path):
    tagger = keras.saving.load_model(OLD / "tagger.keras")
    assert isinstance(tagger, BertTokenClassifier)
    assert type(tagger.preprocessor) is TaggingPreprocessor
    assert tagger.preprocessor.sequence_length == 8
    np.testing.assert_allclose(np.asarray(tagger(IDS)), EXPECTED["tagger_logits"], atol=1e-5)
    assert tagger.predict_tags(SENTENCES) == EXPECTED["predict_tags"]
    assert tagger.predict_entities(TEXTS) == EXPECTED["predict_entities"]
    # Re-saved: today's format, the same predictions.
    path = tmp_path / "tagger.keras"
    tagger.save(path)
    config = json.loads(_config(path))["config"]
    assert config["preprocessor"]["class_name"] == "TaggingPreprocessor"
    assert config["preprocessor"]["config"]["tokenizer"]["config"]["vocabulary"] is None
    reloaded = keras.saving.load_model(path)
    assert reloaded.predict_entities(TEXTS) == EXPECTED["predict_entities"]


def test_old_question_answerer_loads_with_a_squad_preprocessor_and_answers_the_same():
    qa = keras.saving.load_model(OLD / "question_answerer.keras")
    assert isinstance(qa, BertQuestionAnswerer)
    assert type(qa.preprocessor) is SquadPreprocessor
    assert (qa.doc_stride, qa.max_answer_length) == (4, 3)
    np.testing.assert_allclose(np.asarray(qa(IDS)["start_logits"]), EXPECTED["qa_start_logits"],
                               atol=1e-5)
    answers = qa.answer(QUESTIONS, CONTEXTS, n_best=3)
    for got, want in zip(answers, EXPECTED["answer"]):
        assert (got["text"], got["start"], got["end"]) == (want["text"], want["start"], want["end"])
        assert got["score"] == pytest.approx(want["score"], abs=1e-4)
        assert [c["text"] for c in got["n_best"]] == [c["text"] for c in want["n_best"]]


def test_old_classifier_keeps_its_plain_preprocessor():
    classifier = keras.saving.load_model(OLD / "classifier.keras")
    assert isinstance(classifier, BertClassifier)
    assert type(classifier.preprocessor) is BertPreprocessor
    assert classifier.label_vocabulary == ["negative", "positive"]
    np.testing.assert_allclose(classifier.predict(TEXTS, verbose=0),
                               EXPECTED["classifier_logits"], atol=1e-5)
