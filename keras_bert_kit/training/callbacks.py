"""Training callbacks: best-epoch and Hugging Face checkpoints, the resumable backup, logs."""

import logging
import math
import os
import threading

import keras

from keras_bert_kit.files import atomic_path
from keras_bert_kit.training.preemption import Preempted
from keras_bert_kit.training.resume import Position, save_backup

logger = logging.getLogger(__name__)


def outside_distribution(function, *args):
    """Calls `function(*args)` outside any `tf.distribute` scope (in a helper thread if needed).

    Keras 3's saving builds a throwaway optimizer on every save (its attribute skip list is never
    cached: `get_attr_skipset` in keras/src/saving/saving_lib.py reads another key than it
    writes). Under the scope of `MultiWorkerMirroredStrategy` (the runner's `fit`) its variables
    are created with a broadcast to every worker, so a save by the chief alone would leave the
    workers' collectives out of step. Strategy scopes belong to a thread: in a helper thread the
    throwaway variables are plain ones, and the chief can save alone.

    Example:
    >>> outside_distribution(sum, [1, 2])
    3
    """
    import tensorflow as tf

    if not tf.distribute.has_strategy():
        return function(*args)
    outcome = {}

    def call():
        try:
            outcome["value"] = function(*args)
        except BaseException as error:  # re-raised in the caller's thread
            outcome["error"] = error

    thread = threading.Thread(target=call, name="kbk-save")
    thread.start()
    thread.join()
    if "error" in outcome:
        raise outcome["error"]
    return outcome["value"]


def save_atomically(model, path):
    """`model.save(path)` through a temporary file in the same folder, synced and renamed into
    place (`files.atomic_path`): a run killed while saving leaves the previous `path` (or none),
    never a partial one.

    Example:
    >>> save_atomically(BertBackbone.from_preset("bert_tiny_uncased"), "tiny.keras")
    >>> sorted(os.listdir("."))
    ['tiny.keras']
    """
    with atomic_path(path) as temporary:
        model.save(temporary)


class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the model after each epoch whose monitored score is the best so far.

    Like `keras.callbacks.ModelCheckpoint(save_best_only=True)`, plus an optional `score`
    function for tasks that score the dev set themselves (entity F1, SQuAD F1): after each epoch
    it returns `(logs, payload)`; the logs are added to the epoch's logs (so `history.csv` and
    the history get them) and the payload of the best epoch is kept in `best_payload`. With
    `monitor=None` it saves after every epoch (the latest model). It saves outside any
    distribution scope (`outside_distribution`), so under multi-worker training the chief can
    save alone.

    Args:
        path: the `.keras` file to write.
        monitor: the log entry to compare (e.g. `"val_accuracy"`), or None (every epoch).
        mode: `"max"` or `"min"`.
        score: None, or `score(model) -> (logs, payload)` (or None: nothing to add).

    Example:
    >>> checkpoint = BestModelCheckpoint("model.keras", "val_accuracy", "max")
    >>> checkpoint.best
    -inf
    """

    def __init__(self, path, monitor, mode="max", score=None):
        super().__init__()
        if mode not in ("max", "min"):
            raise ValueError(f"mode={mode!r}: expected 'max' or 'min'")
        self.path, self.monitor, self.mode, self.score = path, monitor, mode, score
        self.best = -math.inf if mode == "max" else math.inf
        self.best_epoch = None
        self.best_logs = None
        self.best_payload = None

    def on_epoch_end(self, epoch, logs=None):
        logs = {} if logs is None else logs
        scored = self.score(self.model) if self.score is not None else None
        payload = None
        if scored is not None:
            extra, payload = scored
            logs.update(extra)
        if self.monitor is None:
            outside_distribution(save_atomically, self.model, self.path)
            return
        value = logs.get(self.monitor)
        if value is None:
            logger.warning("%s is not in the logs (%s); the model is not saved", self.monitor,
                           ", ".join(sorted(logs)))
            return
        value = float(value)
        if value > self.best if self.mode == "max" else value < self.best:
            self.best, self.best_epoch, self.best_logs = value, epoch, dict(logs)
            self.best_payload = payload
            outside_distribution(save_atomically, self.model, self.path)

    def get_state(self):
        """The best epoch so far, its score, logs and payload (for a resumable run's backup)."""
        return {"best": self.best, "best_epoch": self.best_epoch, "best_logs": self.best_logs,
                "best_payload": self.best_payload}

    def set_state(self, state):
        """Restores `get_state()`'s dict (a resumed run goes on comparing with the best epoch)."""
        self.best, self.best_epoch = float(state["best"]), state["best_epoch"]
        self.best_logs, self.best_payload = state["best_logs"], state["best_payload"]


class RunHistory(keras.callbacks.Callback):
    """The logs of every epoch of a run, across the `fit` calls of a resumed run.

    Keras' `History` holds the epochs of one `fit`; a resumed run restores this one from its
    backup (`get_state` / `set_state`), so `history` covers the run from its first epoch.

    Attributes:
        history: `{log name: [value per epoch]}`, like `keras.callbacks.History.history`.

    Example:
    >>> history = RunHistory()
    >>> history.on_epoch_end(0, {"loss": 0.5})
    >>> history.set_state(history.get_state()); history.history
    {'loss': [0.5]}
    """

    def __init__(self):
        super().__init__()
        self.history = {}

    def on_epoch_end(self, epoch, logs=None):
        for key, value in (logs or {}).items():
            self.history.setdefault(key, []).append(float(value))

    def get_state(self):
        return {"history": self.history}

    def set_state(self, state):
        self.history = {k: [float(v) for v in values] for k, values in state["history"].items()}


class HuggingFaceCheckpoint(keras.callbacks.Callback):
    """Writes `model.save_pretrained(dir/epoch-N)` (a Hugging Face folder) at the end of each epoch.

    Args:
        directory: parent folder; each epoch writes `epoch-{N}` (and `latest` points at nothing:
            the newest folder is simply the highest N).
        every_n_epochs: write every N epochs.

    Example:
    >>> callback = HuggingFaceCheckpoint("runs/pretrain/hf")
    """

    def __init__(self, directory, every_n_epochs=1):
        super().__init__()
        self.directory = directory
        self.every_n_epochs = every_n_epochs

    def on_epoch_end(self, epoch, logs=None):
        if (epoch + 1) % self.every_n_epochs == 0:
            self.model.save_pretrained(os.path.join(self.directory, f"epoch-{epoch + 1}"))


def training_callbacks(output_dir, *, backup=True, keras_checkpoint=True, hf_checkpoint=False,
                       tensorboard=True, csv_log=True, save_freq="epoch"):
    """The standard callback set for a training run writing under `output_dir`.

    `BackupAndRestore` (`output_dir/backup`, resumes a killed run where it stopped),
    `ModelCheckpoint` (`output_dir/model.keras`), optional `HuggingFaceCheckpoint`
    (`output_dir/hf/epoch-N`), `TensorBoard` (`output_dir/logs`), `CSVLogger`
    (`output_dir/history.csv`) and `TerminateOnNaN`.

    Args:
        output_dir: the run folder.
        backup: add `BackupAndRestore`.
        keras_checkpoint: add `ModelCheckpoint` to `model.keras`.
        hf_checkpoint: add `HuggingFaceCheckpoint` (the model needs `save_pretrained`).
        tensorboard: add `TensorBoard`.
        csv_log: add `CSVLogger` (appends when resuming).
        save_freq: `"epoch"` or an integer number of steps, for the backup.
    """
    os.makedirs(output_dir, exist_ok=True)
    callbacks = [keras.callbacks.TerminateOnNaN()]
    if backup:
        callbacks.append(keras.callbacks.BackupAndRestore(os.path.join(output_dir, "backup"),
                                                          save_freq=save_freq,
                                                          delete_checkpoint=False,
                                                          double_checkpoint=True))
    if keras_checkpoint:
        callbacks.append(keras.callbacks.ModelCheckpoint(os.path.join(output_dir, "model.keras")))
    if hf_checkpoint:
        callbacks.append(HuggingFaceCheckpoint(os.path.join(output_dir, "hf")))
    if tensorboard:
        callbacks.append(keras.callbacks.TensorBoard(os.path.join(output_dir, "logs")))
    if csv_log:
        callbacks.append(keras.callbacks.CSVLogger(os.path.join(output_dir, "history.csv"),
                                                   append=backup))
    return callbacks


class TrainingBackup(keras.callbacks.Callback):
    """Backs a resumable run up after every epoch, and at the step where SIGTERM stops it.

    The backup (`training/resume.py`: weights, optimizer, dropout seeds, position, the state of
    the `states` callbacks) is written by the chief only (`write=False` on the other workers,
    which resume from the chief's). With `every_batches` it is also written every that many
    batches within an epoch. After a SIGTERM (`watch.requested`) every worker stops after the
    same batch: several workers agree on it through `handler` (`preemption.preemption_handler`),
    one process stops after its current batch; the backup of that batch is written and
    `Preempted` raised (exit status 143). A stop falling on an epoch's last batch waits for the
    epoch's end (its evaluation and log row), so a resumed run never starts with an empty epoch.

    Args:
        backup_dir: the backup folder.
        batches_per_epoch: batches of one (virtual) epoch.
        write: write the backup (the chief) or not (other workers).
        watch: the run's `TerminationWatch` (None: SIGTERM is not handled here).
        handler: for several workers, a function `handler(save, stop)` returning TF's
            `PreemptionCheckpointHandler` (`preemption.preemption_handler`), else None.
        every_batches: also back up every that many batches of an epoch (None: epoch ends).
        states: `{name: callback}` whose `get_state()` goes into each backup.
        metrics: keep the training metrics' variables in backups within an epoch, and restore
            `restored_metrics` at the start of a resumed partial epoch (one replica only:
            Keras' metric variables are per replica under a strategy of several).

    Attributes:
        offset: batches of the current epoch done before this `fit` (a resumed partial epoch).
        restored_metrics: the metric variables of the backup a partial epoch resumes from.

    Example:
    >>> backup = TrainingBackup("runs/x/backup", batches_per_epoch=100, every_batches=10)
    >>> backup.offset
    0
    """

    def __init__(self, backup_dir, batches_per_epoch, *, write=True, watch=None, handler=None,
                 every_batches=None, states=None, metrics=False):
        super().__init__()
        self.backup_dir, self.batches_per_epoch = backup_dir, batches_per_epoch
        self.write, self.watch = write, watch
        self.every_batches, self.states, self.metrics = every_batches, states or {}, metrics
        self.offset = self.epoch = self.batch = 0
        self.restored_metrics = None
        self._stop_at_epoch_end = False
        self.handler = handler(self._save_here, self._stop) if handler is not None else None

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.batch = epoch, self.offset
        if self.offset and self.metrics and self.restored_metrics is not None:
            variables = self.model.metrics_variables  # Keras has just reset them
            if len(variables) == len(self.restored_metrics):
                for variable, value in zip(variables, self.restored_metrics):
                    variable.assign(value)
        self.restored_metrics = None

    def on_train_batch_end(self, batch, logs=None):
        self.batch = self.offset + batch + 1
        if self.handler is not None:
            self.handler.save_checkpoint_if_preempted()
        elif self.watch is not None and self.watch.requested.is_set():
            self._save_here()
            self._stop()
            return
        if self.every_batches and self.batch % self.every_batches == 0:
            if self.batch < self.batches_per_epoch:  # the epoch's end saves after its evaluation
                self._save(Position(self.epoch, self.batch))

    def on_epoch_end(self, epoch, logs=None):
        self.offset = 0
        self._save(Position(epoch + 1, 0))
        if self._stop_at_epoch_end:
            raise Preempted(f"stopped by SIGTERM after epoch {epoch + 1}; backup saved")

    def _save_here(self):
        if self.batch < self.batches_per_epoch:
            self._save(Position(self.epoch, self.batch))
        else:  # the epoch's end is a step away: its own backup follows the evaluation
            self._stop_at_epoch_end = True

    def _stop(self):
        if not self._stop_at_epoch_end:
            raise Preempted(f"stopped by SIGTERM at epoch {self.epoch}, batch {self.batch}; "
                            "backup saved")

    def _save(self, position):
        if self.write:
            state = {name: callback.get_state() for name, callback in self.states.items()}
            outside_distribution(save_backup, self.model, self.backup_dir, position,
                                 self.batches_per_epoch, state,
                                 self.metrics and position.batch > 0)
