"""`model.keras` is replaced atomically: a save that dies midway leaves the previous file whole."""

import os

import numpy as np
import pytest

from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.training.callbacks import save_atomically
from keras_bert_kit.training.saving import load_model


def test_a_failed_save_keeps_the_previous_model(tmp_path, monkeypatch):
    path = tmp_path / "model.keras"
    first = BertBackbone.from_preset("bert_tiny_uncased")
    save_atomically(first, path)
    before = path.read_bytes()
    second = BertBackbone.from_preset("bert_tiny_uncased")

    def dies_midway(target, *args, **kwargs):
        with open(target, "wb") as f:
            f.write(b"PK\x03\x04 half a zip")
        raise OSError("disk full")

    monkeypatch.setattr(second, "save", dies_midway)
    with pytest.raises(OSError, match="disk full"):
        save_atomically(second, path)
    assert path.read_bytes() == before
    assert os.listdir(tmp_path) == ["model.keras"]  # no partial file left behind
    reloaded = load_model(path)
    # The first save's bytes read back: bitwise by design.
    np.testing.assert_array_equal(reloaded.get_weights()[0], first.get_weights()[0])
