"""Doctest set-up for `pytest --doctest-modules keras_bert_kit`: quiet logs, seeds, common names.

Docstring examples may use `np`, `tf`, `keras` and every public name of `keras_bert_kit`
(`BertBackbone`, `BertClassifier`, ...) without importing them, and run in a temporary folder.
The example of a function that imports an optional extra's package (`import tensorflow_datasets`
inside `load_tfds_classification`) skips, naming the `pip install` line, where that package is
not installed; which package is in which extra is read from setup.cfg.
"""

import configparser
import importlib.util
import inspect
import os
import pathlib
import re
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

# Scripts that made fixtures (they import torch / transformers) are not tests or doctests.
collect_ignore_glob = ["tests/fixtures/*", "tests/*/make_*.py"]


def _extra_of_package():
    """Import name → extra, for the packages of setup.cfg's extras (not `test` and `bench`, which
    hold the dependencies of our own tests and benchmarks)."""
    config = configparser.ConfigParser()
    config.read(pathlib.Path(__file__).parent / "setup.cfg")
    extras = {}
    for extra, requirements in config["options.extras_require"].items():
        if extra in ("test", "bench"):
            continue
        for requirement in requirements.split():
            name = re.split(r"[<>=!~\[;]", requirement)[0]
            extras.setdefault(name.replace("-", "_").lower(), extra)
    return extras


EXTRA_OF_PACKAGE = _extra_of_package()


def _installed(package):
    if package in sys.modules:
        return sys.modules[package] is not None
    return importlib.util.find_spec(package) is not None


def _missing_extra(dtest):
    """The `pip install` line of an extra whose package the documented function imports and
    this install lacks; None when nothing is missing."""
    module = sys.modules.get(dtest.globs.get("__name__", ""))
    if module is None:
        return None
    obj = module
    try:
        for part in dtest.name[len(module.__name__):].split(".")[1:]:
            obj = getattr(obj, part)
        source = inspect.getsource(obj)
    except (AttributeError, TypeError, OSError):  # a property, a constant: no source to read
        return None
    for package in re.findall(r"^\s*(?:from|import)\s+(\w+)", source, re.MULTILINE):
        extra = EXTRA_OF_PACKAGE.get(package)
        if extra and not _installed(package):
            return f"{package} is not installed: pip install 'keras-bert-kit[{extra}]'"
    return None


@pytest.fixture(autouse=True)
def _doctest_names(request, doctest_namespace, tmp_path, monkeypatch):
    if not isinstance(request.node, pytest.DoctestItem):
        yield
        return
    missing = _missing_extra(request.node.dtest)
    if missing:
        pytest.skip(missing)
    import keras
    import numpy as np
    import tensorflow as tf

    import keras_bert_kit

    doctest_namespace.update(np=np, tf=tf, keras=keras, keras_bert_kit=keras_bert_kit)
    for name in keras_bert_kit.__all__:
        doctest_namespace[name] = getattr(keras_bert_kit, name)
    keras.utils.set_random_seed(0)
    keras.config.set_dtype_policy("float32")
    monkeypatch.chdir(tmp_path)
    yield
    keras.config.set_dtype_policy("float32")
