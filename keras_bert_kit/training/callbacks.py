"""Training callbacks: best-epoch and Hugging Face checkpoints, dropout-seed backup, logs."""

import logging
import math
import os

import keras
import numpy as np

logger = logging.getLogger(__name__)


class BestModelCheckpoint(keras.callbacks.Callback):
    """Saves the model after each epoch whose monitored score is the best so far.

    Like `keras.callbacks.ModelCheckpoint(save_best_only=True)`, plus an optional `score`
    function for tasks that score the dev set themselves (entity F1, SQuAD F1): after each epoch
    it returns `(logs, payload)`; the logs are added to the epoch's logs (so `history.csv` and
    the history get them) and the payload of the best epoch is kept in `best_payload`.

    Args:
        path: the `.keras` file to write.
        monitor: the log entry to compare (e.g. `"val_accuracy"`).
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
        value = logs.get(self.monitor)
        if value is None:
            logger.warning("%s is not in the logs (%s); the model is not saved", self.monitor,
                           ", ".join(sorted(logs)))
            return
        value = float(value)
        if value > self.best if self.mode == "max" else value < self.best:
            self.best, self.best_epoch, self.best_logs = value, epoch, dict(logs)
            self.best_payload = payload
            self.model.save(self.path)


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


def seed_state_backup(model, backup_dir):
    """A callback that backs up and restores `model`'s dropout seed-generator states.

    Keras' `BackupAndRestore` saves weights and optimizer but not the `SeedGenerator` states, so a
    resumed run would draw other dropout masks than an uninterrupted one. This callback writes
    them at every epoch end to `backup_dir/seed_generators-<epoch>.npz` (keeping the previous
    one) and, when training starts, restores those of the epoch `BackupAndRestore` restores.
    Put it before `BackupAndRestore`, whose metadata marks the epoch as saved.

    Args:
        model: the model being trained.
        backup_dir: the `BackupAndRestore` folder.

    Returns:
        A `keras.callbacks.LambdaCallback`.

    Example:
    >>> callbacks = [seed_state_backup(model, "run/backup"),
    ...              keras.callbacks.BackupAndRestore("run/backup")]  # doctest: +SKIP
    """
    from keras_bert_kit.training.resume import backup_epoch

    states = [v for v in model.variables if v.name == "seed_generator_state"]

    def path(epoch):
        return os.path.join(backup_dir, f"seed_generators-{epoch}.npz")

    def restore(logs=None):
        epoch = backup_epoch(backup_dir)
        if not epoch:
            return
        if not os.path.exists(path(epoch)):
            logger.warning("%s is missing; the resumed run's dropout masks will differ from an "
                           "uninterrupted run's", path(epoch))
            return
        with np.load(path(epoch)) as saved:
            for i, state in enumerate(states):
                state.assign(saved[f"state_{i}"])

    def save(epoch, logs=None):
        os.makedirs(backup_dir, exist_ok=True)
        temporary = path(epoch + 1) + ".tmp.npz"
        np.savez(temporary, **{f"state_{i}": keras.ops.convert_to_numpy(v)
                               for i, v in enumerate(states)})
        os.replace(temporary, path(epoch + 1))
        if os.path.exists(path(epoch - 1)):
            os.remove(path(epoch - 1))

    return keras.callbacks.LambdaCallback(on_train_begin=restore, on_epoch_end=save)
