"""Small helpers shared by the tests: inputs, tiny configs and a save/load/compare routine."""

import numpy as np
import keras

TINY = dict(vocabulary_size=99, num_layers=2, num_heads=4, hidden_dim=32, intermediate_dim=37,
            max_sequence_length=64, dropout=0.0, attention_dropout=0.0)


def random_inputs(batch=3, seq=11, vocab=99, seed=0, pad_last=True):
    """Deterministic backbone inputs with pairs (segment 1 tail) and trailing padding in the last row."""
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(1, vocab, size=(batch, seq)).astype("int32")
    segment_ids = np.zeros((batch, seq), "int32")
    segment_ids[:, seq // 2:] = 1
    padding_mask = np.ones((batch, seq), "int32")
    if pad_last:
        padding_mask[-1, seq - 4:] = 0
        token_ids[-1, seq - 4:] = 0
        segment_ids[-1, seq - 4:] = 0
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}


def max_abs_diff_valid(a, b, padding_mask):
    """max |a - b| over valid (unpadded) positions of `[batch, seq, ...]` arrays."""
    mask = np.asarray(padding_mask).astype(bool)
    return float(np.abs(np.asarray(a, np.float32)[mask] - np.asarray(b, np.float32)[mask]).max())


def assert_keras_round_trip(obj, call, tmp_path, atol=0.0):
    """Saves `obj` to `.keras`, reloads it, and checks `call(obj)` equals `call(reloaded)`."""
    path = str(tmp_path / "round_trip.keras")
    obj.save(path) if isinstance(obj, keras.Model) else keras.Sequential([obj]).save(path)
    reloaded = keras.saving.load_model(path)
    expected, actual = call(obj), call(reloaded)
    for e, a in zip(keras.tree.flatten(expected), keras.tree.flatten(actual)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(e), atol=atol, rtol=0)
    return reloaded
