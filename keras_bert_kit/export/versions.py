"""Version folders of exports: never replaced unasked, swapped whole, leftovers of kills removed.

An export is written to a hidden staging folder beside its version folder,
`.<version>.staging-<pid>-<token>` (TF Serving only loads folders named by a number; the
names and the writing rules are `keras_bert_kit/files.py`'s), synced, and moved into place
(`move_into_place`): an existing version is swapped out only with `overwrite`, atomically where
the OS can. A killed export leaves only hidden folders; the next export of that version removes
those whose process is gone and puts back an old version that a half-done swap moved aside
(`check_export_target`, through `files.sweep_leftovers`). No TensorFlow here: `kbk export`
checks its output folder before TensorFlow loads.
"""

import os

from keras_bert_kit import files
from keras_bert_kit.errors import UserError


def check_export_target(path, overwrite=False):
    """Raises `UserError` when exporting to `path` would replace something not asked to be.

    Before that, removes what killed exports left beside `path` (`files.sweep_leftovers`). A
    missing or empty folder is a free target; a non-empty one needs `overwrite`; a file never.

    Example:
    >>> import os
    >>> os.makedirs("models/m/1/variables")
    >>> check_export_target("models/m/1")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    keras_bert_kit.errors.UserError: .../models/m/1: an export is already there (pass overwrite=True / kbk export --overwrite to replace it once the new one passed its checks, or export to a new version folder)
    >>> check_export_target("models/m/1", overwrite=True)
    """
    path = os.path.abspath(os.fspath(path))
    parent, name = os.path.split(path)
    files.sweep_leftovers(parent, name)
    if os.path.isdir(path):
        if os.listdir(path) and not overwrite:
            raise UserError(f"{path}: an export is already there (pass overwrite=True / kbk "
                            "export --overwrite to replace it once the new one passed its "
                            "checks, or export to a new version folder)")
    elif os.path.lexists(path):
        raise UserError(f"{path}: not a folder (give the version folder to write, e.g. "
                        "saved_models/<name>/1)")


def move_into_place(staging, path, overwrite):
    """Moves the finished, synced `staging` folder to `path`; an existing export there is
    swapped out (`overwrite`) and removed only once the new one is in place, or refused (one
    that appeared while this export ran)."""
    if not overwrite:
        check_export_target(path)
    files.swap_folder_into_place(staging, path)
