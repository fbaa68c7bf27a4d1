"""Files that appear whole, and the file patterns users give: the one home of both rules.

Writing. A file or folder is made under a temporary name in its destination's folder (so the
rename is atomic), `.<name>.<kind>-<pid>-<token><suffix>` (`temporary_name`): hidden, named after
the destination and the writing process. It is synced and renamed into place: `atomic_path` /
`write_atomically` for a file, `staging_folder` + `sync_tree` + `swap_folder_into_place` (the
whole folder) or `merge_folder_into_place` (file by file) for a folder. A writer killed midway
leaves only such names; the next writer calls `sweep_leftovers`, which removes those whose
process is gone (`process_alive`, the one liveness check), leaves a live writer's alone, and
puts back an old folder that a killed swap had moved aside (`kind` `replaced`). What appears has
the modes of ordinary files and folders (0644 / 0755 under umask 022), never 0600 / 0700.

Reading. `expand_file_patterns` turns paths, folders and glob patterns, local or in a
`tf.io.gfile` file system (`gs://...`), into one sorted list of files, or a `UserError` naming
the pattern that matches nothing.

No TensorFlow at import (`tf.io.gfile` is imported when a remote pattern is expanded).
"""

import contextlib
import ctypes
import glob
import os
import posixpath
import re
import secrets
import shutil

from keras_bert_kit.errors import UserError

_LEFTOVER = re.compile(r"^\.(?P<name>.+)\.(?P<kind>[a-z]+)-(?P<pid>\d+)-[0-9a-f]+(\.[^-]*)?$")


# Writing ----------------------------------------------------------------------------------------


def temporary_name(path, kind="partial", suffix=""):
    """A new temporary path beside `path`: `.<name>.<kind>-<pid>-<token><suffix>`.

    Args:
        path: the destination.
        kind: what the temporary thing is (`partial` file, `staging` folder, `scratch`, ...).
        suffix: appended (writers that insist on an extension, like Keras' `.keras`).

    Example:
    >>> name = os.path.basename(temporary_name("out/model.keras", suffix=".keras"))
    >>> name.startswith(f".model.keras.partial-{os.getpid()}-"), name.endswith(".keras")
    (True, True)
    """
    folder, name = os.path.split(os.path.abspath(os.fspath(path)))
    return os.path.join(folder, f".{name}.{kind}-{os.getpid()}-{secrets.token_hex(4)}{suffix}")


def process_alive(pid):
    """Whether process `pid` runs on this machine (another user's counts as running).

    Example:
    >>> process_alive(os.getpid()), process_alive(999_999_999)
    (True, False)
    """
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except (ProcessLookupError, OverflowError):  # no such process; a pid out of range
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def sweep_leftovers(folder, name=None):
    """Removes the temporary files and folders of dead writers in `folder`; returns their paths.

    A leftover is named by `temporary_name`; those of `name` only, or of any destination when
    `name` is None. A live process's are left alone. A `replaced` folder (an old version a killed
    swap moved aside) is renamed back when its destination is missing.

    Example:
    >>> _ = open(".model.keras.partial-999999999-ab12.keras", "w").write("half")
    >>> _ = open(f".model.keras.partial-{os.getpid()}-cd34.keras", "w").write("mine")
    >>> [os.path.basename(p) for p in sweep_leftovers(".")]
    ['.model.keras.partial-999999999-ab12.keras']
    """
    removed = []
    try:
        entries = sorted(os.listdir(folder))
    except FileNotFoundError:
        return removed
    for entry in entries:
        match = _LEFTOVER.match(entry)
        if (not match or (name is not None and match["name"] != name)
                or process_alive(int(match["pid"]))):
            continue
        leftover, destination = os.path.join(folder, entry), os.path.join(folder, match["name"])
        if match["kind"] == "replaced" and not os.path.lexists(destination):
            os.rename(leftover, destination)
            continue
        if os.path.isdir(leftover) and not os.path.islink(leftover):
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            with contextlib.suppress(FileNotFoundError):
                os.remove(leftover)
        removed.append(leftover)
    return removed


def _umask():
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def ordinary_modes(folder):
    """Gives every file and folder under `folder` (itself included) the mode of an ordinary one,
    0666 / 0777 less the umask: writers that make their files 0600 (safetensors) would hide
    them from another user (a TF Serving process)."""
    mask = _umask()
    for root, _, names in os.walk(folder):
        os.chmod(root, 0o777 & ~mask)
        for name in names:
            os.chmod(os.path.join(root, name), 0o666 & ~mask)


def sync_file(path):
    """fsyncs one file (its bytes are on disk before it is renamed into place)."""
    with open(path, "rb") as f:
        os.fsync(f.fileno())


def sync_folder(folder):
    """fsyncs a folder's entries (a rename in it is on disk)."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def sync_tree(folder):
    """fsyncs every file and folder under `folder`."""
    for root, _, names in os.walk(folder):
        for name in names:
            sync_file(os.path.join(root, name))
        sync_folder(root)


@contextlib.contextmanager
def atomic_path(path, suffix=None):
    """Yields a temporary path beside `path` to write; a block that ends without an error has it
    synced and renamed to `path`; one that raises leaves `path` as it was and no temporary file.

    Args:
        path: the destination file.
        suffix: the temporary name's ending; default: `path`'s extension (Keras and NumPy
            check or add one).

    Example:
    >>> with atomic_path("weights.npz") as temporary:
    ...     np.savez(temporary, w=np.zeros(2))
    >>> sorted(os.listdir("."))
    ['weights.npz']
    """
    path = os.path.abspath(os.fspath(path))
    temporary = temporary_name(path, "partial",
                               os.path.splitext(path)[1] if suffix is None else suffix)
    try:
        yield temporary
        os.chmod(temporary, 0o666 & ~_umask())
        sync_file(temporary)
        os.replace(temporary, path)
        sync_folder(os.path.dirname(path))
    finally:
        if os.path.lexists(temporary):
            os.remove(temporary)


def write_atomically(path, data):
    """Writes `data` (`str`: UTF-8 text; `bytes`) to `path` through `atomic_path`.

    Example:
    >>> write_atomically("settings.json", "{}\\n")
    >>> open("settings.json").read(), sorted(os.listdir("."))
    ('{}\\n', ['settings.json'])
    """
    text = isinstance(data, str)
    with atomic_path(path) as temporary, open(temporary, "w" if text else "wb",
                                              encoding="utf-8" if text else None) as f:
        f.write(data)


def staging_folder(path):
    """A new hidden folder beside `path` to build it in, with the umask's mode (see module).

    Example:
    >>> staging = staging_folder("exports/1")
    >>> os.path.basename(staging).startswith(f".1.staging-{os.getpid()}-")
    True
    """
    path = os.path.abspath(os.fspath(path))
    os.makedirs(os.path.dirname(path), exist_ok=True)
    staging = temporary_name(path, "staging")
    os.mkdir(staging)  # mode 0o777 & ~umask (tempfile.mkdtemp would make it 0700)
    return staging


def _exchange(a, b):
    """Atomically swaps the paths `a` and `b` (Linux `renameat2(RENAME_EXCHANGE)`); False where
    the OS or file system cannot."""
    try:
        renameat2 = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return False
    at_cwd, rename_exchange = -100, 2
    return renameat2(at_cwd, os.fsencode(a), at_cwd, os.fsencode(b), rename_exchange) == 0


def swap_folder_into_place(staging, path):
    """Moves the finished (synced) `staging` folder to `path`, replacing what is there whole.

    An existing `path` is swapped out atomically where the OS can, else by two renames through
    a `replaced` temporary name (which `sweep_leftovers` puts back after a kill between them);
    the old folder is removed once the new one is in place.
    """
    path = os.path.abspath(os.fspath(path))
    ordinary_modes(staging)
    if os.path.isdir(path) and not os.path.islink(path) and not os.listdir(path):
        os.rmdir(path)
    if not os.path.lexists(path):
        os.rename(staging, path)
    elif _exchange(staging, path):
        shutil.rmtree(staging)  # now the old folder
    else:
        old = temporary_name(path, "replaced")
        os.rename(path, old)
        os.rename(staging, path)
        shutil.rmtree(old)
    sync_folder(os.path.dirname(path))


def merge_folder_into_place(staging, path):
    """Moves the files of the finished `staging` folder into `path`: one rename for a new
    folder; into an existing one file by file (each replace atomic, files of other names kept).
    """
    path = os.path.abspath(os.fspath(path))
    ordinary_modes(staging)
    sync_tree(staging)
    if not os.path.lexists(path):
        os.rename(staging, path)
    else:
        for name in sorted(os.listdir(staging)):
            os.replace(os.path.join(staging, name), os.path.join(path, name))
        sync_folder(path)
        os.rmdir(staging)
    sync_folder(os.path.dirname(path))


# Reading ----------------------------------------------------------------------------------------


class _LocalFiles:
    isdir, isfile = os.path.isdir, os.path.isfile

    @staticmethod
    def glob(pattern):
        return [m for m in glob.glob(pattern) if os.path.isfile(m)]

    @staticmethod
    def files_in(folder):
        return [entry.path for entry in os.scandir(folder) if entry.is_file()]


class _GFiles:
    """`tf.io.gfile` (gs://, and whatever file systems TensorFlow was built with)."""

    # Object stores list a folder as "name/"; asking each of thousands of shards whether it is
    # a folder would cost a request apiece.
    _OBJECT_STORES = ("gs://", "s3://")

    def __init__(self):
        import tensorflow as tf

        self.gfile = tf.io.gfile

    def isdir(self, path):
        return self.gfile.isdir(path)

    def isfile(self, path):
        return self.gfile.exists(path) and not self.gfile.isdir(path)

    def _files(self, paths):
        paths = [p for p in paths if not p.endswith("/")]
        if paths and paths[0].startswith(self._OBJECT_STORES):
            return paths
        return [p for p in paths if not self.gfile.isdir(p)]

    def glob(self, pattern):
        return self._files(self.gfile.glob(pattern))

    def files_in(self, folder):
        return self._files([posixpath.join(folder, n) for n in self.gfile.listdir(folder)])


def _hidden(path):
    return posixpath.basename(path.rstrip("/")).startswith(".")


def expand_file_patterns(patterns, what, remote=None):
    """The files named by paths, folders and glob patterns, in a deterministic order.

    A folder gives the files directly in it, a glob pattern (`*`, `?`, `[...]`) its matching
    files, a path itself; hidden names (`.x`: temporary files of writers) are left out of
    folders and of patterns that do not name them. Each pattern's files are sorted, patterns
    keep the given order, and a file named twice is kept once. Paths with `://` (`gs://...`) go
    through `tf.io.gfile`, or through `remote`.

    Args:
        patterns: a path, folder or glob pattern, or a list of them.
        what: what the files are for (the flag or argument), named in the error.
        remote: the file systems of `://` paths: None (`tf.io.gfile`), or an object with
            `isdir(path)`, `isfile(path)`, `glob(pattern)` and `files_in(folder)` (the last
            two: files only), such as the Beam runner's file systems.

    Raises:
        UserError: a pattern that matches no file (one line naming it and `what`).

    Example:
    >>> os.makedirs("corpus")
    >>> for name in ("corpus/b.txt", "corpus/a.txt", "notes.txt"):
    ...     _ = open(name, "w").write("Some text.")
    >>> expand_file_patterns(["corpus", "*.txt", "corpus/a.txt"], "--input")
    ['corpus/a.txt', 'corpus/b.txt', 'notes.txt']
    >>> expand_file_patterns("nothing*.txt", "--input")
    Traceback (most recent call last):
    ...
    keras_bert_kit.errors.UserError: --input: no file matches 'nothing*.txt' (give files, folders or glob patterns)
    """
    if isinstance(patterns, str | os.PathLike):
        patterns = [patterns]
    files, seen = [], set()
    for pattern in map(os.fspath, patterns):
        fs = (remote or _GFiles()) if "://" in pattern else _LocalFiles
        if fs.isdir(pattern):
            matches = [f for f in fs.files_in(pattern) if not _hidden(f)]
        elif glob.has_magic(pattern):
            show_hidden = _hidden(pattern)
            matches = [f for f in fs.glob(pattern) if show_hidden or not _hidden(f)]
        else:
            matches = [pattern] if fs.isfile(pattern) else []
        if not matches:
            raise UserError(f"{what}: no file matches {pattern!r} (give files, folders or glob "
                            "patterns)")
        files.extend(f for f in sorted(matches) if f not in seen)
        seen.update(matches)
    return files
