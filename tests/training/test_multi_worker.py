"""Two-worker data-parallel pretraining on localhost: `MultiWorkerMirroredStrategy` on CPU.

Two processes run the same `recipes/pretrain.py` command with their own `TF_CONFIG`; each reads
its own share of the records, gradients are all-reduced, so both must end with the same weights.
"""

import json
import os
import socket
import subprocess
import sys

import numpy as np
from safetensors.numpy import load_file

from tests.conftest import REPO
from tests.training.pretrain_fixtures import RECIPE, make_tiny_data, write_config


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("localhost", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_two_workers_end_with_equal_weights(tmp_path):
    data = make_tiny_data(tmp_path / "data")
    output = tmp_path / "run"
    config = write_config(tmp_path / "run.yaml", data, output, strategy="multi_worker",
                          eval_files=[str(f) for f in data["eval"]], batch_size=8,
                          total_steps=6, save_every_steps=3)
    workers = [f"localhost:{port}" for port in free_ports(2)]
    processes = []
    for index in range(2):
        env = dict(os.environ, CUDA_VISIBLE_DEVICES="", TF_CPP_MIN_LOG_LEVEL="2",
                   TF_CONFIG=json.dumps({"cluster": {"worker": workers},
                                         "task": {"type": "worker", "index": index}}))
        log = open(tmp_path / f"worker-{index}.log", "w")
        processes.append(subprocess.Popen([sys.executable, str(RECIPE), "--config", str(config)],
                                          cwd=REPO, env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        codes = [p.wait(timeout=300) for p in processes]
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    logs = [(tmp_path / f"worker-{i}.log").read_text()[-3000:] for i in range(2)]
    assert codes == [0, 0], logs

    folders = [output, output / "workers" / "worker-1"]  # the chief writes to --output
    weights = [load_file(folder / "backbone" / "model.safetensors") for folder in folders]
    assert weights[0].keys() == weights[1].keys()
    for name in weights[0]:
        np.testing.assert_array_equal(weights[0][name], weights[1][name], err_msg=name)
    metrics = [json.loads((folder / "metrics.json").read_text()) for folder in folders]
    assert [m["optimizer_steps"] for m in metrics] == [6, 6]
    assert [m["settings"]["replicas"] for m in metrics] == [2, 2]
