"""One error style: a user's mistake prints one line, `kbk <command>: error: <message>`, to
standard error and exits with status 2, with no traceback and no TensorFlow log lines;
`--debug` shows the traceback."""

import os
import subprocess
import sys

import pytest

from keras_bert_kit import cli
from tests.conftest import REPO
from tests.training.runner_fixtures import POSITIONS, TINY_FLAGS, make_tiny_classification

KBK = [sys.executable, "-m", "keras_bert_kit.cli"]


def kbk(*argv, cwd=REPO):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.run([*KBK, *argv], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_classification(tmp_path_factory.mktemp("tiny"))


def test_a_missing_file_is_one_line_and_status_2(tmp_path):
    done = kbk("finetune", "classify", "--train", "missing.tsv", "--dev", "missing.tsv",
               "--init", "nowhere/", cwd=tmp_path)
    assert done.returncode == 2
    assert done.stderr == ("kbk finetune classify: error: missing.tsv: No such file or "
                           "directory\n")
    assert done.stdout == ""


def test_debug_shows_the_traceback(tmp_path):
    done = kbk("finetune", "classify", "--train", "missing.tsv", "--dev", "missing.tsv",
               "--init", "nowhere/", "--debug", cwd=tmp_path)
    assert done.returncode == 1
    assert "Traceback (most recent call last)" in done.stderr
    assert "FileNotFoundError" in done.stderr


@pytest.mark.parametrize("argv, message", [
    (["finetune", "classify", "--train", "t", "--dev", "d", "--init", "m", "--batch-size", "0"],
     "kbk finetune classify: error: argument --batch-size: expected a positive number, not 0"),
    (["finetune", "tag", "--train", "t", "--dev", "d", "--init", "m", "--epochs", "-2"],
     "kbk finetune tag: error: argument --epochs: expected a positive number, not -2"),
    (["finetune", "squad", "--train", "t", "--dev", "d", "--init", "m", "--learning-rate", "x"],
     "kbk finetune squad: error: argument --learning-rate: expected a number, not 'x'"),
    (["finetune", "classify", "--pooling", "max"],
     "kbk finetune classify: error: argument --pooling: invalid choice: 'max' (choose from "
     "pooled, mean)"),
    (["pretrain", "--train-files", "a", "--bogus"],
     "kbk: error: unrecognized arguments: --bogus"),
    (["finetune", "tag", "--dev", "d"],
     "kbk finetune tag: error: give --init, --train (as flags or in the --config YAML)"),
    (["pretrain", "--train-files", "a", "--vocab", "v", "--output", "o"],
     "kbk pretrain: error: pretrain needs exactly one of preset= (a new model) and init= "
     "(weights)"),
    (["predict", "--model", "no/such/export", "text"], "kbk predict: error: no/such/export: "),
])
def test_bad_flags_are_one_line_and_status_2(argv, message, capsys):
    with pytest.raises(SystemExit) as exit:
        cli.main(argv)
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith(message.split("(choose")[0]), err


def test_a_bad_yaml_key_is_one_line(tmp_path, capsys):
    config = tmp_path / "run.yaml"
    config.write_text("train_files: a\nbach_size: 8\n")
    with pytest.raises(SystemExit) as exit:
        cli.main(["pretrain", "--config", str(config)])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith(f"kbk pretrain: error: {config}: unknown key 'bach_size'")
    assert err.count("\n") == 1


def test_a_sequence_length_beyond_the_model_stops_before_training(tiny, tmp_path, capsys):
    output = tmp_path / "run"
    flags = [f if f != "8" or i != TINY_FLAGS.index("--sequence-length") + 1 else "64"
             for i, f in enumerate(TINY_FLAGS)]
    with pytest.raises(SystemExit) as exit:
        cli.main(["finetune", "classify", "--train", str(tiny["train"]), "--dev",
                  str(tiny["dev"]), "--init", str(tiny["init"]), "--output", str(output),
                  *flags])
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("kbk finetune classify: error: sequence_length=64 is more than the "
                          f"{POSITIONS} positions") and err.count("\n") == 1
    assert not (output / "history.csv").exists()


def test_verbose_brings_tensorflow_logs_back(monkeypatch):
    """TensorFlow's log lines are silenced by default; `--verbose` (after the command, or
    `kbk --verbose` before a training command, whose own `--verbose` is Keras' progress) or
    `--debug` skips the silencing."""
    parser = cli.build_parser()
    assert parser.parse_args(["predict", "--model", "m", "--verbose"]).tensorflow_logs
    assert parser.parse_args(["--verbose", "export", "--model", "m", "--output", "o"]
                             ).tensorflow_logs
    train = parser.parse_args(["finetune", "classify", "--verbose", "0"])
    assert train.verbose == 0 and not train.tensorflow_logs
    assert parser.parse_args(["--verbose", "finetune", "classify"]).tensorflow_logs
    quieted = []
    monkeypatch.setattr(cli, "quiet_tensorflow", lambda: quieted.append(True))
    for argv, quiet in ((["predict", "--model", "no/such", "x"], True),
                        (["predict", "--model", "no/such", "x", "--verbose"], False)):
        with pytest.raises(SystemExit):
            cli.main(argv)
        assert quieted == ([True] if quiet else []), argv
        quieted.clear()
