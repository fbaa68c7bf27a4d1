"""Every path flag takes a bare relative path: `kbk` run inside the folder that holds the files.

`os.path.dirname("tiny.keras")` is `""`, not `"."`; code that derives a folder from a file path
must not hand that on. Each command runs in process with the working folder set to the files'.
"""

import json
import shutil

import pytest

from keras_bert_kit import cli
from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.models.bert_classifier import BertClassifier
from tests.training.runner_fixtures import TINY_FLAGS, make_tiny_classification


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """`tiny.keras` (a backbone), `vocab.txt`, `train.tsv`, `dev.tsv`, `classifier.keras` (a
    task model with its preprocessor), and `init/` (a Hugging Face folder) side by side."""
    folder = tmp_path_factory.mktemp("relative")
    tiny = make_tiny_classification(folder)
    BertBackbone.from_pretrained(tiny["init"]).save(folder / "tiny.keras")
    shutil.copy(tiny["init"] / "vocab.txt", folder / "vocab.txt")
    classifier = BertClassifier.from_pretrained(tiny["init"], num_classes=2, sequence_length=8,
                                                label_vocabulary=["neg", "pos"])
    classifier.save(folder / "classifier.keras")
    return folder


def test_finetune_init_with_a_bare_keras_file_name(folder, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(folder)
    assert cli.main(["finetune", "classify", "--init", "tiny.keras", "--train", "train.tsv",
                     "--dev", "dev.tsv", "--output", str(tmp_path / "out"), *TINY_FLAGS]) is None
    assert "dev_metrics" in json.loads(capsys.readouterr().out)
    assert (tmp_path / "out" / "model.keras").exists()


def test_export_then_predict_with_relative_paths(folder, tmp_path, monkeypatch, capsys):
    shutil.copy(folder / "classifier.keras", tmp_path / "classifier.keras")
    monkeypatch.chdir(tmp_path)
    cli.main(["export", "--model", "classifier.keras", "--output", "exported/1", "--no-check"])
    assert (tmp_path / "exported" / "1" / "saved_model.pb").exists()
    capsys.readouterr()
    monkeypatch.chdir(tmp_path / "exported")
    cli.main(["predict", "--model", "1", "a good film"])
    assert json.loads(capsys.readouterr().out)["label"] in ("neg", "pos")


@pytest.mark.parametrize("where, model", [("init", "."), (".", "init"), (".", "tiny.keras")])
def test_embed_model_relative(folder, monkeypatch, capsys, where, model):
    monkeypatch.chdir(folder / where)
    cli.main(["embed", "--model", model, "a good film", "a dull movie"])
    out = capsys.readouterr().out
    assert "cosine similarity:" in out and "[0]  1.000" in out


def test_convert_a_bare_weight_file_name(folder, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(folder / "init")
    cli.main(["convert", "--input", "model.safetensors", "--output", str(tmp_path / "hf")])
    assert (tmp_path / "hf" / "vocab.txt").exists()
    assert (tmp_path / "hf" / "model.safetensors").exists()
