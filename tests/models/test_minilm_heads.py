"""Real weights: all-MiniLM-L6-v2 with a classifier and a tagger head written by transformers'
TF classes as `tf_model.h5` load with their heads and labels; `kbk export` of the classifier
folder serves the labels of transformers' argmax. Slow (two TF processes and an export check)."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from keras_bert_kit import cli
from keras_bert_kit.models.bert_classifier import BertClassifier
from keras_bert_kit.models.bert_token_classifier import BertTokenClassifier
from tests.conftest import REPO

pytestmark = pytest.mark.slow
pytest.importorskip("transformers")
pytest.importorskip("tf_keras")


@pytest.fixture(scope="module")
def heads(minilm_path, tmp_path_factory):
    out = tmp_path_factory.mktemp("minilm_heads")
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([sys.executable, str(REPO / "tests" / "models" / "make_minilm_heads.py"),
                             minilm_path, str(out)], env=env, capture_output=True, text=True,
                            timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    return out, dict(np.load(out / "reference.npz"))


def inputs(ref):
    return {"token_ids": ref["input_ids"].astype("int32"),
            "segment_ids": ref["token_type_ids"].astype("int32"),
            "padding_mask": ref["attention_mask"].astype("int32")}


def test_classifier_loads_head_and_labels(heads):
    folder, ref = heads
    classifier = BertClassifier.from_pretrained(folder / "classifier")
    assert classifier.label_vocabulary == ["world", "sports", "business", "science"]
    logits = np.asarray(classifier(inputs(ref)))
    assert np.abs(logits - ref["classifier_logits"]).max() <= 1e-4
    assert len(set(ref["classifier_logits"].argmax(-1))) > 1  # a head that tells texts apart
    # Our own tokenization of the raw texts gives the same logits.
    texts = [str(t) for t in ref["texts"]]
    assert np.abs(classifier.predict(texts, verbose=0) - ref["classifier_logits"]).max() <= 1e-4


def test_tagger_loads_head_and_labels(heads):
    folder, ref = heads
    tagger = BertTokenClassifier.from_pretrained(folder / "tagger")
    assert tagger.label_vocabulary == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    mask = ref["attention_mask"].astype(bool)
    logits = np.asarray(tagger(inputs(ref)))
    assert np.abs(logits[mask] - ref["tagger_logits"][mask]).max() <= 1e-4


def test_kbk_export_serves_transformers_labels(heads, tmp_path, capsys):
    folder, ref = heads
    export = tmp_path / "saved_models" / "topics" / "1"
    cli.main(["export", "--model", str(folder / "classifier"), "--output", str(export)])
    capsys.readouterr()
    texts = [str(t) for t in ref["texts"]]
    cli.main(["predict", "--model", str(export), *texts])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    labels = np.array(["world", "sports", "business", "science"])
    assert [row["label"] for row in rows] == list(labels[ref["classifier_logits"].argmax(-1)])
