"""Launching `kbk pretrain` runs for the distributed and preemption tests, the way the docs say.

The commands come from docs/distributed.md (`doc_command`), the worker processes from the local
launcher of recipes/distributed/ (`launcher().start_workers`), so the tests run what users run.
"""

import importlib.util
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import time

import numpy as np
from safetensors.numpy import load_file

from tests.conftest import REPO

DOC = REPO / "docs" / "distributed.md"
GRACE_SECONDS = 30  # the platforms' default grace period between SIGTERM and SIGKILL


def doc_command(prefix):
    """The first line of a ```bash block of docs/distributed.md that starts with `prefix`."""
    block = False
    for line in DOC.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            block = line.strip() == "```bash"
            continue
        if block and line.startswith(prefix):
            return shlex.split(line)
    raise AssertionError(f"docs/distributed.md has no command starting with {prefix!r}")


def launcher():
    """recipes/distributed/launch_local.py as a module."""
    path = REPO / "recipes" / "distributed" / "launch_local.py"
    spec = importlib.util.spec_from_file_location("launch_local", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def quiet_env(**extra):
    return dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2", **extra)


def with_config(command, config):
    """`command` with the path of `config` after its `--config`."""
    index = command.index("--config") + 1
    return [*command[:index], str(config), *command[index + 1:]]


class Run:
    """Processes of one run (one per worker) writing to `output`, logs under `logs`."""

    def __init__(self, processes, output, logs):
        self.processes, self.output, self.logs = processes, output, logs

    def wait(self, timeout=600):
        codes = []
        for process in self.processes:
            try:
                codes.append(process.wait(timeout=timeout))
            except subprocess.TimeoutExpired:
                process.kill()
                codes.append("timeout")
        return codes

    def finish(self):
        codes = self.wait()
        assert codes == [0] * len(self.processes), (codes, self.log_tails())
        return self

    def log_tails(self, chars=3000):
        return {p.name: p.read_text()[-chars:] for p in sorted(self.logs.glob("*.log"))}

    def reports(self):
        """Each process's printed report (its standard output: one JSON object)."""
        return [json.loads(p.read_text()) for p in sorted(self.logs.glob("*.out"))]


def start_workers(command, config, output, logs, workers=2):
    """Starts `workers` processes of `command` (docs' form) with `config` through the launcher."""
    processes = launcher().start_workers(with_config(command, config), workers,
                                         log_dir=str(logs), env=quiet_env(), cwd=str(REPO))
    return Run(processes, output, logs)


def start_process(command, config, output, logs):
    """Starts one process of `command` with `config` (stdout: `logs/worker-0.out`)."""
    logs.mkdir(parents=True, exist_ok=True)
    process = subprocess.Popen(launcher().resolve(with_config(command, config)), cwd=REPO,
                               env=quiet_env(), stdout=open(logs / "worker-0.out", "a"),
                               stderr=open(logs / "worker-0.log", "a"))
    return Run([process], output, logs)


def backup_metadata(output):
    try:
        return json.loads((output / "backup" / "training_metadata.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def stop_after_first_backup(run, signum, seed, max_delay=1.0):
    """Sends `signum` to every process of `run` at a random time after its first backup.

    Returns `(backup metadata when the signal was sent, [(exit status, seconds to exit)])`.
    """
    while backup_metadata(run.output) is None and all(p.poll() is None for p in run.processes):
        time.sleep(0.01)
    time.sleep(random.Random(seed).uniform(0, max_delay))
    before = backup_metadata(run.output)
    sent = time.monotonic()
    for process in run.processes:
        process.send_signal(signum)
    exits = []
    for process in run.processes:
        try:
            code = process.wait(timeout=GRACE_SECONDS + 30)
        except subprocess.TimeoutExpired:
            process.kill()
            code = "still running"
        exits.append((code, time.monotonic() - sent))
    return before, exits


def max_weight_difference(folder_a, folder_b):
    a = load_file(folder_a / "backbone" / "model.safetensors")
    b = load_file(folder_b / "backbone" / "model.safetensors")
    assert a.keys() == b.keys()
    return max(float(np.max(np.abs(a[k].astype(np.float64) - b[k]))) for k in a)


def folder_bytes(folder):
    return sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())


SIGNALS = {"SIGTERM": signal.SIGTERM, "SIGKILL": signal.SIGKILL}
PYTHON = sys.executable
