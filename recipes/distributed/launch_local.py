"""Launch one command as N workers of a `MultiWorkerMirroredStrategy` cluster on this machine.

Each worker is a process with its own `TF_CONFIG` (loopback gRPC on free ports of 127.0.0.1);
they all run the same command, the one the Kubernetes and Slurm recipes run on real clusters
(`docs/distributed.md`). SIGTERM / SIGINT to the launcher go to every worker (each saves the
step they agree on and exits with status 143); the launcher exits with the first non-zero status
of its workers, or 0. The tests start workers through `start_workers` (tests/training).

Usage (from the repository root):
    python recipes/distributed/launch_local.py --workers 2 -- kbk pretrain --config run.yaml
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys


def free_ports(count):
    """`count` free TCP ports of 127.0.0.1."""
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def tf_config(addresses, index):
    """The `TF_CONFIG` of worker `index` of a cluster of `addresses` (worker 0 is the chief)."""
    return json.dumps({"cluster": {"worker": list(addresses)},
                       "task": {"type": "worker", "index": index}})


def resolve(command):
    """`command` with `kbk` found next to this Python when it is not on the PATH."""
    if command and command[0] == "kbk" and shutil.which("kbk") is None:
        script = os.path.join(os.path.dirname(sys.executable), "kbk")
        command = ([script] if os.path.exists(script)
                   else [sys.executable, "-m", "keras_bert_kit.cli"]) + command[1:]
    return list(command)


def start_workers(command, workers=2, *, log_dir=None, env=None, cwd=None):
    """Starts `workers` processes running `command`, each with its `TF_CONFIG`; returns them.

    Args:
        command: the argument list every worker runs (e.g. `["kbk", "pretrain", "--config",
            "run.yaml"]`).
        workers: the number of workers.
        log_dir: when given, worker i writes its standard output to `log_dir/worker-i.out` and
            its standard error to `log_dir/worker-i.log`.
        env: the environment (default: this process's), to which `TF_CONFIG` is added.
        cwd: the working folder.
    """
    addresses = [f"127.0.0.1:{port}" for port in free_ports(workers)]
    processes = []
    for index in range(workers):
        worker_env = dict(os.environ if env is None else env,
                          TF_CONFIG=tf_config(addresses, index))
        streams = {}
        if log_dir is not None:
            os.makedirs(log_dir, exist_ok=True)
            streams = {"stdout": open(os.path.join(log_dir, f"worker-{index}.out"), "a"),
                       "stderr": open(os.path.join(log_dir, f"worker-{index}.log"), "a")}
        processes.append(subprocess.Popen(resolve(command), env=worker_env, cwd=cwd, **streams))
        for stream in streams.values():
            stream.close()  # the child holds its own copy
    return processes


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workers", type=int, default=2, help="number of worker processes")
    parser.add_argument("--log-dir", help="write worker-<i>.out / worker-<i>.log here")
    parser.add_argument("command", nargs=argparse.REMAINDER,
                        help="-- and the command every worker runs")
    args = parser.parse_args(argv)
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        parser.error("give the command after --")
    processes = start_workers(command, args.workers, log_dir=args.log_dir)

    def forward(signum, frame):
        for process in processes:
            if process.poll() is None:
                process.send_signal(signum)

    signal.signal(signal.SIGTERM, forward)
    signal.signal(signal.SIGINT, forward)
    codes = [process.wait() for process in processes]
    # A worker ended by a signal reports -signum; the shell's convention is 128 + signum.
    return next((code if code > 0 else 128 - code for code in codes if code), 0)


if __name__ == "__main__":
    sys.exit(main())
