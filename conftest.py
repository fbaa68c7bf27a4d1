"""Doctest set-up for `pytest --doctest-modules keras_bert_kit`: quiet logs, seeds, common names.

Docstring examples may use `np`, `tf`, `keras` and every public name of `keras_bert_kit`
(`BertBackbone`, `BertClassifier`, ...) without importing them, and run in a temporary folder.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import pytest

# Scripts that made fixtures (they import torch / transformers) are not tests or doctests.
collect_ignore_glob = ["tests/fixtures/*", "tests/*/make_*.py"]


@pytest.fixture(autouse=True)
def _doctest_names(request, doctest_namespace, tmp_path, monkeypatch):
    if not isinstance(request.node, pytest.DoctestItem):
        yield
        return
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
