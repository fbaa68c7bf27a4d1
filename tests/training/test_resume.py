"""Kill-and-resume: a pretraining run killed with SIGKILL and started again with the same command
ends at the same optimizer step, on the same batches and dropout masks, as an uninterrupted run;
the backup survives a kill in the middle of a save.
"""

import csv
import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from safetensors.numpy import load_file

from keras_bert_kit.errors import UserError
from keras_bert_kit.training.resume import (METADATA_FILE, PREVIOUS_METADATA_FILE, Position,
                                            backup_position, load_backup, save_backup)

from tests.conftest import REPO
from tests.training.pretrain_fixtures import RECIPE, make_tiny_data, write_config

TOTAL_STEPS, SAVE_EVERY = 24, 4


def start(config, log_path):
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen([sys.executable, str(RECIPE), "--config", str(config)], cwd=REPO,
                            env=env, stdout=open(log_path, "a"), stderr=subprocess.STDOUT)


def finish(process, log_path):
    assert process.wait(timeout=300) == 0, log_path.read_text()[-3000:]


def saved_epoch(output):
    path = output / "backup" / "training_metadata.json"
    try:
        return json.loads(path.read_text())["epoch"]
    except (FileNotFoundError, json.JSONDecodeError):
        return 0


def last_row(output):
    with open(output / "history.csv", newline="") as f:
        return list(csv.DictReader(f))[-1]


@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_killed_run_resumes_to_the_uninterrupted_result(tmp_path):
    data = make_tiny_data(tmp_path / "data")
    runs = {name: tmp_path / name for name in ("straight", "killed")}
    configs = {name: write_config(tmp_path / f"{name}.yaml", data, output,
                                  total_steps=TOTAL_STEPS, save_every_steps=SAVE_EVERY)
               for name, output in runs.items()}
    logs = {name: tmp_path / f"{name}.log" for name in runs}
    straight = start(configs["straight"], logs["straight"])
    victim = start(configs["killed"], logs["killed"])
    while saved_epoch(runs["killed"]) < 1 and victim.poll() is None:
        time.sleep(0.01)
    os.kill(victim.pid, signal.SIGKILL)
    victim.wait()
    epoch_at_kill = saved_epoch(runs["killed"])
    assert 1 <= epoch_at_kill < TOTAL_STEPS // SAVE_EVERY, "the run ended before it was killed"

    finish(start(configs["killed"], logs["killed"]), logs["killed"])
    finish(straight, logs["straight"])

    resumed = json.loads((runs["killed"] / "metrics.json").read_text())
    uninterrupted = json.loads((runs["straight"] / "metrics.json").read_text())
    assert resumed["resumed_from_step"] == epoch_at_kill * SAVE_EVERY
    assert resumed["optimizer_steps"] == uninterrupted["optimizer_steps"] == TOTAL_STEPS
    # Same batches, same dropout masks, same arithmetic: the results agree exactly (both runs on
    # this machine and kernel path, so bitwise by design).
    assert last_row(runs["killed"]) == last_row(runs["straight"])
    weights = {name: load_file(output / "backbone" / "model.safetensors")
               for name, output in runs.items()}
    for name, value in weights["straight"].items():
        np.testing.assert_array_equal(weights["killed"][name], value, err_msg=name)
    with open(runs["killed"] / "history.csv", newline="") as f:
        assert [int(row["epoch"]) for row in csv.DictReader(f)] == list(range(6))


def tiny_model(iterations):
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    model.compile(optimizer="adam", loss="mse")
    model.optimizer.build(model.trainable_variables)
    model.optimizer.iterations.assign(iterations)
    model.layers[0].kernel.assign(np.full((2, 1), float(iterations), "float32"))
    return model


def test_a_kill_between_the_renames_of_a_save_resumes_from_a_consistent_backup(tmp_path):
    backup = tmp_path / "backup"
    save_backup(tiny_model(10), backup, Position(1, 0), batches_per_epoch=10)
    save_backup(tiny_model(13), backup, Position(1, 3), batches_per_epoch=10)
    assert backup_position(backup) == Position(1, 3)
    assert sorted(p.name for p in backup.glob("seed_generators-*")) == [
        "seed_generators-1-3.npz", "seed_generators-1.npz"]
    model = tiny_model(0)
    assert load_backup(model, backup, 10) == Position(1, 3)
    assert int(model.optimizer.iterations.numpy()) == 13

    # Killed after the new weights were renamed into place but before the new metadata was:
    # the newest metadata describes the previous weights, which are used.
    (backup / PREVIOUS_METADATA_FILE).replace(backup / METADATA_FILE)
    model = tiny_model(0)
    assert load_backup(model, backup, 10) == Position(1, 0)
    assert float(model.layers[0].kernel.numpy()[0, 0]) == 10.0

    (backup / "latest.weights.h5").unlink()
    (backup / "previous.weights.h5").unlink()
    tiny_model(13).save_weights(backup / "latest.weights.h5")
    with pytest.raises(UserError, match="no weights file matches the backup metadata"):
        load_backup(tiny_model(0), backup, 10)
