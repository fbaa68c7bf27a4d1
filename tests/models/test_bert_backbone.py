"""BertBackbone: presets, config, `.keras` round trip, mixed precision, XLA and strategy scope."""

import inspect

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.config import PRESETS, BertConfig
from tests.helpers import TINY, max_abs_diff_valid, random_inputs


def test_presets_cover_the_standard_architectures():
    expected = {"bert_tiny_uncased": (2, 128), "bert_mini_uncased": (4, 256),
                "bert_small_uncased": (4, 512), "bert_medium_uncased": (8, 512),
                "bert_base_uncased": (12, 768), "bert_base_cased": (12, 768),
                "bert_large_uncased": (24, 1024), "bert_base_chinese": (12, 768),
                "bert_base_multilingual_cased": (12, 768)}
    for name, (layers, hidden) in expected.items():
        config = BertConfig.from_preset(name)
        assert (config.num_layers, config.hidden_dim) == (layers, hidden), name
    assert BertConfig.from_preset("bert_base_chinese").vocabulary_size == 21128
    assert BertConfig.from_preset("bert_large_uncased").num_heads == 16
    with pytest.raises(ValueError, match="Unknown preset 'bert_huge'"):
        BertConfig.from_preset("bert_huge")


def test_base_preset_has_the_published_parameter_count():
    backbone = BertBackbone.from_preset("bert_base_uncased")
    assert backbone.count_params() == 109_482_240  # HF bert-base-uncased BertModel


def test_from_hf_config_maps_every_field(minilm_path):
    config = BertConfig.from_hf_config(minilm_path)
    assert config == BertConfig(vocabulary_size=30522, num_layers=6, num_heads=12, hidden_dim=384,
                                intermediate_dim=1536, hidden_act="gelu", dropout=0.1,
                                attention_dropout=0.1, max_sequence_length=512, num_segments=2,
                                layer_norm_epsilon=1e-12, initializer_range=0.02)
    assert BertConfig.from_hf_dict(config.to_hf_dict()) == config


def test_get_config_mirrors_constructor():
    backbone = BertBackbone(**TINY)
    params = set(inspect.signature(BertBackbone.__init__).parameters) - {"self", "kwargs"}
    assert params <= set(backbone.get_config())
    clone = BertBackbone.from_config(backbone.get_config())
    assert clone.get_config() == backbone.get_config()


def test_keras_round_trip_is_exact(tmp_path):
    backbone = BertBackbone(**TINY)
    inputs = random_inputs()
    path = str(tmp_path / "backbone.keras")
    backbone.save(path)
    reloaded = keras.saving.load_model(path)
    assert isinstance(reloaded, BertBackbone)
    for key in ("sequence_output", "pooled_output"):
        np.testing.assert_array_equal(np.asarray(reloaded(inputs)[key]), np.asarray(backbone(inputs)[key]))


def test_sequence_length_may_vary_per_call():
    backbone = BertBackbone(**TINY)
    for seq in (5, 17, 64):
        assert backbone(random_inputs(seq=seq))["sequence_output"].shape == (3, seq, 32)


@pytest.mark.parametrize("policy", ["mixed_bfloat16", "mixed_float16"])
def test_mixed_precision_tracks_float32(policy):
    reference = BertBackbone(**TINY)
    mixed = BertBackbone(**TINY, dtype=policy)
    mixed.set_weights(reference.get_weights())
    assert all(w.dtype == "float32" for w in mixed.weights)
    inputs = random_inputs()
    out = mixed(inputs)
    assert out["sequence_output"].dtype == policy.split("_")[1]
    diff = max_abs_diff_valid(out["sequence_output"], reference(inputs)["sequence_output"],
                              inputs["padding_mask"])
    assert diff < (0.1 if policy == "mixed_bfloat16" else 0.02)


@pytest.mark.parametrize("policy", ["bfloat16", "mixed_bfloat16"])
def test_a_backbone_dtype_survives_its_config_and_a_keras_file(policy, tmp_path):
    """`BertBackbone(dtype=...)` (not the global policy) comes back from `.keras` as it was."""
    backbone = BertBackbone(**TINY, dtype=policy)
    assert keras.dtype_policies.get(backbone.get_config()["dtype"]).name == policy
    backbone.save(tmp_path / "b.keras")
    reloaded = keras.saving.load_model(tmp_path / "b.keras")
    assert reloaded.embeddings.dtype_policy.name == policy
    assert [w.dtype for w in reloaded.weights] == [w.dtype for w in backbone.weights]
    inputs = random_inputs()
    np.testing.assert_array_equal(np.asarray(reloaded(inputs)["sequence_output"], np.float32),
                                  np.asarray(backbone(inputs)["sequence_output"], np.float32))


def test_jit_compile_matches_eager():
    backbone = BertBackbone(**TINY)
    inputs = random_inputs()
    compiled = tf.function(lambda x: backbone(x), jit_compile=True)
    assert max_abs_diff_valid(compiled(inputs)["sequence_output"], backbone(inputs)["sequence_output"],
                              inputs["padding_mask"]) < 1e-5


def test_fit_with_jit_compile_under_mirrored_strategy():
    strategy = tf.distribute.MirroredStrategy(["/cpu:0"])
    with strategy.scope():
        backbone = BertBackbone(**TINY)
        inputs = keras.Input(shape=(None,), dtype="int32", name="token_ids")
        segments = keras.ops.zeros_like(inputs)
        pooled = backbone({"token_ids": inputs, "segment_ids": segments,
                           "padding_mask": keras.ops.ones_like(inputs)})["pooled_output"]
        model = keras.Model(inputs, keras.layers.Dense(2)(pooled))
        model.compile(optimizer="adam", jit_compile=True,
                      loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    x = random_inputs(batch=8, seq=12, pad_last=False)["token_ids"]
    history = model.fit(x, np.arange(8) % 2, epochs=3, batch_size=4, verbose=0)
    assert history.history["loss"][-1] < history.history["loss"][0]


def test_query_positions_return_those_rows_and_the_same_pooled_output():
    backbone = BertBackbone(**TINY)
    x = random_inputs(batch=3, seq=11)
    positions = np.array([[1, 2], [10, 0], [4, 4]], "int32")
    full = backbone(x)
    rows = backbone(x, query_positions=positions)
    assert rows["sequence_output"].shape == (3, 2, TINY["hidden_dim"])
    np.testing.assert_allclose(
        np.asarray(rows["sequence_output"]),
        np.take_along_axis(np.asarray(full["sequence_output"]), positions[..., None], axis=1),
        atol=1e-5)
    np.testing.assert_allclose(np.asarray(rows["pooled_output"]),
                               np.asarray(full["pooled_output"]), atol=1e-6)


@pytest.mark.parametrize("positions", [np.array([1, 2], "int32"), np.ones((1, 2, 1), "int32")])
def test_bad_query_positions_are_one_clear_error(positions):
    backbone = BertBackbone(**TINY)
    with pytest.raises(ValueError, match=r"query_positions must be \[batch, num_positions\] integer"):
        backbone(random_inputs(batch=1, seq=11), query_positions=positions)


def test_an_attention_variant_is_one_class_passed_to_the_backbone(tmp_path):
    """A new attention (one subclass, no other file touched) runs in every block, changes the
    outputs as it should, keeps the checkpoint weights, and round-trips through `.keras`."""
    from tests.layers.test_attention import ScaledScoresAttention

    from keras_bert_kit.training.saving import load_model

    ids = np.array([[101, 7592, 2088, 102, 0]])
    inputs = {"token_ids": ids, "segment_ids": 0 * ids, "padding_mask": (ids != 0).astype("int32")}
    plain = BertBackbone.from_preset("bert_tiny_uncased", dropout=0.0, attention_dropout=0.0)
    variant = BertBackbone.from_preset("bert_tiny_uncased", dropout=0.0, attention_dropout=0.0,
                                       attention_cls=ScaledScoresAttention,
                                       attention_kwargs={"score_scale": 0.5})
    assert all(type(block.attention) is ScaledScoresAttention
               for block in variant.transformer_layers)
    assert [v.shape for v in variant.weights] == [v.shape for v in plain.weights]
    variant.set_weights(plain.get_weights())
    # Scale 1 is the plain model; 0.5 flattens the attention, so the outputs move.
    for block in variant.transformer_layers:
        block.attention.score_scale = 1.0
    np.testing.assert_allclose(variant(inputs)["sequence_output"], plain(inputs)["sequence_output"],
                               atol=1e-6)
    for block in variant.transformer_layers:
        block.attention.score_scale = 0.5
    out = np.asarray(variant(inputs)["sequence_output"])
    assert np.abs(out - np.asarray(plain(inputs)["sequence_output"])).max() > 1e-3

    variant.save(tmp_path / "variant.keras")
    reloaded = load_model(tmp_path / "variant.keras")
    assert reloaded.get_config()["attention_cls"] == "keras_bert_kit_tests>ScaledScoresAttention"
    np.testing.assert_array_equal(np.asarray(reloaded(inputs)["sequence_output"]), out)
    assert plain.get_config()["attention_cls"] is None
