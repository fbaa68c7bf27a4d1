"""BertSelfAttention on its own and as `TransformerEncoder`'s pluggable `attention_cls`."""

import keras
import numpy as np
import pytest
import tensorflow as tf
from keras import ops

from keras_bert_kit.layers import BertSelfAttention, TransformerEncoder
from tests.layers import reference
from tests.layers.checks import assert_config_round_trip, assert_layer_keras_round_trip

rng = np.random.default_rng(0)
X = rng.normal(size=(2, 6, 16)).astype("float32")
MASK = np.array([[1] * 6, [1] * 4 + [0] * 2], "int32")
VALID = MASK.astype(bool)


@keras.saving.register_keras_serializable(package="keras_bert_kit_tests")
class ScaledScoresAttention(BertSelfAttention):
    """`BertSelfAttention` with its attention scores multiplied by `score_scale`."""

    def __init__(self, score_scale=1.0, **kwargs):
        super().__init__(**kwargs)
        self.score_scale = score_scale

    def _probabilities(self, scores, attention_bias, training):
        scaled = scores * ops.cast(self.score_scale, scores.dtype)
        return super()._probabilities(scaled, attention_bias, training)

    def get_config(self):
        return {**super().get_config(), "score_scale": self.score_scale}


@pytest.mark.numerics  # compared with a numpy reference
def test_self_attention_matches_reference_and_round_trips(tmp_path):
    attention = BertSelfAttention(hidden_dim=16, num_heads=4, dropout=0.0)
    out = np.asarray(attention(X, padding_mask=MASK))
    expected = reference.self_attention(attention, X.astype("float64"), MASK)
    np.testing.assert_allclose(out[VALID], expected[VALID], atol=1e-5)
    bias = np.asarray(keras.ops.where(MASK[:, None, None, :] == 1, 0.0, -1e4), "float32")
    np.testing.assert_array_equal(attention(X, attention_bias=bias), out)
    assert [w.path for w in attention.trainable_weights] == [
        "bert_self_attention/qkv/kernel", "bert_self_attention/qkv/bias",
        "bert_self_attention/attention_output/kernel", "bert_self_attention/attention_output/bias"]
    assert_config_round_trip(attention)
    assert_layer_keras_round_trip(attention, [X, MASK], tmp_path)


@pytest.mark.parametrize("jit", [False, True])
def test_self_attention_query_positions_equal_gathered_rows(jit):
    attention = BertSelfAttention(hidden_dim=16, num_heads=4, dropout=0.0)
    positions = np.array([[0, 5, 2, 2], [0, 3, 5, 1]], "int32")  # a repeat and a padded row
    full = np.asarray(attention(X, padding_mask=MASK))
    fn = tf.function(lambda x, m, p: attention(x, padding_mask=m, query_positions=p),
                     jit_compile=jit)
    rows = np.asarray(fn(X, MASK, positions))
    np.testing.assert_allclose(rows, np.take_along_axis(full, positions[..., None], axis=1),
                               atol=1e-6)
    assert attention.compute_output_shape((2, 6, 16), query_positions_shape=(2, 4)) == (2, 4, 16)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
@pytest.mark.parametrize("jit", [False, True])
def test_encoder_under_mixed_precision(policy, jit):
    """Compute dtype out, float32 variables, close to float32; training (fused path) has grads."""
    block = TransformerEncoder(hidden_dim=16, num_heads=4, intermediate_dim=24, dtype=policy)
    twin = TransformerEncoder(hidden_dim=16, num_heads=4, intermediate_dim=24)
    block.build((None, None, 16))
    twin.build((None, None, 16))
    for ours, theirs in zip(block.weights, twin.weights):
        theirs.assign(ours)
    assert {w.dtype for w in block.weights} == {"float32"}
    compute = keras.DTypePolicy(policy).compute_dtype

    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = block(x, padding_mask=MASK, training=True)
            loss = tf.reduce_sum(tf.cast(y, tf.float32) ** 2)
        return y, tape.gradient(loss, [x] + block.trainable_weights)

    y, grads = tf.function(step, jit_compile=jit)(tf.constant(X))
    assert y.dtype == compute
    assert all(np.all(np.isfinite(np.asarray(tf.cast(g, tf.float32)))) for g in grads)
    infer = tf.function(lambda x: block(x, padding_mask=MASK), jit_compile=jit)(X)
    assert infer.dtype == compute and block.attention.compute_dtype == compute
    np.testing.assert_allclose(np.asarray(tf.cast(infer, tf.float32))[VALID],
                               np.asarray(twin(X, padding_mask=MASK))[VALID], atol=0.1)


def test_custom_attention_class_trains_saves_and_reloads(tmp_path):
    block = TransformerEncoder(hidden_dim=16, num_heads=4, intermediate_dim=24, dropout=0.0,
                               attention_dropout=0.0, attention_cls=ScaledScoresAttention,
                               attention_kwargs={"score_scale": 0.5})
    assert isinstance(block.attention, ScaledScoresAttention) and block.attention.score_scale == 0.5
    block.build((None, None, 16))
    kernel = block.attention.qkv_dense.kernel
    kernel.assign(rng.normal(scale=0.5, size=kernel.shape))  # scores large enough to matter
    out = np.asarray(block(X, padding_mask=MASK))
    x64 = X.astype("float64")
    np.testing.assert_allclose(out[VALID], reference.encoder_block(block, x64, MASK, 0.5)[VALID],
                               atol=1e-4)
    assert not np.allclose(out[VALID], reference.encoder_block(block, x64, MASK)[VALID],
                           atol=1e-3)
    config = block.get_config()
    assert config["attention_cls"] == "keras_bert_kit_tests>ScaledScoresAttention"
    assert config["attention_kwargs"] == {"score_scale": 0.5}
    assert_config_round_trip(block)

    inputs = [keras.Input((None, 16)), keras.Input((None,), dtype="int32")]
    model = keras.Model(inputs, block(inputs[0], padding_mask=inputs[1]))
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss="mse")
    before = np.asarray(model([X, MASK]))
    model.train_on_batch([X, MASK], np.zeros_like(X))
    after = np.asarray(model([X, MASK]))
    assert not np.allclose(before, after)
    path = tmp_path / "custom_attention.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    np.testing.assert_array_equal(np.asarray(reloaded([X, MASK])), after)
    attention = reloaded.layers[-1].attention
    assert type(attention) is ScaledScoresAttention and attention.score_scale == 0.5


def test_unknown_attention_class_name_is_one_clear_error():
    config = TransformerEncoder(hidden_dim=16, num_heads=4, intermediate_dim=24).get_config()
    assert config["attention_cls"] == "keras_bert_kit>BertSelfAttention"
    with pytest.raises(ValueError, match="'NoSuchAttention' is not a registered Keras class"):
        TransformerEncoder(hidden_dim=16, num_heads=4, intermediate_dim=24,
                           attention_cls="NoSuchAttention")
    with pytest.raises(TypeError, match="not a registered Keras class"):  # Keras wraps it
        TransformerEncoder.from_config({**config, "attention_cls": "NoSuchAttention"})


def test_new_files_keep_attention_under_its_own_layer(tmp_path):
    """`.keras` weights: the attention's layers under `attention/`, each variable written once."""
    import zipfile

    import h5py

    block = TransformerEncoder(hidden_dim=16, num_heads=4, intermediate_dim=24)
    path = tmp_path / "block.keras"
    keras.Sequential([keras.Input((None, 16)), block]).save(path)
    with zipfile.ZipFile(path) as archive:
        archive.extract("model.weights.h5", tmp_path)
    names = []
    with h5py.File(tmp_path / "model.weights.h5") as f:
        f.visititems(lambda n, o: names.append(n) if isinstance(o, h5py.Dataset) else None)
    ours = sorted(n.split("transformer_encoder/", 1)[1] for n in names)
    assert ours == sorted([
        "attention/qkv_dense/vars/0", "attention/qkv_dense/vars/1",
        "attention/output_dense/vars/0", "attention/output_dense/vars/1",
        *(f"{layer}/vars/{i}" for layer in ("attention_layer_norm", "intermediate_dense",
                                            "output_dense", "output_layer_norm") for i in (0, 1))])
