"""Schedules and optimizer construction."""

import keras
import numpy as np
import pytest

from keras_bert_kit.training.optimization import WarmupPolynomialDecay, create_optimizer


def test_warmup_then_linear_decay():
    schedule = WarmupPolynomialDecay(1e-4, total_steps=1000, warmup_steps=100)
    values = [float(schedule(s)) for s in (0, 50, 100, 550, 1000, 2000)]
    np.testing.assert_allclose(values, [0, 5e-5, 1e-4, 5e-5, 0, 0], atol=1e-12)
    poly = WarmupPolynomialDecay(1e-4, total_steps=1000, warmup_steps=100, power=2.0)
    assert float(poly(550)) == pytest.approx(2.5e-5)
    assert WarmupPolynomialDecay.from_config(schedule.get_config()).get_config() == schedule.get_config()


def test_adamw_excludes_layer_norm_and_bias_from_decay():
    dense = keras.layers.Dense(2, name="dense")
    norm = keras.layers.LayerNormalization(name="layer_norm")
    model = keras.Sequential([keras.Input((3,)), dense, norm])
    for v in model.weights:
        v.assign(np.ones(v.shape))
    opt = create_optimizer(0.1, total_steps=10, warmup_steps=0, weight_decay=0.5, global_clipnorm=None)
    opt.build(model.trainable_variables)
    opt.apply_gradients([(np.zeros(v.shape, "float32"), v) for v in model.trainable_variables])
    first = lambda v: float(np.asarray(v).ravel()[0])  # noqa: E731
    assert first(dense.kernel) < 1.0  # decayed
    assert first(dense.bias) == 1.0
    assert first(norm.gamma) == 1.0 and first(norm.beta) == 1.0


def test_lamb_and_gradient_accumulation():
    opt = create_optimizer(1e-3, total_steps=100, optimizer="lamb", gradient_accumulation_steps=4)
    assert isinstance(opt, keras.optimizers.Lamb) and opt.gradient_accumulation_steps == 4
    with pytest.raises(ValueError, match="optimizer='sgd'"):
        create_optimizer(1e-3, total_steps=100, optimizer="sgd")


def test_learning_rate_multipliers_scale_each_variables_update():
    from keras_bert_kit.training.optimization import ScaledAdamW, layerwise_learning_rate_multipliers

    multipliers = layerwise_learning_rate_multipliers(2, layer_decay=0.5, head_multiplier=10.0)
    opt = create_optimizer(1e-2, total_steps=10, warmup_steps=0, weight_decay=0.0,
                           learning_rate_multipliers=multipliers)
    assert isinstance(opt, ScaledAdamW)
    layers = {name: keras.Variable(np.ones(3, "float32"), name=name.split("/")[-1])
              for name in ("transformer_layer_1/k", "transformer_layer_0/k", "embeddings/e",
                           "pooler/dense", "logits/kernel")}
    for name, variable in layers.items():
        variable._path = name  # paths as a built model gives them
    opt.apply([np.full(3, 0.5, "float32")] * len(layers), list(layers.values()))
    # Adam's first step moves each variable by its rate (the gradient's sign times lr).
    moved = {name: float(1.0 - v.numpy()[0]) for name, v in layers.items()}
    expected = {"transformer_layer_1/k": 0.5, "transformer_layer_0/k": 0.25, "embeddings/e": 0.125,
                "pooler/dense": 1.0, "logits/kernel": 10.0}
    for name, factor in expected.items():
        np.testing.assert_allclose(moved[name], 1e-2 * factor, rtol=1e-3, err_msg=name)
    restored = ScaledAdamW.from_config(opt.get_config())
    assert restored.learning_rate_multipliers == multipliers


def test_learning_rate_multipliers_need_adamw():
    with pytest.raises(ValueError, match="need optimizer='adamw'"):
        create_optimizer(1e-3, 10, optimizer="lamb", learning_rate_multipliers={"x": 2.0})


@pytest.mark.parametrize("jit", [False, True])
def test_fused_adam_and_adamw_match_keras(jit):
    """The one-kernel update gives Keras' Adam/AdamW weights and moments over several steps."""
    import tensorflow as tf

    from keras_bert_kit.training.optimization import FusedAdam, ScaledAdamW

    rng = np.random.default_rng(0)
    grads = [[rng.normal(size=s).astype("float32") for s in ((4, 3), (3,))] for _ in range(4)]
    pairs = [(FusedAdam(1e-2, epsilon=1e-6), keras.optimizers.Adam(1e-2, epsilon=1e-6)),
             (ScaledAdamW(learning_rate=1e-2, weight_decay=0.1),
              keras.optimizers.AdamW(1e-2, weight_decay=0.1))]
    for fused, reference in pairs:
        results = []
        for opt in (fused, reference):
            weights = [keras.Variable(np.ones(s, "float32")) for s in ((4, 3), (3,))]
            opt.build(weights)

            def step(g, opt=opt, weights=weights):
                opt.apply(g, weights)
            apply = tf.function(lambda g: step(g), jit_compile=jit)
            for g in grads:
                apply([tf.constant(x) for x in g])
            results.append([w.numpy() for w in weights + opt._momentums + opt._velocities])
        assert not np.allclose(results[0][0], 1.0)
        for a, b in zip(*results):
            np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7)
