"""Tagger and QA exports: byte offsets and answer strings served from raw text, checked outside the package and decoded by `ExportedModel` (what `kbk predict` prints)."""

import json
import os
import shutil
import unicodedata

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.errors import UserError
from keras_bert_kit.export.predict import ExportedModel
from keras_bert_kit.export.saved_model import export_saved_model
from keras_bert_kit.export.serving_checks import (ServingCheckError, compare_outputs,
                                                  run_in_fresh_process)
from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.models.bert_question_answerer import BertQuestionAnswerer
from keras_bert_kit.models.bert_token_classifier import BertTokenClassifier
from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
from keras_bert_kit.text.bert_tokenizer import BertTokenizer
from keras_bert_kit.text.decoding import decode_answer, decode_entities, decode_words
from tests.helpers import TINY

WORDS = ["zoe", "smith", "##son", "went", "to", "北", "京", "the", "un", "##believ", "##able",
         "cafe", "and", "bob", "home", "who", "?", "."]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]
SEQUENCE_LENGTH = 16

# Several pieces per word (Smith ##son, un ##believ ##able), CJK, accents, runs of whitespace,
# an unknown word ([UNK] spanning it), empty / blank texts, and a text cut at 14 pieces.
TAGGER_TEXTS = [
    "Zoë  Smithson went to 北京.",
    "  the   unbelievable café\t",
    "xyzzy Bob",
    "",
    "   ",
    "Zoë went to 北京 and the unbelievable Smithson went home to Bob .",
]
QUESTIONS = ["Who?", "who ?", "Who?", "Who?", "Who?"]
CONTEXTS = ["went  Zoë home", "北京 and Bob", "", "the unbelievable café   Smithson",
            "Bob went home and Zoë went to 北京 and the unbelievable Smithson went home"]


def _tokenizer():
    return BertTokenizer(VOCAB)


def make_tagger():
    """A tiny random tagger whose head prefers B-PER everywhere (so every word is an entity)."""
    keras.utils.set_random_seed(0)
    preprocessor = BertPreprocessor(_tokenizer(), sequence_length=SEQUENCE_LENGTH)
    tagger = BertTokenClassifier(BertBackbone(**{**TINY, "vocabulary_size": len(VOCAB)}),
                                 num_labels=len(LABELS), preprocessor=preprocessor,
                                 label_vocabulary=LABELS)
    kernel, bias = tagger.output_dense.get_weights()
    tagger.output_dense.set_weights([kernel * 0.05, np.array([0, 0, 0, 6, 0], "float32")])
    return tagger


def make_answerer():
    keras.utils.set_random_seed(0)
    preprocessor = BertPreprocessor(_tokenizer(), sequence_length=SEQUENCE_LENGTH)
    return BertQuestionAnswerer(BertBackbone(**{**TINY, "vocabulary_size": len(VOCAB)}),
                                preprocessor=preprocessor, max_answer_length=3)


@pytest.fixture(scope="module")
def tagger_export(tmp_path_factory):
    tagger = make_tagger()
    path = tmp_path_factory.mktemp("export") / "tagger" / "1"
    report = export_saved_model(tagger, path, examples=TAGGER_TEXTS)
    return tagger, str(path), report


@pytest.fixture(scope="module")
def qa_export(tmp_path_factory):
    qa = make_answerer()
    path = tmp_path_factory.mktemp("export") / "qa" / "1"
    report = export_saved_model(qa, path, examples=QUESTIONS, example_pairs=CONTEXTS)
    return qa, str(path), report


def _normalized(span):
    """What the uncased tokenizer makes of a span: lower case, accents stripped."""
    decomposed = unicodedata.normalize("NFD", span.lower())
    return "".join(c for c in decomposed if unicodedata.category(c) != "Mn")


def _expected_offsets(texts, length):
    """`[batch, length]` byte starts / ends aligned with the packed `[CLS] pieces [SEP]`."""
    ids, starts, ends = _tokenizer().tokenize_with_offsets(tf.constant(texts))
    result = []
    for offsets in (starts, ends):
        aligned = np.full((len(texts), length), -1, np.int64)
        for i, row in enumerate(offsets.to_list()):
            row = row[:length - 2]
            aligned[i, 1:1 + len(row)] = row
        result.append(aligned)
    return ids.to_list(), result[0], result[1]


def test_tagger_export_signatures_and_serving_checks(tagger_export):
    _, _, report = tagger_export
    assert report.signatures == ["encode", "serving_default", "token_ids"]
    # The checks compared every output (labels as strings, offsets as ints, scores within 1e-5)
    # in a fresh process, through the TF1 session loader and through saved_model_cli.
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-5


def test_tagger_export_serves_byte_offsets_of_every_piece(tagger_export):
    tagger, path, _ = tagger_export
    fresh = run_in_fresh_process(path, {"text": np.array(TAGGER_TEXTS, dtype=object)})
    ids, starts, ends = _expected_offsets(TAGGER_TEXTS, SEQUENCE_LENGTH)
    for prefix in ("tf2/", "tf1/"):
        np.testing.assert_array_equal(fresh[prefix + "token_start"], starts)
        np.testing.assert_array_equal(fresh[prefix + "token_end"], ends)
        assert fresh[prefix + "token_start"].dtype == np.int64
        assert (fresh[prefix + "label"][starts >= 0] == "B-PER").all()
    # Every span is the original text of its piece: accents, case and CJK kept.
    word_start = fresh["tf1/word_start"]
    for i, text in enumerate(TAGGER_TEXTS):
        data = text.encode("utf-8")
        row_ids = ids[i][:SEQUENCE_LENGTH - 2]
        for j, token_id in enumerate(row_ids, start=1):
            span = data[starts[i, j]:ends[i, j]].decode("utf-8")
            piece = VOCAB[token_id]
            if piece == "[UNK]":
                assert span == "xyzzy"
            else:
                assert _normalized(span) == piece.removeprefix("##"), (text, j, span, piece)
            assert word_start[i, j] == (0 if piece.startswith("##") else 1)
        assert (word_start[i, 1 + len(row_ids):] == 0).all() and word_start[i, 0] == 0
    # The multi-piece word and the CJK characters, spelled out.
    first = TAGGER_TEXTS[0].encode("utf-8")
    assert [first[s:e].decode() for s, e in zip(starts[0, 1:8], ends[0, 1:8])] == [
        "Zoë", "Smith", "son", "went", "to", "北", "京"]
    assert ids[-1][SEQUENCE_LENGTH - 2:], "the last text must be longer than the window"


def test_tagger_exported_outputs_equal_in_process(tagger_export):
    tagger, path, _ = tagger_export
    texts = tf.constant(TAGGER_TEXTS)
    expected = tagger.serving_outputs(tagger.preprocessor(texts), text=texts)
    served = tf.saved_model.load(path).signatures["serving_default"](text=texts)
    assert sorted(served) == ["label", "label_id", "score", "token_end", "token_start",
                              "word_start"]
    for name in ("label", "label_id", "word_start", "token_start", "token_end"):
        np.testing.assert_array_equal(served[name].numpy(), expected[name].numpy())
    np.testing.assert_allclose(served["score"], expected["score"], atol=1e-5)


def test_token_ids_signature_has_no_text_outputs(tagger_export):
    tagger, path, _ = tagger_export
    packed = tagger.preprocessor(tf.constant(TAGGER_TEXTS[:2]))
    served = tf.saved_model.load(path).signatures["token_ids"](**packed)
    assert sorted(served) == ["label", "label_id", "score", "word_start"]


def test_decode_entities_bio_and_bioes():
    text = "Zoë  Smithson went to 北京."
    # [CLS] zoe smith ##son went to 北 京 . [SEP] [PAD]
    starts = [-1, 0, 6, 11, 15, 20, 23, 26, 29, -1, -1]
    ends = [-1, 4, 11, 14, 19, 22, 26, 29, 30, -1, -1]
    word_start = [0, 1, 1, 0, 1, 1, 1, 1, 1, 0, 0]
    bio = ["O", "B-PER", "I-PER", "B-LOC", "O", "O", "B-LOC", "I-LOC", "O", "O", "O"]
    score = [0.1, 0.9, 0.7, 0.0, 0.8, 0.8, 0.6, 0.4, 0.9, 0.1, 0.1]
    outputs = {"label": bio, "word_start": word_start, "token_start": starts,
               "token_end": ends, "score": score}
    entities = decode_entities(text, outputs)
    assert [(e["text"], e["type"], e["start"], e["end"]) for e in entities] == [
        ("Zoë  Smithson", "PER", 0, 13), ("北京", "LOC", 22, 24)]
    assert entities[0]["byte_end"] == 14 and entities[0]["score"] == pytest.approx(0.8)
    assert [w["text"] for w in decode_words(text, outputs)] == [
        "Zoë", "Smithson", "went", "to", "北", "京", "."]
    bioes = ["O", "S-PER", "S-LOC", "I-LOC", "O", "O", "B-LOC", "E-LOC", "S-PER", "O", "O"]
    entities = decode_entities(text, {**outputs, "label": bioes})
    assert [(e["text"], e["type"]) for e in entities] == [
        ("Zoë", "PER"), ("Smithson", "LOC"), ("北京", "LOC"), (".", "PER")]
    with pytest.raises(ValueError):
        decode_entities(text, {**outputs, "label": ["NN"] * 11})


def test_exported_model_rows_are_tagger_entities(tagger_export):
    _, path, _ = tagger_export
    model = ExportedModel(path)
    assert (model.task, model.decoder, model.takes_pairs) == ("BertTokenClassifier", "entities",
                                                              False)
    texts = [TAGGER_TEXTS[0], TAGGER_TEXTS[1]]
    rows = json.loads(json.dumps(model.rows(texts), ensure_ascii=False))  # JSON lines, as printed
    assert [row["text"] for row in rows] == texts
    # The head tags every word B-PER: each word (its pieces merged) is one entity.
    assert [[e["text"] for e in row["entities"]] for row in rows] == [
        ["Zoë", "Smithson", "went", "to", "北", "京", "."], ["the", "unbelievable", "café"]]
    for text, row in zip(texts, rows):
        for entity in row["entities"]:
            assert entity["type"] == "PER" and 0 < entity["score"] <= 1
            assert text[entity["start"]:entity["end"]] == entity["text"]
            assert text.encode()[entity["byte_start"]:entity["byte_end"]].decode() == entity["text"]
    raw = json.loads(json.dumps(model.rows([texts[0]], raw=True)[0], ensure_ascii=False))
    assert raw["label"][1] == "B-PER" and len(raw["label"]) == SEQUENCE_LENGTH
    assert raw["token_start"][:3] == [-1, 0, 6]


def test_tagger_declaration_and_exports_without_one(tagger_export, tmp_path):
    _, path, report = tagger_export
    with open(report.declaration_file, encoding="utf-8") as f:
        declaration = json.load(f)
    assert declaration == {"task": "BertTokenClassifier", "decoder": "entities",
                           "precision": "float32",
                           "signatures": {"serving_default": ["text"], "encode": ["text"],
                                          "token_ids": ["token_ids", "segment_ids",
                                                        "padding_mask"]}}
    # An export written before the declaration existed is recognised by its output names.
    old = tmp_path / "old" / "1"
    shutil.copytree(path, old)
    os.remove(old / "assets.extra" / "keras_bert_kit.json")
    model = ExportedModel(old)
    assert (model.task, model.decoder, model.input_names) == (None, "entities", ["text"])
    assert model.rows(TAGGER_TEXTS[:2]) == ExportedModel(path).rows(TAGGER_TEXTS[:2])


def test_exported_model_errors_name_the_folder(tagger_export, tmp_path):
    _, path, _ = tagger_export
    with pytest.raises(UserError, match="no such folder"):
        ExportedModel(tmp_path / "missing")
    with pytest.raises(UserError, match="no saved_model.pb"):
        ExportedModel(tmp_path)
    with pytest.raises(UserError, match=f"{path} takes single texts"):
        ExportedModel(path).rows(["a"], ["b"])


def test_qa_export_serving_checks_and_answers(qa_export):
    qa, path, report = qa_export
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-5
    questions, contexts = tf.constant(QUESTIONS), tf.constant(CONTEXTS)
    packed = qa.preprocessor((questions, contexts))
    expected = {k: v.numpy() for k, v in
                qa.serving_outputs(packed, text=questions, text_pair=contexts).items()}
    fresh = run_in_fresh_process(path, {"text": np.array(QUESTIONS, dtype=object),
                                        "text_pair": np.array(CONTEXTS, dtype=object)})
    _, context_starts, context_ends = _tokenizer().tokenize_with_offsets(contexts)
    first_context = ((packed["segment_ids"].numpy() == 0)
                     & (packed["padding_mask"].numpy() == 1)).sum(1)
    for prefix in ("tf2/", "tf1/"):
        got = {k[len(prefix):]: v for k, v in fresh.items() if k.startswith(prefix)}
        assert sorted(got) == ["answer", "answer_end", "answer_start", "end_index",
                               "null_score", "score", "start_index"]
        assert list(got["answer"]) == [a.decode("utf-8") for a in expected["answer"]]
        for name in ("answer_start", "answer_end", "start_index", "end_index"):
            np.testing.assert_array_equal(got[name], expected[name])
        np.testing.assert_allclose(got["score"], expected["score"], atol=1e-5)
    # Non-ASCII answers went through the fresh-process / TF1 / saved_model_cli string checks.
    assert any(not a.isascii() for a in expected["answer"]), expected["answer"]
    for i, context in enumerate(CONTEXTS):
        start, end = int(expected["answer_start"][i]), int(expected["answer_end"][i])
        answer = expected["answer"][i].decode("utf-8")
        if not context:
            assert (answer, start, end) == ("", -1, -1)
            continue
        assert start >= 0 and answer == context.encode()[start:end].decode()
        # The byte span is that of the predicted first and last context tokens.
        first = int(expected["start_index"][i]) - first_context[i]
        last = int(expected["end_index"][i]) - first_context[i]
        assert start == context_starts[i][first] and end == context_ends[i][last]
        assert 0 <= last - first < qa.max_answer_length


def test_exported_model_rows_are_answers(qa_export):
    _, path, report = qa_export
    with open(report.declaration_file, encoding="utf-8") as f:
        declaration = json.load(f)
    assert (declaration["task"], declaration["decoder"]) == ("BertQuestionAnswerer", "answer")
    assert declaration["signatures"]["serving_default"] == ["text", "text_pair"]
    served = tf.saved_model.load(path).signatures["serving_default"](
        text=tf.constant(QUESTIONS[:2]), text_pair=tf.constant(CONTEXTS[:2]))
    model = ExportedModel(path)
    assert model.takes_pairs
    rows = model.rows(QUESTIONS[:2], CONTEXTS[:2])
    assert [row["answer"] for row in rows] == [a.decode() for a in served["answer"].numpy()]
    for row, question, context, score in zip(rows, QUESTIONS, CONTEXTS, served["score"].numpy()):
        assert (row["question"], row["context"]) == (question, context)
        assert context[row["start"]:row["end"]] == row["answer"]
        assert row["score"] == pytest.approx(float(score), abs=1e-5)
    with pytest.raises(UserError, match=f"{path} takes pairs"):
        model.rows(["Who?"])
    with pytest.raises(UserError, match="2 texts but 1 pairs"):
        model.rows(QUESTIONS[:2], CONTEXTS[:1])


def test_decode_answer_without_span():
    assert decode_answer("", {"answer": b"", "answer_start": -1, "answer_end": -1,
                              "score": 1.0, "null_score": 1.0})["start"] is None


def test_compare_outputs_is_exact_on_strings_and_offsets():
    expected = {"answer": np.array(["Zoë".encode(), "北京".encode()], dtype=object),
                "answer_start": np.array([6, 0], np.int64)}
    assert compare_outputs(expected, {"answer": np.array(["Zoë", "北京"]),
                                      "answer_start": np.array([6, 0])}, "same") == 0.0
    with pytest.raises(ServingCheckError, match="'answer' differs"):
        compare_outputs(expected, {"answer": np.array(["Zoe", "北京"]),
                                   "answer_start": np.array([6, 0])}, "accent lost")
    with pytest.raises(ServingCheckError, match="'answer_start' differs"):
        compare_outputs(expected, {"answer": np.array(["Zoë", "北京"]),
                                   "answer_start": np.array([6, 3])}, "offset")
