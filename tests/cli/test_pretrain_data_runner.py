"""`kbk pretrain-data --runner`: Beam's own flags pass through; the local runner refuses them."""

import importlib.util
import subprocess
import sys

import pytest

from keras_bert_kit.cli import build_parser, main
from keras_bert_kit.cli.data import _pipeline_options
from tests.conftest import FIXTURES

BASE = ["pretrain-data", "--input", "a.txt", "--vocab", "v.txt", "--output", "out"]


def _args(argv):
    args, unknown = build_parser().parse_known_args(argv)
    args.unknown_flags = [flag for flag in unknown if flag != "--"]
    return args


def test_beam_flags_reach_the_pipeline_options():
    args = _args(BASE + ["--runner", "DataflowRunner", "--project=p", "--region=r",
                         "--temp_location=gs://b/tmp"])
    assert args.runner == "DataflowRunner"
    assert _pipeline_options(args) == ["--project=p", "--region=r", "--temp_location=gs://b/tmp"]
    assert _pipeline_options(_args(BASE)) is None and _args(BASE).runner == "local"


def test_the_local_runner_refuses_beam_flags_in_one_line(tmp_path):
    run = subprocess.run([sys.executable, "-m", "keras_bert_kit.cli", *BASE, "--project=p"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "kbk pretrain-data: error: Beam pipeline options '--project=p' given, but --runner is "
        "local (pass --runner DirectRunner|DataflowRunner|FlinkRunner|SparkRunner)"]


def test_other_commands_still_reject_unknown_flags(capsys):
    with pytest.raises(SystemExit) as exit_info:
        main(["vocab", "--input", "a.txt", "--output", "v.txt", "--project=p"])
    assert exit_info.value.code == 2
    assert "unrecognized arguments: --project=p" in capsys.readouterr().err


def test_a_beam_runner_without_beam_installed_is_one_line(tmp_path):
    pytest.importorskip("tensorflow")
    if importlib.util.find_spec("apache_beam") is not None:
        pytest.skip("apache_beam is installed here")
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("One sentence here.\nAnother one.\n\nA second document.\n")
    vocab = FIXTURES / "text" / "cased_vocab.txt"
    run = subprocess.run([sys.executable, "-m", "keras_bert_kit.cli", "pretrain-data", "--input",
                          str(corpus), "--vocab", str(vocab), "--output", str(tmp_path / "out"),
                          "--no-do-lower-case", "--runner", "DirectRunner"],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 2
    assert run.stderr.strip().splitlines() == [
        "kbk pretrain-data: error: runner='DirectRunner' needs Apache Beam: pip install "
        "'keras-bert-kit[beam]' (or apache-beam==2.78.0), or use the local runner"]
    assert not (tmp_path / "out").exists()


def test_existing_shards_are_one_line_and_left_alone(tmp_path):
    corpus = tmp_path / "corpus.txt"
    corpus.write_text("One sentence here.\nAnother one.\n\nA second document.\nAnd more.\n")
    command = [sys.executable, "-m", "keras_bert_kit.cli", "pretrain-data", "--input", str(corpus),
               "--vocab", str(FIXTURES / "text" / "cased_vocab.txt"), "--output",
               str(tmp_path / "out"), "--no-do-lower-case", "--dupe-factor", "1"]
    assert subprocess.run(command, capture_output=True, cwd=tmp_path).returncode == 0
    before = {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()}
    again = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path)
    assert again.returncode == 2
    lines = again.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("kbk pretrain-data: error: ")
    assert "--overwrite" in lines[0]
    assert {p.name: p.read_bytes() for p in (tmp_path / "out").iterdir()} == before
