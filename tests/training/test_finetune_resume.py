"""Fine-tuning that survives being killed (`kbk finetune classify | tag | squad`).

A run stopped at any batch, as SIGTERM stops it (a backup of that batch, exit 143) or as a crash
or SIGKILL does (the last periodic backup), and started again with the same command, ends
exactly as an uninterrupted run: the same dev metrics, `history.csv`, `metrics.json` and best
weights, bit for bit (each epoch's batches are planned from the seed and the epoch; dropout
seeds, optimizer, metric totals, best epoch and history come back from the backup). A folder
holding a finished run is refused without `--overwrite`, untouched; other settings over a killed
run's backup are refused, naming the setting.
"""

import os
import pathlib
import random
import re
import shutil
import signal

import keras
import pytest

from keras_bert_kit import cli
from keras_bert_kit.cli import build_parser
from keras_bert_kit.cli.arguments import config_from_args
from keras_bert_kit.training.callbacks import BestModelCheckpoint
from keras_bert_kit.training.preemption import PREEMPTED_EXIT_CODE, Preempted
from keras_bert_kit.training.runner import Runner
from keras_bert_kit.training.tasks import get_task
from tests.training.finetune_resume_fixtures import (CLASSIFY_BATCHES, EPOCHS, SAVE_EVERY,
                                                     assert_same_run, backup_batches,
                                                     finetune_argv, kill_at_random,
                                                     make_finetune_data, start_kbk)

RESUMED = re.compile(r"resuming (from epoch (\d+), step (\d+)|after the last epoch)")


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_finetune_data(tmp_path_factory.mktemp("finetune-data"))


class Interrupt(keras.callbacks.Callback):
    """Stops a run after its `at`-th training batch: `"sigterm"` the way SIGTERM does (the
    run's stop request: it backs up that batch and exits 143), `"crash"` with an exception (what
    survives is the last periodic backup, as after SIGKILL)."""

    def __init__(self, runner, at, how):
        super().__init__()
        self.runner, self.at, self.how, self.seen = runner, at, how, 0

    def on_train_batch_end(self, batch, logs=None):
        self.seen += 1
        if self.seen == self.at:
            if self.how == "sigterm":
                self.runner.watch.requested.set()
            else:
                raise RuntimeError(f"crash after batch {self.at}")


def runner(task, data, output, *extra, interrupt=None):
    """The `Runner` of `kbk finetune <task> ...`; `interrupt=(at, how)` adds an `Interrupt`."""
    hooks = get_task(task)
    if interrupt is not None:
        class Interrupted(hooks):
            def callbacks(self):
                return [*super().callbacks(), Interrupt(self.runner, *interrupt)]
        hooks = Interrupted
    return Runner(hooks, config_from_args(build_parser().parse_args(
        finetune_argv(task, data, output, *extra))))


@pytest.fixture(scope="module")
def straight(data, tmp_path_factory):
    """Uninterrupted runs, one per task, made on first use."""
    root, done = tmp_path_factory.mktemp("straight"), {}

    def get(task):
        if task not in done:
            runner(task, data, root / task).run()
            done[task] = root / task
        return done[task]
    return get


@pytest.mark.parametrize("task, at, how, resumed_at", [
    ("classify", 5, "sigterm", 5),            # inside the first epoch: that very batch
    ("classify", 2 * CLASSIFY_BATCHES + 5, "crash", 2 * CLASSIFY_BATCHES + 3),  # periodic backup
    pytest.param("classify", CLASSIFY_BATCHES + 2, "crash", CLASSIFY_BATCHES,  # epoch-end backup
                 marks=pytest.mark.slow),
    ("tag", 4, "sigterm", 4),
    ("squad", 7, "crash", 6),
])
@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_a_stopped_run_resumes_to_the_uninterrupted_result(data, straight, tmp_path, caplog,
                                                           task, at, how, resumed_at):
    output = tmp_path / "run"
    stop = Preempted if how == "sigterm" else RuntimeError
    with pytest.raises(stop) as stopped:
        runner(task, data, output, interrupt=(at, how)).run()
    if how == "sigterm":
        assert stopped.value.code == PREEMPTED_EXIT_CODE
    assert backup_batches(output) == resumed_at
    assert not (output / "metrics.json").exists()

    resumed = runner(task, data, output)
    assert resumed.resuming
    resumed.run()
    assert resumed.position.batches(resumed.hooks.steps_per_epoch) == resumed_at
    assert "resuming from epoch" in caplog.text
    assert_same_run(straight(task), output)


# New kill moments every run; pytest-xdist's workers must collect the same ids, so they seed from
# the run's shared id (a plain pytest run seeds from the system).
_KILL_SEEDS = random.Random(os.environ.get("PYTEST_XDIST_TESTRUNUID"))


@pytest.mark.parametrize("signum", [pytest.param(signal.SIGTERM, marks=pytest.mark.slow),
                                    signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
@pytest.mark.parametrize("seed", [
    _KILL_SEEDS.randrange(10**6),
    pytest.param(_KILL_SEEDS.randrange(10**6), marks=pytest.mark.slow),
    pytest.param(_KILL_SEEDS.randrange(10**6), marks=pytest.mark.slow)])
def test_a_killed_kbk_process_resumes_with_the_same_command(data, tmp_path_factory, tmp_path,
                                                            signum, seed):
    """`kbk finetune classify` as a process, killed at a random moment after its first backup
    (seeded: the seed is in the test id), then the same command again: exit 0, the resume line
    on standard error, and the uninterrupted run's `metrics.json`, history and weights."""
    reference = tmp_path_factory.getbasetemp() / "kbk-straight"
    if not (reference / "metrics.json").exists():
        process = start_kbk(finetune_argv("classify", data, reference), tmp_path / "straight.log")
        assert process.wait(timeout=600) == 0, (tmp_path / "straight.log").read_text()[-3000:]
    output, log = tmp_path / "killed", tmp_path / "killed.log"
    argv = finetune_argv("classify", data, output)
    before, code = kill_at_random(start_kbk(argv, log), output, signum, seed,
                                  EPOCHS * CLASSIFY_BATCHES)
    assert code == (PREEMPTED_EXIT_CODE if signum == signal.SIGTERM else -signal.SIGKILL), \
        log.read_text()[-3000:]
    after = backup_batches(output)
    assert after is not None and after >= before
    if signum == signal.SIGTERM:
        assert "run the same command again to resume" in log.read_text()

    log.write_text("")
    assert start_kbk(argv, log).wait(timeout=600) == 0, log.read_text()[-3000:]
    resumed = RESUMED.search(log.read_text())
    assert resumed, log.read_text()[-3000:]
    if resumed.group(2):
        epoch, step = int(resumed.group(2)), int(resumed.group(3))
        assert (epoch - 1) * CLASSIFY_BATCHES + step == after
    assert_same_run(reference, output)


def snapshot(folder):
    """`{path: (size, modification time, bytes)}` of every file under `folder`."""
    return {p.relative_to(folder): (p.stat().st_size, p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(pathlib.Path(folder).rglob("*")) if p.is_file()}


@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_a_finished_run_is_refused_untouched_and_replaced_with_overwrite(
        data, straight, tmp_path, capsys):
    output = tmp_path / "run"
    shutil.copytree(straight("classify"), output)
    before = snapshot(output)
    with pytest.raises(SystemExit) as refused:
        cli.main(finetune_argv("classify", data, output))
    assert refused.value.code == 2
    assert capsys.readouterr().err == (
        f"kbk finetune classify: error: {output} already holds a finished run (metrics.json); "
        "use --overwrite to replace it or a new --output\n")
    assert snapshot(output) == before

    # --overwrite: the old files stay until the new run writes its own (here: killed before its
    # first epoch ended), and the same command resumes the new run, not the finished one.
    with pytest.raises(RuntimeError):
        runner("classify", data, output, "--overwrite", interrupt=(4, "crash")).run()
    assert {p for p in before if p.name in ("metrics.json", "model.keras")} <= set(
        snapshot(output))
    assert backup_batches(output) == SAVE_EVERY
    again = runner("classify", data, output, "--overwrite")
    assert again.resuming
    again.run()
    assert_same_run(straight("classify"), output)


@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_other_settings_or_no_resume_over_a_killed_run_are_refused(data, tmp_path, capsys):
    output = tmp_path / "run"
    with pytest.raises(Preempted):
        runner("classify", data, output, interrupt=(4, "sigterm")).run()
    before = snapshot(output)
    for extra, message in [
            (["--learning-rate", "1e-3"], r"holds a backup of a run with other settings \(.*"
                                          r"run_settings.json: learning_rate=0.005 now 0.001\)"),
            (["--no-resume"], r"holds a killed run's backup \(backup/\); --no-resume starts it "
                              r"over only with --overwrite")]:
        with pytest.raises(SystemExit) as refused:
            cli.main(finetune_argv("classify", data, output, *extra))  # the last flag wins
        assert refused.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and re.search(message, err), err
        assert snapshot(output) == before


@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_no_resume_with_overwrite_starts_over(data, straight, tmp_path, caplog):
    output = tmp_path / "run"
    with pytest.raises(RuntimeError):
        runner("classify", data, output, interrupt=(CLASSIFY_BATCHES + 4, "crash")).run()
    fresh = runner("classify", data, output, "--no-resume", "--overwrite")
    assert not fresh.resuming
    fresh.run()
    assert "resuming" not in caplog.text
    assert_same_run(straight("classify"), output)


def test_the_best_epoch_comes_back_from_the_state():
    checkpoint = BestModelCheckpoint("unused.keras", "val_f1", "max")
    checkpoint.best, checkpoint.best_epoch, checkpoint.best_payload = 0.75, 1, {"micro": 1}
    restored = BestModelCheckpoint("unused.keras", "val_f1", "max")
    restored.set_state(checkpoint.get_state())
    assert (restored.best, restored.best_epoch, restored.best_payload) == (0.75, 1, {"micro": 1})
    restored.on_epoch_end(2, {"val_f1": 0.5})  # not better: nothing saved, the best stays
    assert restored.best_epoch == 1
