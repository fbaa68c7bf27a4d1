"""Tiny fine-tuning runs for the kill-and-resume tests (tests/training/test_finetune_resume.py,
tests/faults): a random 1-layer BERT, data for `classify` (two length buckets), `tag` (CoNLL)
and `squad` (JSON), the `kbk finetune` command lines, and a process killed at a random moment.
"""

import io
import json
import os
import pathlib
import random
import subprocess
import sys
import time
import zipfile

import h5py
import numpy as np

from tests.conftest import REPO
from tests.training.runner_fixtures import make_tiny_classification

KBK = [sys.executable, "-m", "keras_bert_kit.cli"]
EPOCHS, BATCH, SAVE_EVERY = 3, 8, 3
# classify: 40 texts of 1-2 words (<= 4 tokens: bucket "4") and 64 of 3-6 words (bucket "8").
SHORT, LONG = 40, 64
CLASSIFY_BATCHES = -(-SHORT // BATCH) + -(-LONG // BATCH)  # 5 + 8 per epoch
COMMON_FLAGS = ["--epochs", str(EPOCHS), "--batch-size", str(BATCH), "--learning-rate", "5e-3",
                "--no-jit-compile", "--verbose", "0", "--save-every-steps", str(SAVE_EVERY)]
TASK_FLAGS = {"classify": ["--sequence-length", "8", "--bucket-boundaries", "4,8"],
              "tag": ["--sequence-length", "8"],
              "squad": ["--sequence-length", "16", "--max-query-length", "4", "--doc-stride", "4",
                        "--max-answer-length", "3"]}
_FILLER = ["a", "film", "movie", "dull", "bad"]


def _classify_rows(rng, count, words):
    rows = []
    for _ in range(count):
        text = [rng.choice(["good", "great", "bad", "dull"])]
        text += [rng.choice(["a", "film", "movie"]) for _ in range(rng.randint(*words) - 1)]
        rng.shuffle(text)
        rows.append(f"{' '.join(text)}\t{'pos' if {'good', 'great'} & set(text) else 'neg'}\n")
    return rows


def _conll(rng, sentences):
    lines = []
    for _ in range(sentences):
        for _ in range(rng.randint(2, 9)):
            word = rng.choice(["a", "good", "film", "movie", "great", "dull"])
            lines.append(f"{word} {'B-ITEM' if word in ('film', 'movie') else 'O'}\n")
        lines.append("\n")
    return "".join(lines)


def _squad(rng, questions, prefix):
    paragraphs = []
    for i in range(questions):
        words = [rng.choice(_FILLER) for _ in range(rng.randint(2, 14))]
        position = rng.randint(0, len(words))
        words.insert(position, "great")
        start = len(" ".join(words[:position])) + (1 if position else 0)
        paragraphs.append({"context": " ".join(words), "qas": [
            {"id": f"{prefix}{i}", "question": "which ?",
             "answers": [{"text": "great", "answer_start": start}]}]})
    return json.dumps({"version": "1.1", "data": [{"title": "t", "paragraphs": paragraphs}]})


def make_finetune_data(folder):
    """Writes `init/` and each task's train / dev files under `folder`; returns their paths."""
    folder = pathlib.Path(folder)
    init = make_tiny_classification(folder / "base")["init"]
    rng = random.Random(7)
    rows = _classify_rows(rng, SHORT, (1, 2)) + _classify_rows(rng, LONG, (3, 6))
    rng.shuffle(rows)
    files = {}
    for task, suffix, train, dev in (
            ("classify", "tsv", "text\tlabel\n" + "".join(rows),
             "text\tlabel\n" + "".join(_classify_rows(rng, 24, (1, 6)))),
            ("tag", "conll", _conll(rng, 60), _conll(rng, 16)),
            ("squad", "json", _squad(rng, 48, "t"), _squad(rng, 12, "d"))):
        paths = folder / f"{task}-train.{suffix}", folder / f"{task}-dev.{suffix}"
        paths[0].write_text(train)
        paths[1].write_text(dev)
        files[task] = paths
    return {"init": init, **files}


def finetune_argv(task, data, output, *extra):
    """`kbk finetune <task> ...` (without `kbk`) for the tiny run writing to `output`."""
    train, dev = data[task]
    return ["finetune", task, "--train", str(train), "--dev", str(dev), "--init",
            str(data["init"]), "--output", str(output), *COMMON_FLAGS, *TASK_FLAGS[task],
            *map(str, extra)]


def start_kbk(argv, log):
    """Starts `python -m keras_bert_kit.cli argv` with stdout and stderr appended to `log`."""
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    env.pop("TF_CPP_MIN_LOG_LEVEL", None)  # kbk quiets TensorFlow itself
    return subprocess.Popen([*KBK, *argv], cwd=REPO, env=env, stdout=open(log, "a"),
                            stderr=subprocess.STDOUT)


def backup_batches(output):
    """Batches trained at the newest backup of the run in `output` (None: no backup yet)."""
    try:
        return json.loads((output / "backup" / "training_metadata.json").read_text())["batches"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None


def kill_at_random(process, output, signum, seed, total_batches):
    """Sends `signum` to `process` at a random moment after the run's first backup.

    A random batch count between the first backup and a few backups before the end is drawn;
    once a backup has passed it, the signal follows after a random 0-0.1 s (mid-batch,
    mid-evaluation or mid-save: wherever the run is then).

    Returns:
        `(backup batches when the signal was sent, exit status)`.
    """
    rng = random.Random(seed)
    target = rng.randint(SAVE_EVERY, total_batches - 2 * SAVE_EVERY)
    deadline = time.monotonic() + 300
    while process.poll() is None and time.monotonic() < deadline:
        if (backup_batches(output) or 0) >= target:
            break
        time.sleep(0.005)
    time.sleep(rng.uniform(0, 0.1))
    assert process.poll() is None, "the run ended before it was killed: the test would be a no-op"
    before = backup_batches(output)
    process.send_signal(signum)
    return before, process.wait(timeout=120)


def model_weights(path):
    """`{name: array}` of the weights in a `.keras` file (read from the zip, no model built)."""
    with zipfile.ZipFile(path) as archive:
        data = archive.read("model.weights.h5")
    weights = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(lambda name, item: weights.__setitem__(name, item[()])
                     if isinstance(item, h5py.Dataset) else None)
    return weights


def metrics_without_time(output):
    result = json.loads((pathlib.Path(output) / "metrics.json").read_text())
    result.pop("train_seconds")
    return result


def assert_same_run(expected, actual):
    """The run in `actual` ended exactly as the one in `expected`: metrics, history, weights."""
    expected, actual = pathlib.Path(expected), pathlib.Path(actual)
    assert metrics_without_time(actual) == metrics_without_time(expected)
    assert (actual / "history.csv").read_text() == (expected / "history.csv").read_text()
    a, b = model_weights(expected / "model.keras"), model_weights(actual / "model.keras")
    assert a.keys() == b.keys()
    for name in a:  # both runs on this machine and kernel path: bitwise by design
        np.testing.assert_array_equal(b[name], a[name], err_msg=name)
    assert sorted(os.listdir(actual)) == sorted(os.listdir(expected))  # no backup left behind
