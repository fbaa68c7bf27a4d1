"""Version folders of exports: never replaced unasked, swapped whole, leftovers of kills removed.

An export is written to a hidden staging folder beside its version folder,
`.<version>.staging-<pid>-<token>` (TF Serving only loads folders named by a number), synced,
and moved into place (`move_into_place`): an existing version is swapped out only with
`overwrite`, atomically where the OS can (`renameat2(RENAME_EXCHANGE)`), else by two renames
through `.<version>.replaced-<pid>-<token>`. A killed export leaves only such hidden folders;
the next export of that version removes those whose process is gone and puts back an old
version that a half-done swap moved aside (`clean_leftovers`). Folders are made with the
process's umask (0755 under umask 022), never 0700. No TensorFlow here: `kbk export` checks
its output folder before TensorFlow loads.
"""

import ctypes
import os
import re
import secrets
import shutil

from keras_bert_kit.errors import UserError

_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<kind>staging|replaced)-(?P<pid>\d+)-[0-9a-f]+$")


def check_export_target(path, overwrite=False):
    """Raises `UserError` when exporting to `path` would replace something not asked to be.

    Before that, removes what killed exports left beside `path` (see `clean_leftovers`). A
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
    clean_leftovers(path)
    if os.path.isdir(path):
        if os.listdir(path) and not overwrite:
            raise UserError(f"{path}: an export is already there (pass overwrite=True / kbk "
                            "export --overwrite to replace it once the new one passed its "
                            "checks, or export to a new version folder)")
    elif os.path.lexists(path):
        raise UserError(f"{path}: not a folder (give the version folder to write, e.g. "
                        "saved_models/<name>/1)")


def _process_alive(pid):
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def clean_leftovers(path):
    """Removes the staging folders of exports of `path` whose process is gone, and puts back an
    old version that a killed swap moved aside (when `path` is missing). Returns what it removed.

    Folders of running exports (their process alive) are left alone.
    """
    parent, name = os.path.split(os.path.abspath(os.fspath(path)))
    removed = []
    try:
        entries = sorted(os.listdir(parent))
    except FileNotFoundError:
        return removed
    for entry in entries:
        match = _LEFTOVER.match(entry)
        if not match or match["name"] != name or _process_alive(int(match["pid"])):
            continue
        leftover = os.path.join(parent, entry)
        if match["kind"] == "replaced" and not os.path.lexists(path):
            os.rename(leftover, path)
            continue
        shutil.rmtree(leftover, ignore_errors=True)
        removed.append(leftover)
    return removed


def make_staging_folder(path):
    """A new hidden folder beside `path`, named after this process, with the umask's mode."""
    parent, name = os.path.split(path)
    os.makedirs(parent, exist_ok=True)
    staging = os.path.join(parent, f".{name}.staging-{os.getpid()}-{secrets.token_hex(4)}")
    os.mkdir(staging)   # mode 0o777 & ~umask (tempfile.mkdtemp would make it 0700)
    return staging


def sync_tree(folder):
    """fsyncs every file and folder under `folder` (the export is on disk before it is moved)."""
    for root, _, files in os.walk(folder):
        for name in files:
            with open(os.path.join(root, name), "rb") as f:
                os.fsync(f.fileno())
        _sync_folder(root)


def _sync_folder(folder):
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _exchange(a, b):
    """Atomically swaps the paths `a` and `b` (Linux `renameat2(RENAME_EXCHANGE)`); False where
    the OS or file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_cwd, rename_exchange = -100, 2
    return renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), rename_exchange) == 0


def move_into_place(staging, path, overwrite):
    """Moves the finished `staging` folder to `path`; an existing export there is swapped out
    (`overwrite`) and removed only once the new one is in place."""
    if os.path.isdir(path) and not os.listdir(path):
        os.rmdir(path)
    if not os.path.lexists(path):
        os.rename(staging, path)
    elif not overwrite:  # appeared while this export ran
        check_export_target(path)
    elif _exchange(staging, path):
        shutil.rmtree(staging)     # now the old version
    else:
        parent, name = os.path.split(path)
        old = os.path.join(parent, f".{name}.replaced-{os.getpid()}-{secrets.token_hex(4)}")
        os.rename(path, old)
        os.rename(staging, path)
        shutil.rmtree(old)
    _sync_folder(os.path.dirname(path))
