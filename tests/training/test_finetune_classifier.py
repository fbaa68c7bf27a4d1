"""`finetune_classifier` end to end on small tasks built from the bundled sentiment data: a
same-review pair task and the mean human rating as a regression target, with the reported
metrics checked against values computed by hand from the saved model's predictions."""

import json
import shutil

import keras
import numpy as np
import pytest

from keras_bert_kit.data.text_classification_data import (ClassificationDataError,
                                                          read_classification_file)
from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.training.finetune_classifier import finetune_classifier
from tests.conftest import DATA

SENTIMENT = DATA / "sentiment"


@pytest.fixture(scope="module")
def tiny_init(tmp_path_factory, minilm_path):
    """A small random BERT in a Hugging Face folder with the real uncased vocabulary."""
    folder = tmp_path_factory.mktemp("tiny_init")
    keras.utils.set_random_seed(1)
    BertBackbone(vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=32,
                 intermediate_dim=64, max_sequence_length=64).save_pretrained(folder)
    shutil.copy(f"{minilm_path}/vocab.txt", folder / "vocab.txt")
    return folder


def average_ranks(values):
    """Ranks with ties given their average rank (Spearman's definition)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    return (np.cumsum(counts) - (counts - 1) / 2)[inverse]


def write_tsv(path, header, rows):
    path.write_text("\t".join(header) + "\n" + "".join("\t".join(r) + "\n" for r in rows))
    return path


def review_halves(start, count):
    reviews = read_classification_file(SENTIMENT / "train.tsv", "text").texts[start:start + count]
    words = [r.split() for r in reviews]
    return [(" ".join(w[:len(w) // 2]), " ".join(w[len(w) // 2:])) for w in words]


def pair_rows(start, count):
    """Half the pairs are the two halves of one review ("same"), half mix two reviews."""
    halves = review_halves(start, count)
    rows = []
    for i, (first, second) in enumerate(halves):
        if i % 2:
            rows.append((first, halves[(i + 1) % count][1], "different"))
        else:
            rows.append((first, second, "same"))
    return rows


@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_pair_classification_metrics_match_hand_computed(tmp_path, tiny_init):
    train = write_tsv(tmp_path / "train.tsv", ["a", "b", "label"], pair_rows(0, 64))
    dev = write_tsv(tmp_path / "dev.tsv", ["a", "b", "label"], pair_rows(200, 32))
    out = tmp_path / "run"
    result = finetune_classifier(train, dev, tiny_init, out, text_column="a", pair_column="b",
                                 epochs=1, learning_rate=1e-3, batch_size=16, sequence_length=32,
                                 jit_compile=False, verbose=0)
    saved = json.loads((out / "metrics.json").read_text())
    assert saved["dev_metrics"] == result["dev_metrics"]
    assert saved["label_vocabulary"] == ["different", "same"]

    model = keras.saving.load_model(out / "model.keras")
    assert model.text_inputs == 2 and model.label_vocabulary == ["different", "same"]
    examples = read_classification_file(dev, "a", "label", pair_column="b",
                                        label_vocabulary=["different", "same"])
    logits = model.predict((examples.texts, examples.pairs), verbose=0)
    y, p = examples.labels, logits.argmax(-1)
    tp, fp = np.sum((p == 1) & (y == 1)), np.sum((p == 1) & (y == 0))
    fn, tn = np.sum((p == 0) & (y == 1)), np.sum((p == 0) & (y == 0))
    f1 = 2 * tp / (2 * tp + fp + fn) if tp else 0.0
    denominator = np.sqrt(float((tp + fp) * (tp + fn) * (tn + fp) * (tn + fn)))
    mcc = (tp * tn - fp * fn) / denominator if denominator else 0.0
    metrics = result["dev_metrics"]
    np.testing.assert_allclose(metrics["accuracy"], np.mean(p == y), atol=1e-6)
    np.testing.assert_allclose(metrics["f1"], f1, atol=1e-5)
    np.testing.assert_allclose(metrics["matthews_correlation"], mcc, atol=1e-5)


@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_rating_regression_metrics_match_hand_computed(tmp_path, tiny_init):
    rows = read_classification_file(SENTIMENT / "train.tsv", "text", "rating", task="regression")
    train = write_tsv(tmp_path / "train.tsv", ["text", "rating"],
                      [(t, f"{r:g}") for t, r in zip(rows.texts[:64], rows.labels[:64])])
    dev = write_tsv(tmp_path / "dev.tsv", ["text", "rating"],
                    [(t, f"{r:g}") for t, r in zip(rows.texts[300:332], rows.labels[300:332])])
    out = tmp_path / "run"
    result = finetune_classifier(train, dev, tiny_init, out, label_column="rating",
                                 problem_type="regression", epochs=1, learning_rate=1e-3,
                                 batch_size=16, sequence_length=32, jit_compile=False, verbose=0)
    model = keras.saving.load_model(out / "model.keras")
    assert model.problem_type == "regression" and model.num_classes == 1
    y = rows.labels[300:332].astype(np.float64)
    pred = model.predict(list(rows.texts[300:332]), verbose=0)[:, 0].astype(np.float64)
    ranks = [average_ranks(v) for v in (y, pred)]
    metrics = result["dev_metrics"]
    np.testing.assert_allclose(metrics["mae"], np.mean(np.abs(pred - y)), atol=1e-4)
    np.testing.assert_allclose(metrics["pearson"], np.corrcoef(y, pred)[0, 1], atol=1e-4)
    np.testing.assert_allclose(metrics["spearman"], np.corrcoef(*ranks)[0, 1], atol=1e-4)


def test_a_dev_label_unseen_in_training_names_file_and_line_and_writes_nothing(tmp_path,
                                                                              tiny_init):
    train = write_tsv(tmp_path / "train.tsv", ["text", "label"], [("good", "pos"), ("bad", "neg")])
    dev = write_tsv(tmp_path / "dev.tsv", ["text", "label"], [("fine", "pos"), ("meh", "mixed")])
    out = tmp_path / "run"
    with pytest.raises(ClassificationDataError, match=r"dev\.tsv:3: label 'mixed' is not in"):
        finetune_classifier(train, dev, tiny_init, out, epochs=1, verbose=0)
    assert not out.exists()
