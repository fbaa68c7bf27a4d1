"""`kbk`'s serving commands turn TensorFlow's oneDNN optimizations on unless the user chose.

Why (bench/results_cpu_paths.md): on AVX2 CPUs, where TF leaves oneDNN off, it serves faster with
it on, while our pretraining step is slower, so training commands leave TF's default alone.
Observed inside a real `kbk` process: a `sitecustomize` module (imported by Python at start-up)
records the variable when the process exits, after `kbk`'s `main` has run. The commands fail
fast on a missing file (exit 2), after the setting and before any TensorFlow import.
"""

import os
import subprocess
import sys

import pytest

SITECUSTOMIZE = """
import atexit, os

@atexit.register
def _record():
    with open(os.environ["KBK_TEST_ENV_OUT"], "w") as f:
        f.write(os.environ.get("TF_ENABLE_ONEDNN_OPTS", "<unset>"))
"""


EXPORT = ["export", "--model", "missing.keras", "--output", "out/1"]
PRETRAIN = ["pretrain", "--config", "missing.yaml"]


def kbk_onednn_setting(tmp_path, argv, **env):
    """TF_ENABLE_ONEDNN_OPTS as a `kbk ARGV` process sees it at exit, started with `env`."""
    (tmp_path / "sitecustomize.py").write_text(SITECUSTOMIZE)
    out = tmp_path / "env.txt"
    child_env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    child_env.update(env, KBK_TEST_ENV_OUT=str(out),
                     PYTHONPATH=os.pathsep.join(filter(None, [str(tmp_path),
                                                              os.environ.get("PYTHONPATH")])))
    run = subprocess.run([sys.executable, "-m", "keras_bert_kit.cli", *argv], env=child_env,
                         cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert run.returncode == 2 and "missing." in run.stderr, run.stderr
    return out.read_text()


def test_kbk_export_turns_onednn_on_by_default(tmp_path):
    assert kbk_onednn_setting(tmp_path, EXPORT) == "1"


@pytest.mark.parametrize("value", ["0", "1"])
def test_kbk_export_keeps_the_users_onednn_setting(tmp_path, value):
    assert kbk_onednn_setting(tmp_path, EXPORT, TF_ENABLE_ONEDNN_OPTS=value) == value


def test_kbk_bfloat16_export_leaves_tensorflows_default(tmp_path):
    assert kbk_onednn_setting(tmp_path, EXPORT + ["--precision", "bf16"]) == "<unset>"


def test_kbk_pretrain_leaves_tensorflows_default(tmp_path):
    assert kbk_onednn_setting(tmp_path, PRETRAIN) == "<unset>"


def test_in_process_call_after_tensorflow_import_leaves_the_environment_alone(tmp_path,
                                                                              monkeypatch):
    # Set after TensorFlow's import, the variable changes nothing in this process, and would
    # only leak into the subprocesses of later tests.
    import tensorflow  # noqa: F401

    from keras_bert_kit import cli

    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        cli.main(EXPORT)
    assert exited.value.code == 2
    assert "TF_ENABLE_ONEDNN_OPTS" not in os.environ
