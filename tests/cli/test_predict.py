"""`kbk export` and `kbk predict` on a tiny classifier (single texts) and a pair classifier:
decoded rows, raw outputs, standard input, and one-line errors for the wrong kind of input."""

import io
import json
import os
import subprocess
import sys

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


def stdin_bytes(data):
    return io.TextIOWrapper(io.BytesIO(data), encoding="utf-8")


def test_predict_reads_standard_input(exports, capsys, monkeypatch):
    capsys.readouterr()
    monkeypatch.setattr("sys.stdin", io.StringIO("".join(f"{t}\t{t}\n" for t in TEXTS)))
    cli.main(["predict", "--model", exports["pair"]])
    assert len(rows(capsys)) == 2
    monkeypatch.setattr("sys.stdin", stdin_bytes(b"\n"))   # one empty line: one answer
    cli.main(["predict", "--model", exports["single"]])
    assert [row["text"] for row in rows(capsys)] == [""]


def test_standard_input_is_bytes_one_answer_per_line(exports, capsys, monkeypatch):
    capsys.readouterr()
    lines = [b"a good film", b"bad \xff movie", b"", b"\xc3", b"a dull movie\r"]
    monkeypatch.setattr("sys.stdin", stdin_bytes(b"\n".join(lines)))
    cli.main(["predict", "--model", exports["single"], "--batch-size", "2"])
    printed = rows(capsys)
    assert [row["text"] for row in printed] == ["a good film", "bad \ufffd movie", "",
                                                "\ufffd", "a dull movie"]
    alone = {}
    for text in ("a good film", "a dull movie"):
        cli.main(["predict", "--model", exports["single"], text])
        alone[text] = rows(capsys)[0]["probabilities"]
    assert printed[0]["probabilities"] == pytest.approx(alone["a good film"], abs=1e-6)
    assert printed[4]["probabilities"] == pytest.approx(alone["a dull movie"], abs=1e-6)


def test_ten_thousand_lines_with_bad_bytes_and_1mb_lines(exports, tmp_path):
    """`kbk predict` as a process: 10 000 lines (invalid UTF-8, empty lines, three 1 MB lines)
    → 10 000 answers, status 0, nothing on standard error (about 15 s on 2 CPU cores)."""
    words = [b"a", b"good", b"film", b"caf\xc3\xa9", b"\xff", b"\xc3", b"\xe2\x82", b"dull"]
    lines = []
    for i in range(10_000):
        if i % 10 == 3:
            lines.append(b"")
        elif i in (100, 5000, 9998):
            lines.append((b"good film \xff " * 80_000)[:1 << 20])
        else:
            lines.append(b" ".join(words[(i * 7 + j) % len(words)] for j in range(1 + i % 9)))
    path = tmp_path / "lines.txt"
    path.write_bytes(b"\n".join(lines) + b"\n")
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    with open(path, "rb") as stdin:
        done = subprocess.run([sys.executable, "-m", "keras_bert_kit.cli", "predict", "--model",
                               exports["single"]], stdin=stdin, capture_output=True, env=env,
                              timeout=600)
    assert done.returncode == 0 and done.stderr == b"", done.stderr[-2000:]
    out = done.stdout.decode("utf-8").splitlines()
    assert len(out) == 10_000
    assert json.loads(out[3])["text"] == "" and "\ufffd" in json.loads(out[4])["text"]


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
