"""BertPretrainer: fit() on MLM+NSP, heads from checkpoints, HF round trip, `.keras` round trip."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.models.bert_pretrainer import BertPretrainer
from tests.conftest import FIXTURES
from tests.helpers import TINY, max_abs_diff_valid, random_inputs


def pretraining_batch(batch=16, seq=16, predictions=4, seed=0):
    """A learnable toy task: the masked token equals the token just before it."""
    rng = np.random.default_rng(seed)
    x = random_inputs(batch=batch, seq=seq, pad_last=False, seed=seed)
    positions = np.sort(rng.choice(np.arange(2, seq - 4), size=(batch, predictions)), axis=1)
    x["token_ids"] = np.repeat(rng.integers(5, 99, size=(batch, seq // 2)), 2, axis=1).astype("int32")
    x["mask_positions"] = (positions | 1).astype("int32")
    mask_ids = np.take_along_axis(x["token_ids"], x["mask_positions"], axis=1)
    np.put_along_axis(x["token_ids"], x["mask_positions"], 4, axis=1)  # [MASK]
    weights = np.ones((batch, predictions), "float32")
    weights[:, -1] = 0.0  # a padding slot: must not count
    nsp = (np.arange(batch) % 2).astype("int32")
    return x, {"mlm": mask_ids, "nsp": nsp}, {"mlm": weights, "nsp": np.ones(batch, "float32")}


def as_dataset(x, y, w, batch_size=8):
    return tf.data.Dataset.from_tensor_slices((x, y, w)).batch(batch_size)


def test_fit_learns_mlm_and_reports_metrics():
    model = BertPretrainer(BertBackbone(**TINY))
    model.compile(optimizer=keras.optimizers.Adam(3e-3))
    history = model.fit(as_dataset(*pretraining_batch()), epochs=40, verbose=0)
    assert {"mlm_accuracy", "nsp_accuracy", "mlm_loss", "nsp_loss"} <= set(history.history)
    assert history.history["mlm_accuracy"][-1] > 0.8  # chance: 1/99
    assert history.history["mlm_loss"][-1] < 0.4 * history.history["mlm_loss"][0]


def test_mlm_loss_ignores_zero_weight_slots():
    model = BertPretrainer(BertBackbone(**TINY))
    model.compile()
    x, y, w = pretraining_batch(batch=4)
    base = model.evaluate(as_dataset(x, y, w), verbose=0, return_dict=True)["mlm_loss"]
    y["mlm"] = y["mlm"].copy()
    y["mlm"][:, -1] = 1  # change only the labels of zero-weight slots
    assert model.evaluate(as_dataset(x, y, w), verbose=0, return_dict=True)["mlm_loss"] == pytest.approx(base)


@pytest.mark.parametrize("jit", [False, True])
def test_last_block_at_masked_rows_equals_full_sequence_path(jit):
    """The pretrainer runs its last block only at [CLS] + masked rows: same outputs, same gradients."""
    keras.utils.set_random_seed(3)
    backbone = BertBackbone(**TINY)
    model = BertPretrainer(backbone)
    x, y, w = pretraining_batch(batch=4, seq=16)
    x["padding_mask"][1, 12:] = 0
    x["mask_positions"][2] = [1, 3, 15, 0]  # the last position and a padding slot at 0

    def full_path(inputs):
        encoded = backbone({k: inputs[k] for k in ("token_ids", "segment_ids", "padding_mask")})
        return {"mlm": model.masked_lm_head(encoded["sequence_output"], inputs["mask_positions"]),
                "nsp": model.next_sentence_head(encoded["pooled_output"])}

    def loss_and_grads(fn):
        with tf.GradientTape() as tape:
            out = fn(x)
            loss = (tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(
                        y["mlm"], out["mlm"], from_logits=True) * w["mlm"])
                    + tf.reduce_sum(keras.losses.sparse_categorical_crossentropy(
                        y["nsp"], out["nsp"], from_logits=True)))
        return out, tape.gradient(loss, model.trainable_variables)

    fast = tf.function(lambda: loss_and_grads(model), jit_compile=jit)()
    ref = tf.function(lambda: loss_and_grads(full_path), jit_compile=jit)()
    for key in ("mlm", "nsp"):
        np.testing.assert_allclose(np.asarray(fast[0][key]), np.asarray(ref[0][key]), atol=1e-5)
    assert len(fast[1]) == len(model.trainable_variables) and all(g is not None for g in fast[1])
    for variable, a, b in zip(model.trainable_variables, fast[1], ref[1]):
        np.testing.assert_allclose(tf.convert_to_tensor(a).numpy(), tf.convert_to_tensor(b).numpy(),
                                   atol=1e-5, err_msg=variable.path)


def test_saved_weights_keep_the_backbone_layout(tmp_path):
    """`.keras` files keep one nested backbone (`layers/bert_backbone/...`), as earlier releases wrote."""
    import zipfile

    import h5py

    path = tmp_path / "m.keras"
    BertPretrainer(BertBackbone(**TINY)).save(path)
    with zipfile.ZipFile(path) as archive:
        archive.extract("model.weights.h5", tmp_path)
    names = []
    with h5py.File(tmp_path / "model.weights.h5") as f:
        f.visititems(lambda name, obj: names.append(name) if isinstance(obj, h5py.Dataset) else None)
    top = {name.split("/")[1] for name in names}
    assert top == {"bert_backbone", "masked_lm_head", "next_sentence_head"}
    assert "layers/bert_backbone/layers/transformer_encoder_1/attention/qkv_dense/vars/0" in names


@pytest.mark.numerics  # compared with PyTorch's logits
def test_heads_load_from_pytorch_checkpoint_and_round_trip_to_hf(tmp_path):
    transformers = pytest.importorskip("transformers")
    ref = np.load(FIXTURES / "tiny_bert_pytorch_reference.npz")
    model = BertPretrainer.from_pretrained(str(FIXTURES / "tiny_bert_pytorch"))
    x = {k: ref[k] for k in ("token_ids", "segment_ids", "padding_mask")}
    x["mask_positions"] = np.tile(np.arange(16, dtype="int32"), (2, 1))
    out = model(x)
    assert max_abs_diff_valid(out["mlm"], ref["mlm_logits"], x["padding_mask"]) <= 1e-4
    np.testing.assert_allclose(out["nsp"], ref["nsp_logits"], atol=1e-5)

    model.save_pretrained(tmp_path)
    from safetensors.numpy import load_file
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    hf = transformers.TFBertForPreTraining(transformers.BertConfig.from_pretrained(str(tmp_path)))
    load_pytorch_state_dict_in_tf2_model(hf, load_file(str(tmp_path / "model.safetensors")))
    theirs = hf(dict(input_ids=x["token_ids"], token_type_ids=x["segment_ids"],
                     attention_mask=x["padding_mask"]))
    assert max_abs_diff_valid(theirs.prediction_logits, ref["mlm_logits"], x["padding_mask"]) <= 1e-4
    np.testing.assert_allclose(theirs.seq_relationship_logits, ref["nsp_logits"], atol=1e-5)


def test_minilm_without_heads_gets_tied_initialised_heads(minilm_path):
    model = BertPretrainer.from_pretrained(minilm_path)
    embedding = model.backbone.token_embedding.embeddings
    assert model.masked_lm_head.token_embedding.embeddings is embedding
    assert len(model.trainable_weights) == len(model.backbone.trainable_weights) + 7


def test_keras_round_trip_keeps_tied_heads(tmp_path):
    model = BertPretrainer(BertBackbone(**TINY))
    x, _, _ = pretraining_batch(batch=2)
    path = str(tmp_path / "pretrainer.keras")
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(reloaded(x)["mlm"]), np.asarray(model(x)["mlm"]))
    assert reloaded.masked_lm_head.token_embedding is reloaded.backbone.token_embedding


def test_bfloat16_train_step_in_graph_mode_tracks_float32_and_learns():
    # The CPU bfloat16 path (`jit_compile_setting`: graph mode): same loss and gradients as
    # float32 to bfloat16 accuracy, and fit() still learns the toy task.
    x, y, w = pretraining_batch()
    reference = BertPretrainer(BertBackbone(**TINY))
    previous = keras.config.dtype_policy()
    keras.config.set_dtype_policy("mixed_bfloat16")
    try:
        mixed = BertPretrainer(BertBackbone(**TINY))
    finally:
        keras.config.set_dtype_policy(previous)
    mixed.set_weights(reference.get_weights())
    assert mixed.backbone.compute_dtype == "bfloat16"
    assert all(v.dtype == "float32" for v in mixed.weights)
    losses = {"mlm": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              "nsp": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}

    def loss_and_grads(model):
        @tf.function(jit_compile=False)
        def step():
            with tf.GradientTape() as tape:
                out = model(x, training=False)
                loss = sum(losses[k](y[k], tf.cast(out[k], "float32"), w[k]) for k in losses)
            return loss, tape.gradient(loss, model.trainable_variables)
        return step()

    loss32, grads32 = loss_and_grads(reference)
    loss16, grads16 = loss_and_grads(mixed)
    assert abs(float(loss16) - float(loss32)) < 0.02 * float(loss32)
    flat32, flat16 = (tf.concat([tf.reshape(tf.convert_to_tensor(g), [-1]) for g in grads], 0)
                      for grads in (grads32, grads16))
    assert float(tf.norm(flat16 - flat32) / tf.norm(flat32)) < 0.03

    mixed.compile(optimizer=keras.optimizers.Adam(3e-3), jit_compile=False)
    history = mixed.fit(as_dataset(x, y, w), epochs=40, verbose=0)
    assert history.history["mlm_accuracy"][-1] > 0.8
