"""Preemption: SIGTERM makes a run save where it is and exit with `PREEMPTED_EXIT_CODE` (143).

Cloud preemption (spot VMs, Kubernetes evictions and drains, Slurm's `scancel` and time limits)
sends SIGTERM, then SIGKILL after a grace period (30 s by default on Kubernetes, GCE and Slurm).
The `Runner` holds a `TerminationWatch` for the whole run; a SIGTERM then means:

- inside the training loop of a resumable task (pretraining and fine-tuning): every worker
  stops at the *same* step, the chief writes one backup of that step (weights, optimizer,
  dropout seeds, position) and every process exits with status 143. Several workers agree on
  the step through TF's `tf.distribute.experimental.PreemptionCheckpointHandler` (over the
  coordination service), so a SIGTERM to any one worker stops them all; one process stops at its
  next step. The same command started again resumes at that step (`training/resume.py`).
- anywhere else (start-up, the final evaluation and exports): the process exits with 143 at
  once; the run resumes from its last backup.
- a process that has not exited `grace_seconds` after the SIGTERM (e.g. stuck in a collective
  whose peer is gone) is ended with status 143 without saving.

143 is 128 + SIGTERM: what a shell reports for a process ended by SIGTERM, what TensorFlow's own
handler exits with on GCP, and a retryable status for Kubeflow's `restartPolicy: ExitCode`
(`recipes/distributed/`, `docs/distributed.md`).

TensorFlow's multi-worker coordination service installs a SIGTERM handler of its own that only
logs `SIGTERM caught`; `TerminationWatch.install()` takes the signal back once the strategy
exists. The watch runs a thread woken by `signal.set_wakeup_fd`, so a SIGTERM is seen even
while the main thread is inside a long TensorFlow call.
"""

import logging
import os
import signal
import socket
import sys
import threading
import time

logger = logging.getLogger(__name__)

PREEMPTED_EXIT_CODE = 143


class Preempted(SystemExit):
    """Ends a preempted run: a `SystemExit` with status `PREEMPTED_EXIT_CODE`; `str()` says why.

    Example:
    >>> error = Preempted("saved step 12")
    >>> error.code, str(error)
    (143, 'saved step 12')
    """

    def __init__(self, message):
        super().__init__(PREEMPTED_EXIT_CODE)
        self.message = message

    def __str__(self):
        return self.message


class TerminationWatch:
    """Turns SIGTERM into a request to stop (context manager, held by the runner for a run).

    Args:
        grace_seconds: after a SIGTERM, the process is ended (status 143) if it is still
            running this many seconds later.

    Attributes:
        requested: a `threading.Event`, set by SIGTERM.
        in_training: set by the runner around the training loop, whose callbacks save and stop
            (`TrainingBackup`); elsewhere a SIGTERM raises `Preempted` at once.

    Example:
    >>> with TerminationWatch(grace_seconds=20) as watch:
    ...     watch.requested.is_set()
    False
    """

    def __init__(self, grace_seconds=25.0):
        self.grace_seconds = grace_seconds
        self.requested = threading.Event()
        self.in_training = False
        self._active = False

    def __enter__(self):
        if threading.current_thread() is not threading.main_thread():
            logger.warning("not in the main thread: SIGTERM is left to its default handling")
            return self
        self._reader, self._writer = socket.socketpair()
        self._writer.setblocking(False)
        self._previous_handler = signal.getsignal(signal.SIGTERM)
        self._previous_fd = signal.set_wakeup_fd(self._writer.fileno(), warn_on_full_buffer=False)
        self._active = True
        self.install()
        threading.Thread(target=self._watch, name="kbk-sigterm-watch", daemon=True).start()
        return self

    def install(self):
        """(Re)installs the SIGTERM handler (call it after TensorFlow's cluster has started)."""
        if self._active:
            signal.signal(signal.SIGTERM, self._on_signal)

    def __exit__(self, *exc):
        if not self._active:
            return
        self._active = False
        signal.signal(signal.SIGTERM, self._previous_handler)
        signal.set_wakeup_fd(self._previous_fd)
        self._writer.close()  # ends the watch thread, unless a SIGTERM already woke it

    def _on_signal(self, signum, frame):
        # Python runs this in the main thread between two bytecodes.
        self.requested.set()
        if not self.in_training:
            raise Preempted("SIGTERM outside the training loop: nothing to save, exiting")

    def _watch(self):
        while True:
            try:
                received = self._reader.recv(1)
            except OSError:
                return
            if not received:
                return
            if received[0] == signal.SIGTERM:
                break
        self.requested.set()
        logger.warning("SIGTERM received: saving and exiting (status %d)", PREEMPTED_EXIT_CODE)
        time.sleep(self.grace_seconds)
        sys.stderr.write(f"still running {self.grace_seconds:g} s after SIGTERM: exiting without "
                         f"saving (status {PREEMPTED_EXIT_CODE})\n")
        sys.stderr.flush()
        os._exit(PREEMPTED_EXIT_CODE)


def preemption_handler(strategy, save, stop, requested, checkpoint_dir):
    """TF's `PreemptionCheckpointHandler` agreeing on the step to stop at, for several workers.

    Returns None for a single process (the training loop checks `requested` itself).

    Args:
        strategy: the run's strategy.
        save: called with no argument at the agreed step, on every worker.
        stop: called after `save` (it raises `Preempted`).
        requested: a `threading.Event` set by this worker's SIGTERM (polled each second).
        checkpoint_dir: where TF's handler would keep a checkpoint of its own (never written:
            `save` replaces its save).
    """
    import tensorflow as tf

    from keras_bert_kit.training.strategy import num_workers

    if num_workers(strategy) == 1:
        return None
    config = tf.distribute.experimental.TerminationConfig(
        termination_watcher_fn=requested.is_set, exit_fn=stop, grace_period=0, save_fn=save)
    manager = tf.train.CheckpointManager(tf.train.Checkpoint(), checkpoint_dir, max_to_keep=1)
    return tf.distribute.experimental.PreemptionCheckpointHandler(
        strategy.cluster_resolver, manager, termination_config=config)
