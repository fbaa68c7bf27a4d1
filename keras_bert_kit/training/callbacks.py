"""Training callbacks: preemption-safe backup, `.keras` and Hugging Face checkpoints, logs."""

import os

import keras


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
