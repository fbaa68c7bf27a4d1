"""`--head new` fine-tunes a fresh head on a checkpoint whose head does not fit the data; without
it, the mismatch is one clear error (never a silent re-initialisation)."""

import json
import subprocess
import sys

import pytest

from tests.conftest import FIXTURES

CHECKPOINT = FIXTURES / "task_heads" / "safetensors" / "sequence"  # a 3-class sequence head


def _kbk(tmp_path, *flags):
    words = (CHECKPOINT / "vocab.txt").read_text().split()[5:40]
    rows = [f"{words[i]} {words[i + 1]} movie\t{i % 2}" for i in range(24)]
    (tmp_path / "train.tsv").write_text("text\tlabel\n" + "\n".join(rows) + "\n")
    return subprocess.run(
        [sys.executable, "-m", "keras_bert_kit.cli", "finetune", "classify",
         "--train", str(tmp_path / "train.tsv"), "--dev", str(tmp_path / "train.tsv"),
         "--init", str(CHECKPOINT), "--epochs", "1", "--batch-size", "8", "--sequence-length",
         "16", "--output", str(tmp_path / "run"), "--no-jit-compile", *flags],
        capture_output=True, text=True, cwd=tmp_path, timeout=600)


@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_a_head_that_does_not_fit_is_an_error_and_head_new_replaces_it(tmp_path):
    labels = json.loads((CHECKPOINT / "config.json").read_text())["id2label"]
    assert len(labels) != 2
    refused = _kbk(tmp_path)
    assert refused.returncode == 2, refused.stderr
    assert refused.stderr.strip().splitlines()[-1].startswith("kbk finetune classify: error:")
    assert "head='new'" in refused.stderr or "--head new" in refused.stderr

    fresh = _kbk(tmp_path, "--head", "new")
    assert fresh.returncode == 0, fresh.stderr
    assert "new" in fresh.stderr.lower()  # the fresh head is said, not silent
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["label_vocabulary"] == ["0", "1"]
