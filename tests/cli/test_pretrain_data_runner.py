"""`kbk pretrain-data --runner`: Beam's own flags pass through; the local runner refuses them."""

import subprocess
import sys

import pytest

from keras_bert_kit.cli import build_parser, main
from keras_bert_kit.cli.data import _pipeline_options

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
