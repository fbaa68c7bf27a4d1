"""`keras_bert_kit/files.py`: files appear whole, killed writers' leftovers go (live ones' stay),
and file patterns expand one way; plus the guard that no second copy of either rule comes back."""

import ast
import os
import signal
import subprocess
import sys
import textwrap

import pytest

from keras_bert_kit import files
from keras_bert_kit.errors import UserError
from tests.test_layering import PACKAGE, modules

# A writer in another process: `atomic_path` to `argv[1]`, writing `argv[2]` bytes; with "die" it
# kills itself halfway through, with "hang" it waits halfway (a live writer) for its kill.
WRITER = textwrap.dedent("""
    import os, signal, sys, time
    from keras_bert_kit.files import atomic_path
    path, size, mode = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    with atomic_path(path) as temporary:
        with open(temporary, "wb") as f:
            f.write(b"n" * (size // 2))
            f.flush()
            if mode == "die":
                os.kill(os.getpid(), signal.SIGKILL)
            print("halfway", flush=True)
            time.sleep(60)
""")


def start_writer(path, mode, size=1 << 16):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(size), mode],
                            stdout=subprocess.PIPE, text=True, cwd=PACKAGE.parent)


def test_a_killed_writers_leftover_is_swept_and_the_destination_kept(tmp_path):
    destination = tmp_path / "model.keras"
    destination.write_bytes(b"old, whole")
    writer = start_writer(destination, "die")
    assert writer.wait(timeout=60) == -signal.SIGKILL
    leftovers = [n for n in os.listdir(tmp_path) if n != "model.keras"]
    assert len(leftovers) == 1 and leftovers[0].startswith(f".model.keras.partial-{writer.pid}-")
    assert leftovers[0].endswith(".keras")  # the destination's extension (Keras insists on it)
    assert destination.read_bytes() == b"old, whole"
    assert files.sweep_leftovers(tmp_path) == [str(tmp_path / leftovers[0])]
    assert os.listdir(tmp_path) == ["model.keras"]


def test_a_live_writers_temporary_file_is_left_alone(tmp_path):
    writer = start_writer(tmp_path / "data.bin", "hang")
    try:
        assert writer.stdout.readline().strip() == "halfway"
        assert files.sweep_leftovers(tmp_path) == []
        assert len(os.listdir(tmp_path)) == 1
    finally:
        writer.kill()
        writer.wait()
    assert len(files.sweep_leftovers(tmp_path, "data.bin")) == 1
    assert os.listdir(tmp_path) == []


def test_the_destination_never_holds_a_half_file(tmp_path):
    """A reader polling while another process rewrites the file only ever sees whole versions."""
    path, size = tmp_path / "settings.bin", 1 << 18
    script = textwrap.dedent(f"""
        from keras_bert_kit.files import write_atomically
        for version in range(40):
            write_atomically({str(path)!r}, bytes([65 + version % 26]) * {size})
    """)
    files.write_atomically(path, b"@" * size)
    writer = subprocess.Popen([sys.executable, "-c", script], cwd=PACKAGE.parent)
    seen = set()
    while writer.poll() is None:
        data = path.read_bytes()
        assert len(data) == size and data == data[:1] * size
        seen.add(data[:1])
    assert writer.wait() == 0
    assert path.read_bytes() == bytes([65 + 39 % 26]) * size
    assert os.listdir(tmp_path) == ["settings.bin"]
    assert seen  # the reader did read while the writer ran


def test_a_failed_write_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "a.json"
    files.write_atomically(path, "old")
    with pytest.raises(RuntimeError, match="midway"), files.atomic_path(path) as temporary:
        with open(temporary, "w") as f:
            f.write("new, half")
        raise RuntimeError("midway")
    assert path.read_text() == "old" and os.listdir(tmp_path) == ["a.json"]


def test_folders_swap_whole_merge_by_file_and_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        for name in ("swapped", "merged"):
            (tmp_path / name).mkdir()
            (tmp_path / name / "old.txt").write_text("old")
            (tmp_path / name / "same.txt").write_text("old")
        staged = {}
        for name in ("swapped", "merged"):
            staged[name] = files.staging_folder(tmp_path / name)
            (tmp_path / staged[name] / "same.txt").write_text("new")
            files.sync_tree(staged[name])
    finally:
        os.umask(old)
    files.swap_folder_into_place(staged["swapped"], tmp_path / "swapped")
    files.merge_folder_into_place(staged["merged"], tmp_path / "merged")
    assert sorted(os.listdir(tmp_path)) == ["merged", "swapped"]
    assert os.listdir(tmp_path / "swapped") == ["same.txt"]
    assert sorted(os.listdir(tmp_path / "merged")) == ["old.txt", "same.txt"]
    assert (tmp_path / "merged" / "same.txt").read_text() == "new"
    assert os.stat(tmp_path / "swapped").st_mode & 0o777 == 0o755


@pytest.fixture
def corpus(tmp_path):
    for name in ("b.txt", "a.txt", ".partial.txt", "sub/c.txt"):
        (tmp_path / "corpus" / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / "corpus" / name).write_text("x")
    return tmp_path / "corpus"


def test_patterns_expand_folders_globs_and_paths_sorted_without_hidden_files(corpus):
    expected = [str(corpus / "a.txt"), str(corpus / "b.txt")]
    assert files.expand_file_patterns(corpus, "--input") == expected
    assert files.expand_file_patterns(f"{corpus}/", "--input") == expected
    assert files.expand_file_patterns(str(corpus / "*.txt"), "--input") == expected
    assert files.expand_file_patterns(
        [str(corpus / "b.txt"), str(corpus / "*"), str(corpus / "sub")], "--input"
    ) == [str(corpus / "b.txt"), str(corpus / "a.txt"), str(corpus / "sub" / "c.txt")]
    assert files.expand_file_patterns(str(corpus / ".p*"), "x") == [str(corpus / ".partial.txt")]


@pytest.mark.parametrize("pattern", ["missing.txt", "*.nothing", "empty"])
def test_a_pattern_that_matches_nothing_is_one_line_naming_it(tmp_path, pattern):
    (tmp_path / "empty").mkdir()
    with pytest.raises(UserError) as error:
        files.expand_file_patterns(str(tmp_path / pattern), "--train-files")
    message = str(error.value)
    assert message.startswith(f"--train-files: no file matches '{tmp_path / pattern}'")
    assert "\n" not in message


def test_remote_patterns_go_through_tf_io_gfile():
    import tensorflow as tf

    for name in ("d/b.rec", "d/a.rec", "d/.hidden.rec", "d/sub/c.rec"):
        with tf.io.gfile.GFile(f"ram://kbk-files/{name}", "w") as f:
            f.write("x")
    expected = ["ram://kbk-files/d/a.rec", "ram://kbk-files/d/b.rec"]
    assert files.expand_file_patterns("ram://kbk-files/d", "x") == expected
    assert files.expand_file_patterns("ram://kbk-files/d/*.rec", "x") == expected
    with pytest.raises(UserError, match="ram://kbk-files/none"):
        files.expand_file_patterns("ram://kbk-files/none*", "x")


def _calls(tree):
    """Dotted names of every call in `tree` (`glob.glob`, `tf.io.gfile.glob`, `os.kill`, ...)."""
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            parts, target = [], node.func
            while isinstance(target, ast.Attribute):
                parts.insert(0, target.attr)
                target = target.value
            if isinstance(target, ast.Name):
                yield ".".join([target.id, *parts])


# The calls that make a second file-pattern expander, liveness check or rename-into-place. Beam's
# runner renames its remote shards with Beam's `FileSystems.rename` (not a local rename).
ONE_HOME = {"glob.glob", "glob.iglob", "tf.io.gfile.glob", "os.kill", "os.replace", "os.rename",
            "os.fsync", "tempfile.mkdtemp"}


# Uses of those calls that are not a second copy, each with its reason.
NOT_A_COPY = {
    "keras_bert_kit.checkpoints: glob.glob": "looks up Google's *.ckpt*.index in a model folder",
    "keras_bert_kit.training.resume: os.replace": "rotates whole backup files (latest → previous)",
    "keras_bert_kit.training.runner: tempfile.mkdtemp": "a non-chief worker's throwaway folder",
}


def test_files_is_the_one_home_of_patterns_liveness_and_renames():
    found = []
    for name, path in modules().items():
        if name == "keras_bert_kit.files":
            continue
        calls = set(_calls(ast.parse(path.read_text(encoding="utf-8"))))
        found += [f"{name}: {call}" for call in sorted(calls & ONE_HOME)]
    assert sorted(set(found) - set(NOT_A_COPY)) == []
    assert sorted(set(NOT_A_COPY) - set(found)) == []  # a reason for something gone: drop it


def test_the_one_home_check_sees_a_second_copy(tmp_path):
    """The check reads calls as written: an inline liveness check or glob is found."""
    source = "import os, glob\ndef alive(pid):\n    os.kill(pid, 0)\n    return glob.glob('*')\n"
    assert set(_calls(ast.parse(source))) & ONE_HOME == {"os.kill", "glob.glob"}
