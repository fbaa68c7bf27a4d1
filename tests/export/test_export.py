"""Export: text-in SavedModels that agree in-process, in a fresh tf+tf_text process, via TF Serving's TF1 loader and saved_model_cli."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.export.predict import ExportedModel
from keras_bert_kit.export.robustness import run_robustness
from keras_bert_kit.export.saved_model import export_saved_model
from keras_bert_kit.export.serving_checks import ServingCheckError, op_report, run_in_fresh_process
from keras_bert_kit.export.warmup import read_warmup_requests
from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.models.bert_classifier import BertClassifier
from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
from keras_bert_kit.text.bert_tokenizer import BertTokenizer
from tests.helpers import TINY

WORDS = ["the", "film", "was", "great", "bad", "not", "a", "movie", "##s", ",", ".", "!", "é", "寿"]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS


def tiny_classifier(text_inputs=1, labels=("negative", "neutral", "positive")):
    preprocessor = BertPreprocessor(BertTokenizer(VOCAB), sequence_length=16)
    backbone = BertBackbone(**{**TINY, "vocabulary_size": len(VOCAB)})
    return BertClassifier(backbone, num_classes=len(labels), preprocessor=preprocessor,
                          label_vocabulary=list(labels), text_inputs=text_inputs)


@pytest.fixture(scope="module")
def exported(tmp_path_factory):
    classifier = tiny_classifier()
    path = tmp_path_factory.mktemp("export") / "sentiment" / "1"
    report = export_saved_model(classifier, path)
    return classifier, str(path), report


def test_export_layout_signatures_and_checks(exported):
    classifier, path, report = exported
    assert report.signatures == ["encode", "serving_default", "token_ids"]
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-5
    assert os.path.exists(os.path.join(path, "saved_model.pb"))
    assert not [n for n in os.listdir(os.path.dirname(path)) if "staging" in n]
    assert any("Wordpiece" in op for op in report.non_core_ops), report.non_core_ops


def test_serving_default_matches_in_process_predictions(exported):
    classifier, path, _ = exported
    texts = ["The film was great!", "not a bad movie", ""]
    expected = tf.nn.softmax(classifier(classifier.preprocessor(tf.constant(texts)))).numpy()
    out = run_in_fresh_process(path, {"text": np.array(texts, dtype=object)})
    for prefix in ("tf2/", "tf1/"):
        np.testing.assert_allclose(out[prefix + "probabilities"], expected, atol=1e-5)
        assert out[prefix + "probabilities"].dtype == np.float32
        ids = expected.argmax(-1)
        np.testing.assert_array_equal(out[prefix + "label_id"], ids)
        assert [str(s) for s in out[prefix + "label"]] == [classifier.label_vocabulary[i] for i in ids]


def test_encode_and_token_ids_signatures(exported):
    classifier, path, _ = exported
    loaded = tf.saved_model.load(path)
    texts = tf.constant(["the film", "a great movie , not bad"])
    encoded = loaded.signatures["encode"](text=texts)
    packed = classifier.preprocessor(texts)
    out = classifier.backbone(packed)
    np.testing.assert_allclose(encoded["pooled_output"], out["pooled_output"], atol=1e-5)
    mask = packed["padding_mask"].numpy()[..., None]
    mean = (out["sequence_output"].numpy() * mask).sum(1) / mask.sum(1)
    np.testing.assert_allclose(encoded["mean_embedding"], mean, atol=1e-5)
    by_ids = loaded.signatures["token_ids"](**packed)
    by_text = loaded.signatures["serving_default"](text=texts)
    np.testing.assert_allclose(by_ids["probabilities"], by_text["probabilities"], atol=1e-6)


def test_declaration_names_task_decoder_and_signature_inputs(exported):
    _, path, report = exported
    assert report.declaration_file == os.path.join(path, "assets.extra", "keras_bert_kit.json")
    with open(report.declaration_file, encoding="utf-8") as f:
        assert json.load(f) == {
            "task": "BertClassifier", "decoder": "classes", "precision": "float32",
            "signatures": {"serving_default": ["text"], "encode": ["text"],
                           "token_ids": ["token_ids", "segment_ids", "padding_mask"]}}


def test_exported_model_rows_of_a_classifier(exported):
    classifier, path, _ = exported
    model = ExportedModel(path)
    assert (model.task, model.decoder, model.takes_pairs) == ("BertClassifier", "classes", False)
    texts = ["The film was great!", "not a bad movie"]
    expected = tf.nn.softmax(classifier(classifier.preprocessor(tf.constant(texts)))).numpy()
    rows = model.rows(texts)
    assert [row["text"] for row in rows] == texts
    for row, probabilities in zip(rows, expected):
        np.testing.assert_allclose(row["probabilities"], probabilities, atol=1e-5)
        assert row["label_id"] == int(probabilities.argmax())
        assert row["label"] == classifier.label_vocabulary[row["label_id"]]
    assert json.loads(json.dumps(rows)) == rows        # plain JSON values
    assert model.rows(texts, raw=True) == rows         # a classifier's row is its raw outputs
    assert sorted(model.outputs(texts)) == ["label", "label_id", "probabilities"]


def test_warmup_file_parses_and_replays(exported):
    _, path, _ = exported
    requests = read_warmup_requests(path)
    assert len(requests) >= 2
    loaded = tf.saved_model.load(path)
    for request in requests:
        out = loaded.signatures["serving_default"](**{k: tf.constant(v) for k, v in request.items()})
        assert out["probabilities"].shape == (len(request["text"]), 3)


@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_pair_classifier_export(tmp_path):
    classifier = tiny_classifier(text_inputs=2, labels=("different", "same"))
    report = export_saved_model(classifier, tmp_path / "pairs" / "1")
    assert report.max_abs_diff <= 1e-5
    loaded = tf.saved_model.load(str(tmp_path / "pairs" / "1"))
    out = loaded.signatures["serving_default"](text=tf.constant(["the film"]),
                                               text_pair=tf.constant(["a movie"]))
    expected = tf.nn.softmax(classifier(classifier.preprocessor((["the film"], ["a movie"]))))
    np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
    # The warm-up requests carry the inputs the signature declares.
    requests = read_warmup_requests(str(tmp_path / "pairs" / "1"))
    assert all(sorted(r) == ["text", "text_pair"] for r in requests)
    model = ExportedModel(tmp_path / "pairs" / "1")
    assert model.takes_pairs and model.input_names == ["text", "text_pair"]
    row = model.rows(["the film"], ["a movie"])[0]
    assert (row["text"], row["text_pair"]) == ("the film", "a movie")
    np.testing.assert_allclose(row["probabilities"], expected[0], atol=1e-5)


def test_hostile_inputs_never_crash(exported):
    _, path, _ = exported
    summary = run_robustness(path, n=200, batch_size=50)
    assert summary["huge_inputs"] >= 2
    assert summary["crashed_batches"] == 0 and summary["bad_output_batches"] == 0, summary


def test_export_without_preprocessor_is_refused(tmp_path):
    classifier = BertClassifier(BertBackbone(**TINY), num_classes=2)
    with pytest.raises(ValueError, match="has no preprocessor"):
        export_saved_model(classifier, tmp_path / "m" / "1")
    assert not (tmp_path / "m" / "1").exists()


def test_failed_check_leaves_nothing(tmp_path, monkeypatch):
    from keras_bert_kit.export import saved_model

    def failing(*args, **kwargs):
        raise ServingCheckError("simulated mismatch")

    monkeypatch.setattr(saved_model, "_check", failing)
    with pytest.raises(ServingCheckError):
        export_saved_model(tiny_classifier(), tmp_path / "m" / "1")
    assert os.listdir(tmp_path / "m") == []


def test_op_report_lists_only_tf_text_ops(exported):
    _, path, _ = exported
    report = op_report(path)
    assert set(report["non_core"]) <= set(report["all"])
    assert all("Tokeniz" in op or "Wordpiece" in op or "Normalize" in op or "Bert" in op
               for op in report["non_core"]), report["non_core"]


@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_windowed_classifier_export_classifies_long_texts_whole(tmp_path):
    preprocessor = BertPreprocessor(BertTokenizer(VOCAB), sequence_length=8)
    backbone = BertBackbone(**{**TINY, "vocabulary_size": len(VOCAB)}, initializer_range=0.5)
    classifier = BertClassifier(backbone, num_classes=2, preprocessor=preprocessor,
                                window_stride=3, max_windows=4)
    long = "the film was great , not a bad movie ! the film was bad"  # 14 tokens: 4 windows
    texts = ["the film was great", long, ""]
    report = export_saved_model(classifier, tmp_path / "windows" / "1")
    assert report.max_abs_diff <= 1e-5
    out = run_in_fresh_process(str(tmp_path / "windows" / "1"),
                               {"text": np.array(texts, dtype=object)})
    expected = tf.nn.softmax(classifier.predict(texts, verbose=0)).numpy()
    plain = tf.nn.softmax(classifier(preprocessor(tf.constant(texts)))).numpy()
    for prefix in ("tf2/", "tf1/"):
        np.testing.assert_allclose(out[prefix + "probabilities"], expected, atol=1e-5)
    np.testing.assert_allclose(expected[[0, 2]], plain[[0, 2]], atol=1e-5)
    assert np.abs(expected[1] - plain[1]).max() > 1e-4  # the long text was not just truncated


@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_requests_run_at_their_longest_text_with_unchanged_outputs(tmp_path):
    classifier = tiny_classifier()   # a classifier declares trims_served_padding
    pack = tf.function(lambda t: classifier.serving_pack(t, pad_to_multiple_of=4),
                       input_signature=[tf.TensorSpec([None], tf.string)])
    assert pack(tf.constant(["the film"]))["token_ids"].shape == (1, 4)
    assert pack(tf.constant(["the film", "a great movie , not bad"]))["token_ids"].shape == (2, 8)
    assert pack(tf.constant(["the film was great " * 9]))["token_ids"].shape == (1, 16)
    texts = tf.constant(["the film", "a great movie , not bad", "", "the film was great " * 9])
    expected = tf.nn.softmax(classifier(classifier.preprocessor(texts))).numpy()
    for multiple in (4, None):
        path = str(tmp_path / f"m{multiple}" / "1")
        export_saved_model(classifier, path, check=False, warmup=False,
                           pad_to_multiple_of=multiple)
        loaded = tf.saved_model.load(path)
        np.testing.assert_allclose(loaded.signatures["serving_default"](text=texts)["probabilities"],
                                   expected, atol=1e-6)
        for i in range(len(texts)):  # alone, each text runs at its own length
            one = loaded.signatures["serving_default"](text=texts[i:i + 1])["probabilities"]
            np.testing.assert_allclose(one, expected[i:i + 1], atol=1e-6)
