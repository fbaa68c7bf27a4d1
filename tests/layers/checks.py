"""Round-trip checks every layer test uses: config mirrors the constructor, `.keras` is exact."""

import keras
import numpy as np


def assert_config_round_trip(layer):
    config = layer.get_config()
    clone = type(layer).from_config(config)
    assert clone.get_config() == config


def assert_layer_keras_round_trip(layer, inputs, tmp_path):
    """Wraps `layer` in a functional model, saves `.keras`, reloads, compares outputs exactly."""
    symbolic = [keras.Input(shape=x.shape[1:], dtype=str(x.dtype)) for x in inputs]
    model = keras.Model(symbolic, layer(*symbolic))
    path = str(tmp_path / "layer.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    # The same weights and kernels in the same process: bitwise by design.
    np.testing.assert_array_equal(np.asarray(reloaded(inputs)), np.asarray(model(inputs)))
    return reloaded
