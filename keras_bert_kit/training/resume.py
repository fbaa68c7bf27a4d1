"""Resuming a killed run: which epoch its backup holds, whether its settings match, its history.

Keras' `BackupAndRestore` restores weights, optimizer and the *epoch*, not the position inside
an epoch. So a resumable task (pretraining) trains `total_steps // save_every_steps` "virtual
epochs" over an endless, deterministically shuffled stream of batches and skips the
`restored_epoch * steps_per_epoch` batches already trained on; with the dropout seed states
restored too (`callbacks.seed_state_backup`), the same command run again after a kill sees
exactly the batches and dropout masks of an uninterrupted run and ends at the same step.
The runner writes the run's settings to `run_settings.json` and refuses to resume a backup made
with other settings (`check_resume`).
"""

import csv
import json
import os

from keras_bert_kit.errors import UserError

BACKUP_DIR = "backup"
RUN_SETTINGS_FILE = "run_settings.json"


def backup_epoch(backup_dir):
    """The epoch `BackupAndRestore` has backed up in `backup_dir` (0: none)."""
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as f:
        return int(json.load(f)["epoch"])


def restored_epoch(output_dir):
    """The number of (virtual) epochs a run in `output_dir` has backed up (0 for a new run).

    Args:
        output_dir: the run folder.

    Example:
    >>> restored_epoch("runs/a-new-run")
    0
    """
    return backup_epoch(os.path.join(output_dir, BACKUP_DIR))


def check_resume(output_dir, settings, keys):
    """The restored epoch; writes `settings` to `run_settings.json` (a new run or matching keys).

    Args:
        output_dir: the run folder (created when missing).
        settings: the run's settings (JSON-serialisable).
        keys: the settings a resumed run must share with the backed-up one.

    Raises:
        UserError: the folder holds a backup of a run with other `keys` settings.

    Example:
    >>> check_resume("runs/new", {"batch_size": 8}, ["batch_size"])
    0
    """
    os.makedirs(output_dir, exist_ok=True)
    epoch = restored_epoch(output_dir)
    path = os.path.join(output_dir, RUN_SETTINGS_FILE)
    if epoch and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            previous = json.load(f)
        changed = [k for k in keys if previous.get(k) != settings.get(k)]
        if changed:
            raise UserError(
                f"{output_dir} holds a backup of a run with other settings ({path}: "
                + ", ".join(f"{k}={previous.get(k)!r} now {settings.get(k)!r}" for k in changed)
                + "); use a new output folder or the same settings")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(settings, f, indent=2)
    return epoch


def truncate_history(path, epochs):
    """Drops rows of epochs a killed run logged after its last backup (they are trained again)."""
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
