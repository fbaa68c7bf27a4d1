"""Resuming a stopped run exactly: its backup, its position in the batch stream, its settings.

A resumable task trains over a deterministic stream of batches in epochs: pretraining
`total_steps // save_every_steps` "virtual epochs" of an endless, deterministically shuffled
stream; fine-tuning its real epochs, each planned from `(seed, epoch)` (`data/epoch_batches.py`).
The chief backs the run up after every epoch, every `save_every_steps` batches within an epoch
when fine-tuning asks for it, and, on SIGTERM, at the step all workers stopped at
(`training/preemption.py`):

- `backup/latest.weights.h5`: weights and optimizer state (with its step counter);
- `backup/seed_generators-<epoch>[-<batch>].npz`: the dropout seed-generator states (Keras'
  `BackupAndRestore` keeps neither these nor the position inside an epoch) and, within an
  epoch, the training metrics' running totals (so the epoch's log row comes out whole);
- `backup/training_metadata.json`, written last: the `Position` (epochs done, batches of the
  next one), the seed file, and the callbacks' state (the best epoch so far and its score, the
  history of the epochs done). The previous backup stays as `previous.weights.h5` /
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
from keras_bert_kit.files import atomic_path, sweep_leftovers, write_atomically

logger = logging.getLogger(__name__)

BACKUP_DIR = "backup"
FINISHED_FILE = "metrics.json"  # written last, by a run that finished
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


def resume_message(output_dir, position, batches_per_epoch, epochs):
    """The line a resumed run prints: the epoch it goes on with (1-based, as Keras' progress bar
    counts) and the steps of it already trained.

    Example:
    >>> resume_message("runs/x", Position(epoch=1, batch=5), batches_per_epoch=12, epochs=3)
    'runs/x: resuming from epoch 2, step 5 (17 of 36 training steps done)'
    >>> resume_message("runs/x", Position(epoch=3), batches_per_epoch=12, epochs=3)
    'runs/x: resuming after the last epoch (36 of 36 training steps done): scoring is left'
    """
    done, total = position.batches(batches_per_epoch), batches_per_epoch * epochs
    if done >= total:
        return (f"{output_dir}: resuming after the last epoch ({done} of {total} training steps "
                "done): scoring is left")
    return (f"{output_dir}: resuming from epoch {position.epoch + 1}, step {position.batch} "
            f"({done} of {total} training steps done)")


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
    settings = json.loads(json.dumps(settings, default=_plain))  # as read back: tuples are lists
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


def start_mode(output_dir, resume=True, overwrite=False):
    """How a run with final results (fine-tuning) starts in `output_dir`: `"resume"` or `"fresh"`.

    - a finished run (`metrics.json`) is refused, unless `overwrite`: then the run starts over
      (its backup, if a kill left one, is older than `metrics.json`), or resumes the backup of
      an `overwrite` run killed since (a backup newer than `metrics.json`);
    - a killed run's backup is resumed; with `resume=False` it is refused unless `overwrite`,
      which starts over;
    - anything else starts fresh (nothing to resume).

    Args:
        output_dir: the run folder.
        resume: `RunConfig.resume` (False: `--no-resume`).
        overwrite: `RunConfig.overwrite` (`--overwrite`).

    Raises:
        UserError: a finished run without `overwrite`, or `resume=False` on a killed run's
            backup without `overwrite`.

    Example:
    >>> start_mode("runs/new")
    'fresh'
    >>> _ = os.makedirs("runs/done"), open("runs/done/metrics.json", "w").write("{}")
    >>> start_mode("runs/done")
    Traceback (most recent call last):
    ...
    keras_bert_kit.errors.UserError: runs/done already holds a finished run (metrics.json); use --overwrite to replace it or a new --output
    >>> start_mode("runs/done", overwrite=True)
    'fresh'
    """
    output_dir = os.fspath(output_dir)
    backup_dir = os.path.join(output_dir, BACKUP_DIR)
    finished = os.path.join(output_dir, FINISHED_FILE)
    backed_up = backup_position(backup_dir) != Position()
    if os.path.exists(finished):
        if not overwrite:
            raise UserError(f"{output_dir} already holds a finished run ({FINISHED_FILE}); use "
                            "--overwrite to replace it or a new --output")
        backed_up = backed_up and _newest_metadata_time(backup_dir) > os.path.getmtime(finished)
    if backed_up and not resume and not overwrite:
        raise UserError(f"{output_dir} holds a killed run's backup ({BACKUP_DIR}/); --no-resume "
                        "starts it over only with --overwrite (drop --no-resume to continue it, "
                        "or use a new --output)")
    return "resume" if backed_up and resume else "fresh"


def _newest_metadata_time(backup_dir):
    times = [os.path.getmtime(os.path.join(backup_dir, name))
             for name in (METADATA_FILE, PREVIOUS_METADATA_FILE)
             if os.path.exists(os.path.join(backup_dir, name))]
    return max(times, default=0.0)


def _plain(value):
    """JSON for NumPy scalars and arrays (`json.dump`'s `default`)."""
    if hasattr(value, "tolist"):
        return value.tolist()
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def _write_json(path, value):
    write_atomically(path, json.dumps(value, indent=2, default=_plain))


def seed_states(model):
    """The dropout `SeedGenerator` state variables of `model`, in a stable order."""
    return [v for v in model.variables if v.name == "seed_generator_state"]


def save_backup(model, backup_dir, position, batches_per_epoch, state=None, metrics=False):
    """Backs `model` (weights, optimizer, dropout seeds) up at `position` in `backup_dir`.

    Every file is written under a temporary name first; the metadata is renamed into place last,
    after the previous backup has become `previous.*`.

    Args:
        model: the compiled model.
        backup_dir: the backup folder.
        position: the `Position` the backup is of.
        batches_per_epoch: batches of one epoch.
        state: JSON-serialisable state of the run's callbacks, kept in the metadata.
        metrics: also keep the training metrics' variables (a position inside an epoch).
    """
    import numpy as np

    os.makedirs(backup_dir, exist_ok=True)
    sweep_leftovers(backup_dir)  # what a save killed midway left
    tag = f"{position.epoch}" + (f"-{position.batch}" if position.batch else "")
    seeds = f"seed_generators-{tag}.npz"
    model.save_weights(os.path.join(backup_dir, _INCOMING_WEIGHTS), overwrite=True)
    arrays = {f"state_{i}": v.numpy() for i, v in enumerate(seed_states(model))}
    if metrics:
        arrays.update({f"metric_{i}": v.numpy() for i, v in enumerate(model.metrics_variables)})
    with atomic_path(os.path.join(backup_dir, seeds)) as temporary:
        np.savez(temporary, **arrays)
    _write_json(os.path.join(backup_dir, _INCOMING_METADATA),
                {"epoch": position.epoch, "batch": position.batch,
                 "batches": position.batches(batches_per_epoch), "seeds": seeds,
                 **({"state": state} if state is not None else {})})
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


def load_backup(model, backup_dir, batches_per_epoch, state=None):
    """Loads the newest consistent backup of `backup_dir` into the compiled `model`.

    A backup is consistent when the optimizer step count in its weights file equals the number
    of batches its metadata names (a kill between two renames of `save_backup` leaves one file
    of the pair newer than the other: the older pair is used then).

    Args:
        model: the compiled model.
        backup_dir: the backup folder.
        batches_per_epoch: batches of one epoch.
        state: None, or a dict that gets the loaded backup's `"callbacks"` state (`{}`: none
            saved) and `"metrics"` (the training metrics' variables, or None).

    Returns:
        The backup's `Position` (`Position()` when there is no backup).

    Raises:
        UserError: there are backup files, but no weights file matches a metadata file.
    """
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
            metrics = _load_seeds(model, os.path.join(
                backup_dir, entry.get("seeds", f"seed_generators-{position.epoch}.npz")))
            if state is not None:
                state.update(callbacks=entry.get("state") or {}, metrics=metrics)
            return position
    raise UserError(f"{backup_dir}: no weights file matches the backup metadata (a damaged "
                    "backup); delete the folder to start the run over")


def _load_seeds(model, path):
    """Assigns the seed-generator states of `path`; returns its metric variables (or None)."""
    import numpy as np

    if not os.path.exists(path):
        logger.warning("%s is missing; the resumed run's dropout masks will differ from an "
                       "uninterrupted run's", path)
        return None
    with np.load(path) as saved:
        for i, seed in enumerate(seed_states(model)):
            seed.assign(saved[f"state_{i}"])
        metrics = sorted((k for k in saved.files if k.startswith("metric_")),
                         key=lambda k: int(k.split("_")[1]))
        return [saved[k] for k in metrics] or None


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
