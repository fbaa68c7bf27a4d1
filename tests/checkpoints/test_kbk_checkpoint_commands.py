"""`kbk convert` keeps heads and tokenizer files; `kbk export --model <checkpoint folder>` picks
the task from `architectures` and serves the checkpoint's labels."""

import json
import os

import numpy as np
import pytest

from keras_bert_kit import cli
from keras_bert_kit.models.bert_classifier import BertClassifier
from keras_bert_kit.models.bert_token_classifier import BertTokenClassifier
from tests.conftest import FIXTURES

TASK_HEADS = FIXTURES / "task_heads"
TEXTS = ["the movie was good", "alice saw paris and london"]


def test_convert_keeps_the_head_labels_and_tokenizer(tmp_path, capsys):
    out = tmp_path / "converted"
    cli.main(["convert", "--input", str(TASK_HEADS / "h5" / "token"), "--output", str(out)])
    assert "vocab.txt, tokenizer_config.json" in capsys.readouterr().out
    assert sorted(os.listdir(out)) == ["config.json", "model.safetensors",
                                       "tokenizer_config.json", "vocab.txt"]
    config = json.loads((out / "config.json").read_text())
    assert config["architectures"] == ["BertForTokenClassification"]
    ref = dict(np.load(TASK_HEADS / "h5.npz"))
    inputs = {k: ref[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    tagger = BertTokenClassifier.from_pretrained(out)
    assert tagger.label_vocabulary == ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]
    mask = ref["padding_mask"].astype(bool)
    assert np.abs(np.asarray(tagger(inputs))[mask] - ref["token_logits"][mask]).max() <= 1e-5


def test_convert_of_an_encoder_copies_the_tokenizer(tmp_path):
    out = tmp_path / "encoder"
    cli.main(["convert", "--input", str(TASK_HEADS / "bin" / "sequence"), "--output",
              str(tmp_path / "seq")])
    assert (tmp_path / "seq" / "vocab.txt").read_text() == (
        TASK_HEADS / "bin" / "sequence" / "vocab.txt").read_text()
    cli.main(["convert", "--input", str(FIXTURES / "tiny_bert_pytorch"), "--output", str(out)])
    assert json.loads((out / "config.json").read_text())["architectures"] == ["BertForPreTraining"]


def test_export_of_a_checkpoint_folder_serves_its_labels(tmp_path, capsys):
    folder = TASK_HEADS / "safetensors" / "sequence"
    export = tmp_path / "saved_models" / "sentiment" / "1"
    cli.main(["export", "--model", str(folder), "--output", str(export), "--no-check"])
    capsys.readouterr()
    cli.main(["predict", "--model", str(export), *TEXTS])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    model = BertClassifier.from_pretrained(folder)
    expected = np.array(model.label_vocabulary)[model.predict(TEXTS, verbose=0).argmax(-1)]
    assert [row["label"] for row in rows] == list(expected)


def test_export_needs_a_task_and_a_vocabulary(tmp_path, capsys):
    with pytest.raises(SystemExit):
        cli.main(["export", "--model", str(FIXTURES / "tiny_bert_pytorch"), "--output",
                  str(tmp_path / "m" / "1")])
    assert "no vocab.txt in this folder" in capsys.readouterr().err
    encoder = tmp_path / "encoder"
    cli.main(["convert", "--input", str(TASK_HEADS / "bin" / "sequence"), "--output",
              str(encoder)])
    config = json.loads((encoder / "config.json").read_text())
    config["architectures"] = ["BertModel"]
    (encoder / "config.json").write_text(json.dumps(config))
    (encoder / "model.safetensors").unlink()
    cli.main(["convert", "--input", str(FIXTURES / "tiny_bert_pytorch"), "--output",
              str(tmp_path / "plain")])
    os.replace(tmp_path / "plain" / "model.safetensors", encoder / "model.safetensors")
    config.update(json.loads((tmp_path / "plain" / "config.json").read_text()))
    config["architectures"] = ["BertModel"]
    (encoder / "config.json").write_text(json.dumps(config))
    capsys.readouterr()
    with pytest.raises(SystemExit):
        cli.main(["export", "--model", str(encoder), "--output", str(tmp_path / "m" / "1")])
    err = capsys.readouterr().err
    assert "holds no task head" in err and "pass --task" in err
