"""BertQuestionAnswerer: learns a toy span task over windows, answers with exact context offsets."""

import random

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.data.squad_data import SquadExample, make_squad_dataset
from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.models.bert_question_answerer import BertQuestionAnswerer
from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
from keras_bert_kit.text.bert_tokenizer import BertTokenizer
from keras_bert_kit.training.squad_metrics import squad_scores
from tests.helpers import TINY, random_inputs

NAMES = ["zoe", "bob", "carol", "dave"]
FILLER = ["went", "to", "and", "saw", "the", "market", "home", "."]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "?", "北", "京"] + NAMES + FILLER


def toy_examples(n, seed=0):
    """ "Who?" → the one capitalised name among 3-24 filler words (often longer than a window)."""
    rng = random.Random(seed)
    examples = []
    for i in range(n):
        words = [rng.choice(FILLER) for _ in range(rng.randint(3, 24))]
        position = rng.randint(0, len(words))
        words.insert(position, rng.choice(["Zoë", "Bob", "Carol", "Dave"]))
        context = " ".join(words)
        start = len(" ".join(words[:position])) + (1 if position else 0)
        examples.append(SquadExample(f"q{i}", "Who?", context,
                                     [{"text": words[position], "start": start}]))
    return examples


def make_answerer(**kwargs):
    preprocessor = BertPreprocessor(BertTokenizer(VOCAB), sequence_length=14)
    return BertQuestionAnswerer(BertBackbone(**{**TINY, "vocabulary_size": len(VOCAB)}),
                                preprocessor=preprocessor, doc_stride=5, max_answer_length=3,
                                **kwargs)


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    qa = make_answerer()
    features = qa.features(toy_examples(200), training=True)
    qa.compile(optimizer=keras.optimizers.Adam(3e-3))
    qa.fit(make_squad_dataset(features, 32, seed=0), epochs=6, verbose=0)
    return qa


def test_learns_toy_span_task_across_windows(trained):
    examples = toy_examples(60, seed=1)
    assert len(trained.features(examples)) > len(examples)   # many contexts need several windows
    answers = trained.predict_answers(examples)
    scores = squad_scores(examples, {k: a["text"] for k, a in answers.items()})
    assert scores["exact_match"] >= 90.0


def test_answer_offsets_are_exact_substrings(trained):
    contexts = ["the market   Zoë  went home and the market and the market saw the market .",
                "北京 and Bob", "Dave"]
    answers = trained.answer(["Who?"] * 3, contexts)
    assert [a["text"] for a in answers] == ["Zoë", "Bob", "Dave"]
    for context, a in zip(contexts, answers):
        assert context[a["start"]:a["end"]] == a["text"]
        for candidate in a["n_best"]:
            assert context[candidate["start"]:candidate["end"]] == candidate["text"]
    assert trained.answer("Who?", "Carol went home")[0]["score"] > 0


def test_unanswerable_with_null_threshold(trained):
    examples = toy_examples(4, seed=2)
    no_answer = trained.predict_answers(examples, null_threshold=-1e9)
    assert all(a["text"] == "" and a["start"] is None for a in no_answer.values())
    always = trained.predict_answers(examples, null_threshold=1e9)
    assert all(a["text"] for a in always.values())


def test_float32_logits_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_bfloat16")
    outputs = BertQuestionAnswerer(BertBackbone(**TINY))(random_inputs())
    assert sorted(outputs) == ["end_logits", "start_logits"]
    assert outputs["start_logits"].dtype == "float32" and tuple(outputs["end_logits"].shape) == (3, 11)


def test_keras_round_trip(trained, tmp_path):
    path = str(tmp_path / "qa.keras")
    trained.save(path)
    reloaded = keras.saving.load_model(path)
    assert (reloaded.doc_stride, reloaded.max_answer_length, reloaded.max_query_length) == (5, 3, 64)
    x = trained.features(toy_examples(3)).inputs()
    for name in ("start_logits", "end_logits"):
        np.testing.assert_array_equal(np.asarray(reloaded(x)[name]), np.asarray(trained(x)[name]))
    expected, actual = (m.answer("Who?", "Bob went home")[0] for m in (trained, reloaded))
    assert actual["text"] == expected["text"] == "Bob"
    assert actual["score"] == pytest.approx(expected["score"], abs=1e-4)


def test_serving_outputs_best_span_and_answer_text(trained):
    questions = tf.constant(["Who?", "Who?", "Who?"])
    contexts = tf.constant(["went  Zoë home", "", "the Dave"])
    outputs = trained.serving_outputs(trained.preprocessor((questions, contexts)),
                                      text_pair=contexts)
    assert outputs["answer"].numpy().tolist() == ["Zoë".encode(), b"", b"Dave"]
    assert outputs["answer_start"].numpy().tolist() == [6, -1, 4]
    assert outputs["start_index"].numpy().tolist() == [5, 0, 5]
    assert outputs["score"].dtype == tf.float32 and outputs["score"].shape == (3,)
    assert outputs["score"].numpy()[1] == outputs["null_score"].numpy()[1]


def test_bad_input():
    qa = BertQuestionAnswerer(BertBackbone(**TINY))
    with pytest.raises(ValueError, match="needs a preprocessor with a fixed sequence_length"):
        qa.answer("Who?", "Bob")
    with pytest.raises(ValueError, match="2 questions but 1 contexts"):
        make_answerer().answer(["Who?", "Who?"], ["Bob"])


def test_finetune_squad_run(tmp_path):
    import json

    from keras_bert_kit.training.finetune_squad import finetune_squad

    init = tmp_path / "init"
    BertBackbone(**{**TINY, "vocabulary_size": len(VOCAB)}).save_pretrained(str(init))
    (init / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    examples = toy_examples(16)
    squad = {"data": [{"title": "toy", "paragraphs": [
        {"context": e.context, "qas": [{"id": e.qas_id, "question": e.question, "answers": [
            {"text": a["text"], "answer_start": a["start"]} for a in e.answers]}]}
        for e in examples]}]}
    path = tmp_path / "train.json"
    path.write_text(json.dumps(squad))
    result = finetune_squad(path, path, init, tmp_path / "run", sequence_length=14, doc_stride=5,
                            epochs=1, batch_size=8, verbose=0)
    assert result["version"] == "1.1" and result["dev_windows"] > 16
    assert set(result["dev_scores"]) == {"exact_match", "f1", "total"}
    predictions = json.loads((tmp_path / "run" / "predictions.json").read_text())
    assert sorted(predictions) == sorted(e.qas_id for e in examples)


@pytest.mark.slow
def test_export_serves_answers_from_question_context_pairs(trained, tmp_path):
    from keras_bert_kit.export.saved_model import export_saved_model

    report = export_saved_model(trained, tmp_path / "qa" / "1")
    assert report.max_abs_diff is not None
    loaded = tf.saved_model.load(str(tmp_path / "qa" / "1"))
    outputs = loaded.signatures["serving_default"](text=tf.constant(["Who?"]),
                                                   text_pair=tf.constant(["went Bob home"]))
    assert outputs["start_index"].numpy().tolist() == [5]
    assert sorted(outputs) == ["answer", "answer_end", "answer_start", "end_index", "null_score",
                               "score", "start_index"]
    assert outputs["answer"].numpy().tolist() == [b"Bob"]
    assert outputs["answer_start"].numpy().tolist() == [5]
