"""Resuming a stopped run exactly: its backup, its position in the batch stream, its settings.

A resumable task (pretraining) trains `total_steps // save_every_steps` "virtual epochs" over an
endless, deterministically shuffled stream of batches. The chief backs the run up after every
virtual epoch and, on SIGTERM, at the step all workers stopped at (`training/preemption.py`):

- `backup/latest.weights.h5`: weights and optimizer state (with its step counter);
- `backup/seed_generators-<epoch>[-<batch>].npz`: the dropout seed-generator states (Keras'
  `BackupAndRestore` keeps neither these nor the position inside an epoch);
- `backup/training_metadata.json`, written last: the `Position` (virtual epochs done, batches of
  the next one) and the seed file. The previous backup stays as `previous.weights.h5` /
  `previous_metadata.json`, so a kill in the middle of a save resumes from the one before.

The same command run again loads the newest backup whose optimizer step count matches its
metadata, and the runner starts each worker's share of the stream at that position
(`Runner`: `skip` of the batches already trained, per worker and replica), so it sees exactly
the batches and dropout masks of an uninterrupted run. The runner writes the run's settings to
`run_settings.json` and refuses to resume a backup made with other settings (`check_resume`).
"""

import csv
import dataclasses
import json
import logging
import os

from keras_bert_kit.errors import UserError

logger = logging.getLogger(__name__)

BACKUP_DIR = "backup"
RUN_SETTINGS_FILE = "run_settings.json"
WEIGHTS_FILE, PREVIOUS_WEIGHTS_FILE = "latest.weights.h5", "previous.weights.h5"
METADATA_FILE, PREVIOUS_METADATA_FILE = "training_metadata.json", "previous_metadata.json"
_INCOMING_WEIGHTS, _INCOMING_METADATA = "incoming.weights.h5", "incoming_metadata.json"


@dataclasses.dataclass(frozen=True)
class Position:
    """Where a run stands: `epoch` virtual epochs done, then `batch` batches of the next one.

    Example:
    >>> Position(epoch=2, batch=3).batches(batches_per_epoch=10)
    23
    """

    epoch: int = 0
    batch: int = 0

    def batches(self, batches_per_epoch):
        """The number of batches trained on, from the start of the run."""
        return self.epoch * batches_per_epoch + self.batch


def _read_json(path):
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (FileNotFoundError, json.JSONDecodeError):
        return None


def backup_position(backup_dir):
    """The `Position` of the newest backup in `backup_dir` (`Position()`: none)."""
    for name in (METADATA_FILE, PREVIOUS_METADATA_FILE):
        metadata = _read_json(os.path.join(backup_dir, name))
        if metadata is not None:
            return Position(int(metadata["epoch"]), int(metadata.get("batch", 0)))
    return Position()


def backup_epoch(backup_dir):
    """The number of virtual epochs the newest backup in `backup_dir` has completed (0: none)."""
    return backup_position(backup_dir).epoch


def restored_epoch(output_dir):
    """The number of (virtual) epochs a run in `output_dir` has backed up (0 for a new run).

    Args:
        output_dir: the run folder.

    Example:
    >>> restored_epoch("runs/a-new-run")
    0
    """
    return backup_epoch(os.path.join(output_dir, BACKUP_DIR))


def check_resume(output_dir, settings, keys, write=True):
    """The backed-up `Position`; writes `settings` to `run_settings.json` (new run, same keys).

    Args:
        output_dir: the run folder (created when missing).
        settings: the run's settings (JSON-serialisable).
        keys: the settings a resumed run must share with the backed-up one.
        write: write `run_settings.json` (False on workers other than the chief: they only read).

    Raises:
        UserError: the folder holds a backup of a run with other `keys` settings.

    Example:
    >>> check_resume("runs/new", {"batch_size": 8}, ["batch_size"])
    Position(epoch=0, batch=0)
    """
    position = backup_position(os.path.join(output_dir, BACKUP_DIR))
    path = os.path.join(output_dir, RUN_SETTINGS_FILE)
    previous = _read_json(path) if position != Position() else None
    if previous is not None:
        changed = [k for k in keys if previous.get(k) != settings.get(k)]
        if changed:
            raise UserError(
                f"{output_dir} holds a backup of a run with other settings ({path}: "
                + ", ".join(f"{k}={previous.get(k)!r} now {settings.get(k)!r}" for k in changed)
                + "); use a new output folder or the same settings")
    if write:
        os.makedirs(output_dir, exist_ok=True)
        _write_json(path, settings)
    return position


def _write_json(path, value):
    temporary = path + ".tmp"
    with open(temporary, "w", encoding="utf-8") as f:
        json.dump(value, f, indent=2)
    os.replace(temporary, path)


def seed_states(model):
    """The dropout `SeedGenerator` state variables of `model`, in a stable order."""
    return [v for v in model.variables if v.name == "seed_generator_state"]


def save_backup(model, backup_dir, position, batches_per_epoch):
    """Backs `model` (weights, optimizer, dropout seeds) up at `position` in `backup_dir`.

    Every file is written under a temporary name first; the metadata is renamed into place last,
    after the previous backup has become `previous.*`.
    """
    import numpy as np

    os.makedirs(backup_dir, exist_ok=True)
    tag = f"{position.epoch}" + (f"-{position.batch}" if position.batch else "")
    seeds = f"seed_generators-{tag}.npz"
    model.save_weights(os.path.join(backup_dir, _INCOMING_WEIGHTS), overwrite=True)
    temporary = os.path.join(backup_dir, seeds + ".tmp.npz")
    np.savez(temporary, **{f"state_{i}": v.numpy() for i, v in enumerate(seed_states(model))})
    os.replace(temporary, os.path.join(backup_dir, seeds))
    _write_json(os.path.join(backup_dir, _INCOMING_METADATA),
                {"epoch": position.epoch, "batch": position.batch,
                 "batches": position.batches(batches_per_epoch), "seeds": seeds})
    for current, previous in ((WEIGHTS_FILE, PREVIOUS_WEIGHTS_FILE),
                              (METADATA_FILE, PREVIOUS_METADATA_FILE),
                              (_INCOMING_WEIGHTS, WEIGHTS_FILE),
                              (_INCOMING_METADATA, METADATA_FILE)):
        if os.path.exists(os.path.join(backup_dir, current)):
            os.replace(os.path.join(backup_dir, current), os.path.join(backup_dir, previous))
    kept = {m.get("seeds") for m in map(_read_json, (os.path.join(backup_dir, METADATA_FILE),
                                                     os.path.join(backup_dir,
                                                                  PREVIOUS_METADATA_FILE)))
            if m}
    for name in os.listdir(backup_dir):
        if name.startswith("seed_generators-") and name not in kept:
            os.remove(os.path.join(backup_dir, name))


def load_backup(model, backup_dir, batches_per_epoch):
    """Loads the newest consistent backup of `backup_dir` into the compiled `model`.

    A backup is consistent when the optimizer step count in its weights file equals the number
    of batches its metadata names (a kill between two renames of `save_backup` leaves one file
    of the pair newer than the other: the older pair is used then).

    Returns:
        The backup's `Position` (`Position()` when there is no backup).

    Raises:
        UserError: there are backup files, but no weights file matches a metadata file.
    """
    import numpy as np

    metadata = [m for m in (_read_json(os.path.join(backup_dir, name))
                            for name in (METADATA_FILE, PREVIOUS_METADATA_FILE)) if m]
    if not metadata:
        return Position()
    if not model.optimizer.built:
        model.optimizer.build(model.trainable_variables)
    weights = [os.path.join(backup_dir, name) for name in (WEIGHTS_FILE, PREVIOUS_WEIGHTS_FILE)]
    for entry in sorted(metadata, key=lambda m: (m["epoch"], m.get("batch", 0)), reverse=True):
        position = Position(int(entry["epoch"]), int(entry.get("batch", 0)))
        batches = entry.get("batches", position.batches(batches_per_epoch))
        for path in filter(os.path.exists, weights):
            model.load_weights(path)
            if int(model.optimizer.iterations.numpy()) != batches:
                continue
            seeds = os.path.join(backup_dir, entry.get("seeds", f"seed_generators-"
                                                                f"{position.epoch}.npz"))
            if not os.path.exists(seeds):
                logger.warning("%s is missing; the resumed run's dropout masks will differ from "
                               "an uninterrupted run's", seeds)
                return position
            with np.load(seeds) as saved:
                for i, state in enumerate(seed_states(model)):
                    state.assign(saved[f"state_{i}"])
            return position
    raise UserError(f"{backup_dir}: no weights file matches the backup metadata (a damaged "
                    "backup); delete the folder to start the run over")


def truncate_history(path, epochs):
    """Drops rows of epochs a stopped run logged after its last backup (they are trained again)."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.readlines()
    kept = lines[:1] + [line for line in lines[1:] if int(float(line.split(",")[0])) < epochs]
    if len(kept) < len(lines):
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.writelines(kept)


def last_history_row(path):
    """The last row of a `CSVLogger` file as `{column: float}` (`{}` when there is none)."""
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    # Keras' CSVLogger writes "NA" in the `val_*` columns of runs without validation data.
    return {k: float(v) for k, v in rows[-1].items() if v not in ("", "NA")} if rows else {}
