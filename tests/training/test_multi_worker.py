"""Multi-worker pretraining on localhost (`MultiWorkerMirroredStrategy` on CPU), stopped and
resumed; the launch recipes; `MirroredStrategy` on 2 CPU devices; the TPU address.

Two processes run the same `kbk pretrain` command through the local launcher of
docs/distributed.md (`recipes/distributed/launch_local.py`), each with its own `TF_CONFIG`
(loopback gRPC). Each reads its own share of the records and the gradients are all-reduced, so
both end with the same weights; only the chief writes files. A run stopped at a random step after
its first backup and started again with the same command ends within 1e-6 of the uninterrupted
run: SIGTERM to both workers (they agree on a step, the chief backs it up, both exit with 143
within the grace period) or SIGKILL (the last regular backup).
"""

import json
import os
import random
import signal
import subprocess
import time

import pytest
import tensorflow as tf
import yaml

from keras_bert_kit.training import strategy as strategy_module
from keras_bert_kit.training.pretrain import pretrain
from tests.conftest import REPO
from tests.training.launch_fixtures import (GRACE_SECONDS, PYTHON, backup_metadata, doc_command,
                                            folder_bytes, max_weight_difference, quiet_env,
                                            start_workers, stop_after_first_backup)
from tests.training.pretrain_fixtures import TINY_MODEL, make_tiny_data, write_config

TOTAL_STEPS, SAVE_EVERY = 40, 8
LAUNCH = doc_command("python recipes/distributed/launch_local.py")
WORKERS = int(LAUNCH[LAUNCH.index("--workers") + 1])
COMMAND = LAUNCH[LAUNCH.index("--") + 1:]


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_tiny_data(tmp_path_factory.mktemp("multi_worker_data"))


def launch(data, folder, name):
    config = write_config(folder / f"{name}.yaml", data, folder / name, strategy="multi_worker",
                          eval_files=[str(f) for f in data["eval"]], batch_size=8,
                          total_steps=TOTAL_STEPS, save_every_steps=SAVE_EVERY)
    return start_workers(COMMAND, config, folder / name, folder / f"{name}-logs", WORKERS)


@pytest.fixture(scope="module")
def straight(data, tmp_path_factory):
    """The uninterrupted run, started at once (the stopped runs start beside it)."""
    run = launch(data, tmp_path_factory.mktemp("straight"), "run")
    yield run
    for process in run.processes:
        if process.poll() is None:
            process.kill()


def check_stop_and_resume(data, straight, folder, signum, seed):
    victim = launch(data, folder, "victim")
    before, exits = stop_after_first_backup(victim, signum, seed)
    stopped = backup_metadata(victim.output)
    assert before is not None and stopped["epoch"] < TOTAL_STEPS // SAVE_EVERY, \
        "the run ended before it was stopped"
    launch(data, folder, "victim").finish()
    straight.finish()
    resumed = json.loads((victim.output / "metrics.json").read_text())
    assert resumed["resumed_from_step"] == stopped["batches"]
    assert resumed["optimizer_steps"] == TOTAL_STEPS
    assert max_weight_difference(victim.output, straight.output) <= 1e-6
    with open(victim.output / "history.csv") as f:
        assert [int(line.split(",")[0]) for line in f.readlines()[1:]] == list(
            range(TOTAL_STEPS // SAVE_EVERY))
    return before, stopped, exits


# Two workers, three runs: the longest test (minutes); tests/training/test_preemption.py keeps a
# one-process SIGTERM-and-resume in the default suite.
@pytest.mark.slow
def test_sigterm_to_both_workers_saves_one_step_and_resumes_exactly(data, straight, tmp_path):
    before, stopped, exits = check_stop_and_resume(data, straight, tmp_path, signal.SIGTERM,
                                                   seed=random.randrange(1000))
    assert [code for code, _ in exits] == [143] * WORKERS, exits
    assert max(seconds for _, seconds in exits) < GRACE_SECONDS, exits
    # The backup is of the step they stopped at, not the last regular backup.
    assert stopped["batches"] >= before["batches"]


@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_two_workers_end_with_equal_weights_and_only_the_chief_writes(straight):
    straight.finish()
    reports = straight.reports()
    assert len(reports) == WORKERS
    assert len({r["weights_sha256"] for r in reports}) == 1  # bitwise equal weights
    assert [r["optimizer_steps"] for r in reports] == [TOTAL_STEPS] * WORKERS
    metrics = json.loads((straight.output / "metrics.json").read_text())
    assert metrics["settings"]["replicas"] == WORKERS
    assert metrics["weights_sha256"] == reports[0]["weights_sha256"]
    assert sorted(os.listdir(straight.output)) == [
        "backbone", "backup", "history.csv", "metrics.json", "model.keras", "pretrainer.keras",
        "run_settings.json"]  # no workers/ folder: the other worker wrote nothing
    assert folder_bytes(straight.output) > 1e6


@pytest.mark.slow
def test_sigkill_to_both_workers_resumes_from_the_last_backup(data, straight, tmp_path):
    before, stopped, exits = check_stop_and_resume(data, straight, tmp_path, signal.SIGKILL,
                                                   seed=random.randrange(1000))
    assert [code for code, _ in exits] == [-signal.SIGKILL] * WORKERS
    assert stopped == before and stopped["batch"] == 0


@pytest.mark.slow
def test_the_slurm_script_runs_the_same_training(data, straight, tmp_path):
    """recipes/distributed/pretrain.sbatch under a stand-in `srun` (one task per worker)."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "srun").write_text(
        '#!/bin/bash\nn=${SLURM_NTASKS:-2}; pids=()\n'
        'for i in $(seq 0 $((n - 1))); do\n'
        '  SLURM_PROCID=$i SLURM_STEP_NUM_TASKS=$n SLURM_STEP_NODELIST=localhost '
        'SLURM_STEP_TASKS_PER_NODE=$n "$@" > "$LOGS/task-$i.out" 2> "$LOGS/task-$i.log" &\n'
        '  pids+=($!)\ndone\nstatus=0\nfor p in "${pids[@]}"; do wait $p || status=$?; done\n'
        'exit $status\n')
    (bin_dir / "srun").chmod(0o755)
    (bin_dir / "scontrol").write_text("#!/bin/sh\nexit 0\n")
    (bin_dir / "scontrol").chmod(0o755)
    config = write_config(tmp_path / "run.yaml", data, tmp_path / "out",
                          eval_files=[str(f) for f in data["eval"]], batch_size=8,
                          total_steps=TOTAL_STEPS, save_every_steps=SAVE_EVERY)
    assert config.name == "run.yaml"  # the script runs `kbk pretrain --config run.yaml`
    env = quiet_env(PATH=f"{bin_dir}:{os.path.dirname(PYTHON)}:{os.environ['PATH']}",
                    SLURM_NTASKS=str(WORKERS), SLURM_JOB_ID=str(random.randrange(10**6)),
                    LOGS=str(tmp_path))
    script = REPO / "recipes" / "distributed" / "pretrain.sbatch"
    done = subprocess.run(["bash", str(script)], cwd=tmp_path, env=env, timeout=600)
    assert done.returncode == 0, (tmp_path / "task-0.log").read_text()[-3000:]
    straight.finish()
    assert max_weight_difference(tmp_path / "out", straight.output) == 0
    assert not (tmp_path / "out" / "workers").exists()


def test_the_kubernetes_manifests_run_the_same_command(tmp_path):
    """The Indexed Job writes each pod's TF_CONFIG and runs the docs' command; so does the TFJob."""
    folder = REPO / "recipes" / "distributed"
    job = [d for d in yaml.safe_load_all((folder / "kubernetes-job.yaml").read_text())
           if d["kind"] == "Job"][0]
    container = job["spec"]["template"]["spec"]["containers"][0]
    script = container["args"][0]
    assert script.rstrip().splitlines()[-1].split() == ["exec", *COMMAND]
    assert job["spec"]["completions"] == job["spec"]["parallelism"] == 2
    assert job["spec"]["podFailurePolicy"]["rules"][0]["onExitCodes"]["values"] == [143]
    fake = tmp_path / "kbk"
    fake.write_text('#!/bin/sh\necho "$TF_CONFIG"\n')
    fake.chmod(0o755)
    env = {"PATH": f"{tmp_path}:/usr/bin:/bin", "WORKERS": "2", "JOB_COMPLETION_INDEX": "1"}
    printed = subprocess.run(["sh", "-c", script], env=env, capture_output=True, text=True,
                             check=True).stdout
    assert json.loads(printed) == {
        "cluster": {"worker": ["kbk-pretrain-0.kbk-pretrain:2222",
                               "kbk-pretrain-1.kbk-pretrain:2222"]},
        "task": {"type": "worker", "index": 1}}
    tfjob = yaml.safe_load((folder / "tfjob.yaml").read_text())
    worker = tfjob["spec"]["tfReplicaSpecs"]["Worker"]
    assert worker["template"]["spec"]["containers"][0]["command"] == COMMAND
    assert worker["restartPolicy"] == "ExitCode"


MIRRORED = """
import json, sys
import tensorflow as tf
cpu = tf.config.list_physical_devices("CPU")[0]
tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from keras_bert_kit.training.pretrain import pretrain
settings = json.loads(sys.argv[1])
for strategy in ("one_device", "mirrored"):
    result = pretrain(**settings, output_dir=f"{sys.argv[2]}/{strategy}", strategy=strategy)
    print(strategy, result["settings"]["replicas"], flush=True)
"""


@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_mirrored_on_two_cpu_devices_matches_one_device(data, tmp_path):
    """The same global batch on 1 device and on 2 replicas: the same weights (float round-off).

    Without dropout (each replica draws its own masks) and without clipping (Keras 3 clips each
    replica's gradient before the all-reduce, docs/distributed.md).
    """
    settings = dict(train=[str(f) for f in data["train"]], vocab_file=str(data["vocab"]),
                    preset="bert_tiny_uncased",
                    config_overrides={**TINY_MODEL, "dropout": 0.0, "attention_dropout": 0.0},
                    batch_size=16, learning_rate=2e-3, total_steps=6, save_every_steps=3,
                    global_clipnorm=None, mixed_precision="none", jit_compile=False, verbose=0)
    done = subprocess.run([PYTHON, "-c", MIRRORED, json.dumps(settings), str(tmp_path)],
                          cwd=REPO, env=quiet_env(), capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert done.stdout.split() == ["one_device", "1", "mirrored", "2"]
    assert max_weight_difference(tmp_path / "one_device", tmp_path / "mirrored") <= 1e-5


class _TPUReached(Exception):
    pass


def test_the_tpu_address_comes_from_the_argument_or_tpu_name(monkeypatch, tmp_path):
    def resolver(tpu):
        raise _TPUReached(tpu)

    monkeypatch.setattr(tf.distribute.cluster_resolver, "TPUClusterResolver", resolver)
    with pytest.raises(_TPUReached, match="^my-tpu$"):
        pretrain("a.tfrecord", tmp_path, vocab_file="v.txt", preset="bert_tiny_uncased",
                 total_steps=2, tpu_address="my-tpu")
    monkeypatch.setenv("TPU_NAME", "env-tpu")
    with pytest.raises(_TPUReached, match="^env-tpu$"):
        strategy_module.choose_strategy("auto")


def test_a_slurm_step_of_several_tasks_is_a_cluster(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")  # no nvidia-smi: a CPU node
    for name, value in dict(SLURM_PROCID="1", SLURM_STEP_NUM_TASKS="2", SLURM_JOB_ID="1234",
                            SLURM_STEP_NODELIST="node[1-2]",
                            SLURM_STEP_TASKS_PER_NODE="1(x2)").items():
        monkeypatch.setenv(name, value)
    resolver = strategy_module.cluster_resolver()
    assert resolver.cluster_spec().as_dict() == {"worker": ["node1:21234", "node2:21234"]}
    assert (resolver.task_type, resolver.task_id) == ("worker", 1)


def test_the_launcher_forwards_sigterm_and_reports_the_status(tmp_path):
    """`launch_local.py` gives each worker its TF_CONFIG and passes SIGTERM on."""
    worker = ("import json, os, signal, sys, time\n"
              "signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))\n"
              "print(json.loads(os.environ['TF_CONFIG'])['task']['index'], flush=True)\n"
              "time.sleep(60)\n")
    launch_script = REPO / "recipes" / "distributed" / "launch_local.py"
    process = subprocess.Popen([PYTHON, str(launch_script), "--workers", "2", "--log-dir",
                                str(tmp_path), "--", PYTHON, "-c", worker])
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and not all(
            (tmp_path / f"worker-{i}.out").exists() and (tmp_path / f"worker-{i}.out").read_text()
            for i in range(2)):
        time.sleep(0.05)
    process.send_signal(signal.SIGTERM)
    assert process.wait(timeout=30) == 143
    assert [(tmp_path / f"worker-{i}.out").read_text().strip() for i in range(2)] == ["0", "1"]
