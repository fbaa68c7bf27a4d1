"""SIGTERM on a single process: a pretraining run saves the step it stopped at, exits with 143
within the grace period, and the same command resumes it to the uninterrupted result; outside the
training loop a SIGTERM exits at once; a stuck process exits after the grace period.
"""

import json
import random
import signal
import subprocess
import sys
import time

import pytest

from keras_bert_kit.training.callbacks import TrainingBackup
from keras_bert_kit.training.preemption import PREEMPTED_EXIT_CODE, Preempted
from tests.conftest import REPO
from tests.training.launch_fixtures import (DOC, GRACE_SECONDS, backup_metadata, doc_command,
                                            max_weight_difference, start_process,
                                            stop_after_first_backup)
from tests.training.pretrain_fixtures import make_tiny_data, write_config

TOTAL_STEPS, SAVE_EVERY = 40, 8
COMMAND = doc_command("kbk pretrain")


def test_sigterm_saves_the_step_and_the_same_command_resumes_exactly(tmp_path):
    data = make_tiny_data(tmp_path / "data")
    configs = {name: write_config(tmp_path / f"{name}.yaml", data, tmp_path / name,
                                  total_steps=TOTAL_STEPS, save_every_steps=SAVE_EVERY)
               for name in ("straight", "stopped")}
    straight = start_process(COMMAND, configs["straight"], tmp_path / "straight",
                             tmp_path / "straight-logs")
    victim = start_process(COMMAND, configs["stopped"], tmp_path / "stopped",
                           tmp_path / "stopped-logs")
    before, exits = stop_after_first_backup(victim, signal.SIGTERM, seed=random.randrange(1000),
                                            max_delay=0.5)
    [(code, seconds)] = exits
    assert code == PREEMPTED_EXIT_CODE, victim.log_tails()
    assert seconds < GRACE_SECONDS
    stopped = backup_metadata(victim.output)
    assert stopped["epoch"] < TOTAL_STEPS // SAVE_EVERY, "the run ended before it was stopped"
    assert stopped["batches"] >= before["batches"]
    assert "run the same command again to resume" in victim.log_tails()["worker-0.log"]

    start_process(COMMAND, configs["stopped"], victim.output, victim.logs).finish()
    straight.finish()
    resumed = json.loads((victim.output / "metrics.json").read_text())
    assert resumed["resumed_from_step"] == stopped["batches"]
    assert resumed["optimizer_steps"] == TOTAL_STEPS
    assert max_weight_difference(victim.output, straight.output) == 0  # same batches and masks
    with open(victim.output / "history.csv") as f:
        assert [int(line.split(",")[0]) for line in f.readlines()[1:]] == list(
            range(TOTAL_STEPS // SAVE_EVERY))


WATCHED = """
import os, signal, sys, time
from keras_bert_kit.training.preemption import TerminationWatch
with TerminationWatch(grace_seconds=float(sys.argv[1])) as watch:
    watch.in_training = sys.argv[2] == "training"
    print("ready", flush=True)
    time.sleep(60)
"""


@pytest.mark.parametrize("where, at_most", [("start-up", 5), ("training", 5)])
def test_sigterm_ends_the_process_with_143(where, at_most):
    """Outside the training loop at once; inside it, if nothing saves, after the grace period."""
    process = subprocess.Popen([sys.executable, "-c", WATCHED, "1", where], cwd=REPO,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    assert process.stdout.readline() == "ready\n"
    sent = time.monotonic()
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == PREEMPTED_EXIT_CODE
    assert time.monotonic() - sent < at_most
    if where == "training":
        assert "exiting without saving" in process.stderr.read()


class _Requested:
    class requested:  # noqa: N801  (stands for a TerminationWatch's attribute)
        is_set = staticmethod(lambda: True)


def test_a_stop_on_an_epochs_last_batch_waits_for_the_epochs_end():
    backup = TrainingBackup("unused", batches_per_epoch=4, write=False, watch=_Requested())
    backup.on_epoch_begin(0)
    with pytest.raises(Preempted, match="epoch 0, batch 3"):
        backup.on_train_batch_end(2)
    backup = TrainingBackup("unused", batches_per_epoch=4, write=False, watch=_Requested())
    backup.on_epoch_begin(0)
    backup.on_train_batch_end(3)  # the epoch's last batch: evaluation and log row first
    with pytest.raises(Preempted, match="after epoch 1") as stop:
        backup.on_epoch_end(0)
    assert stop.value.code == 143


def test_the_exit_status_is_documented():
    text = DOC.read_text()
    assert PREEMPTED_EXIT_CODE == 143 and "status 143" in text and "PREEMPTED_EXIT_CODE" in text
