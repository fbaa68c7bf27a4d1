"""Doctests of code that needs an optional extra skip, naming the extra, where it is not installed."""

import subprocess
import sys

from tests.conftest import REPO

HIDE_AND_RUN = """
import sys
sys.modules[{module!r}] = None  # as in an install without the extra: `import` raises ImportError
import pytest
sys.exit(pytest.main(["-q", "-p", "no:cacheprovider", "-rs", {path!r}]))
"""


def run_doctests_without(module, path):
    return subprocess.run([sys.executable, "-c", HIDE_AND_RUN.format(module=module, path=path)],
                          cwd=REPO, capture_output=True, text=True, timeout=300)


def test_tfds_doctest_skips_with_the_install_line_without_tensorflow_datasets():
    done = run_doctests_without("tensorflow_datasets", "keras_bert_kit/data/tfds_data.py")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "1 skipped" in done.stdout and "failed" not in done.stdout, done.stdout
    assert "pip install 'keras-bert-kit[tfds]'" in done.stdout, done.stdout


def test_the_extras_packages_come_from_setup_cfg():
    import conftest

    assert {"tensorflow_datasets": "tfds", "apache_beam": "beam",
            "matplotlib": "plots"}.items() <= conftest.EXTRA_OF_PACKAGE.items()
    assert "transformers" not in conftest.EXTRA_OF_PACKAGE  # `test` holds our tests' tools
