"""`kbk export` and `kbk predict` on a tiny classifier (single texts) and a pair classifier:
decoded rows, raw outputs, standard input, and one-line errors for the wrong kind of input."""

import io
import json

import pytest

from keras_bert_kit import cli
from keras_bert_kit.models.bert_classifier import BertClassifier
from tests.training.runner_fixtures import make_tiny_classification

TEXTS = ["a good film", "a dull movie"]


@pytest.fixture(scope="module")
def exports(tmp_path_factory):
    folder = tmp_path_factory.mktemp("exports")
    init = make_tiny_classification(folder)["init"]
    paths = {}
    for name, inputs in (("single", 1), ("pair", 2)):
        model = BertClassifier.from_pretrained(init, num_classes=2, sequence_length=8,
                                               label_vocabulary=["neg", "pos"],
                                               text_inputs=inputs)
        model.save(folder / f"{name}.keras")
        paths[name] = str(folder / name / "1")
        cli.main(["export", "--model", str(folder / f"{name}.keras"), "--output", paths[name],
                  "--no-check"])
    return paths


def rows(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_predict_prints_one_decoded_row_per_text(exports, capsys):
    capsys.readouterr()
    cli.main(["predict", "--model", exports["single"], *TEXTS])
    printed = rows(capsys)
    assert [row["text"] for row in printed] == TEXTS
    for row in printed:
        assert row["label"] in ("neg", "pos") and len(row["probabilities"]) == 2
    cli.main(["predict", "--model", exports["single"], "--raw", TEXTS[0]])
    (raw,) = rows(capsys)
    assert raw["text"] == TEXTS[0] and "label" in raw


def test_predict_reads_standard_input(exports, capsys, monkeypatch):
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(f"{t}\t{t}\n" for t in TEXTS)))
    cli.main(["predict", "--model", exports["pair"]])
    assert len(rows(capsys)) == 2
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    with pytest.raises(SystemExit, match="give texts as arguments or on standard input"):
        cli.main(["predict", "--model", exports["single"]])


@pytest.mark.parametrize("export, argv, message", [
    ("pair", ["a good film"], "takes pairs"),
    ("single", ["--pair", "x", "a good film"], "takes single texts"),
    ("pair", ["--pair", "x", "a", "b"], "2 texts but 1 pairs"),
])
def test_the_wrong_kind_of_input_is_one_line(exports, export, argv, message, capsys):
    capsys.readouterr()
    with pytest.raises(SystemExit, match=message) as exit:
        cli.main(["predict", "--model", exports[export], *argv])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("kbk predict: error: ") and err.count("\n") == 1
