"""`.keras` files written before attention was its own layer load with the outputs they had.

`tests/fixtures/encoder_v1/` was written at commit 72971d7 (`make_encoder_v1_keras.py` there):
each block's attention projections sit at the encoder's level in those files
(`transformer_encoder_1/qkv_dense/...`), where today's files put them under `attention/`.
The reference outputs were computed on another machine and kernel path, so they are compared up
to float32 reordering (`tests/cpu_path.py`).
"""

import zipfile

import h5py
import keras
import numpy as np
import pytest

from tests.conftest import FIXTURES
from tests.cpu_path import assert_close_across_paths

pytestmark = pytest.mark.numerics  # compares with outputs made on another kernel path

FIXTURE = FIXTURES / "encoder_v1"


@pytest.fixture(scope="module")
def reference():
    import keras_bert_kit.models.bert_classifier  # noqa: F401 - registers the saved classes

    with np.load(FIXTURE / "reference.npz") as saved:
        return dict(saved)


def inputs(reference):
    return {k: reference[k] for k in ("token_ids", "segment_ids", "padding_mask")}


def weight_names(path, tmp_path):
    with zipfile.ZipFile(path) as archive:
        archive.extract("model.weights.h5", tmp_path)
    names = []
    with h5py.File(tmp_path / "model.weights.h5") as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    return names


def test_backbone_loads_with_the_same_outputs_and_saves_the_new_layout(reference, tmp_path):
    assert "layers/transformer_encoder_1/qkv_dense/vars/0" in weight_names(
        FIXTURE / "backbone.keras", tmp_path)
    backbone = keras.saving.load_model(FIXTURE / "backbone.keras")
    out = backbone(inputs(reference))
    assert_close_across_paths(out["sequence_output"], reference["sequence_output"])
    assert_close_across_paths(out["pooled_output"], reference["pooled_output"])

    path = tmp_path / "again.keras"
    backbone.save(path)
    names = weight_names(path, tmp_path)
    assert "layers/transformer_encoder_1/attention/qkv_dense/vars/0" in names
    assert not [n for n in names if "/qkv_dense/" in n and "/attention/" not in n]
    again = keras.saving.load_model(path)(inputs(reference))
    # Bitwise by design: the same weights, re-saved and reloaded in this process.
    np.testing.assert_array_equal(np.asarray(again["sequence_output"]),
                                  np.asarray(out["sequence_output"]))


def test_compiled_classifier_loads_weights_and_optimizer_state(reference):
    classifier = keras.saving.load_model(FIXTURE / "classifier.keras")
    x = inputs(reference)
    assert_close_across_paths(classifier(x), reference["logits"])
    # The next Adam step reads the moments back: they must sit on the variables they were for.
    classifier.train_on_batch(x, reference["labels"])
    np.testing.assert_allclose(np.asarray(classifier(x)), reference["logits_after_step"],
                               rtol=0, atol=1e-6)
