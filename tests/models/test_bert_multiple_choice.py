"""BertMultipleChoice learns a synthetic choice task; shapes and round trip."""

import keras
import numpy as np

from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.models.bert_multiple_choice import BertMultipleChoice
from tests.helpers import TINY


def synthetic_choices(n=96, choices=4, seq=10, seed=0):
    """The right choice is the one whose tokens repeat the context's first token."""
    rng = np.random.default_rng(seed)
    ids = rng.integers(10, 99, size=(n, choices, seq)).astype("int32")
    answers = rng.integers(0, choices, size=n)
    ids[np.arange(n), answers, seq // 2:] = ids[np.arange(n), answers, 1][:, None]
    segments = np.zeros_like(ids)
    segments[..., seq // 2:] = 1
    return {"token_ids": ids, "segment_ids": segments, "padding_mask": np.ones_like(ids)}, answers


def test_learns_synthetic_choice_task(tmp_path):
    model = BertMultipleChoice(BertBackbone(**TINY), num_choices=4)
    x, y = synthetic_choices()
    model.compile(optimizer=keras.optimizers.Adam(2e-3))
    history = model.fit(x, y, epochs=12, batch_size=16, verbose=0)
    assert history.history["accuracy"][-1] > 0.8  # chance: 0.25
    held_x, held_y = synthetic_choices(n=64, seed=1)
    assert model.evaluate(held_x, held_y, verbose=0, return_dict=True)["accuracy"] > 0.6
    path = str(tmp_path / "mc.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(reloaded(held_x)), np.asarray(model(held_x)))
