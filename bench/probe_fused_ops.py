"""What the fused training kernels (`keras_bert_kit.layers.dropout_kernels`) and `FusedAdam` buy, on this CPU.

    .venv/bin/python bench/probe_fused_ops.py          # each kernel vs the plain ops, ~1 min
    .venv/bin/python bench/probe_fused_ops.py --step   # + pretrain steps, fused on/off, ~10 min

Kernels: forward + backward at BERT-base batch 8 x seq 128 shapes, bfloat16 tensors in a plain
`tf.function` (the path that uses them). The plain ops get the same fixed dropout seed and are
asked only for the inputs' gradients; the fused LayerNorm kernel also returns gamma's and beta's.
`--step`: BERT-base `BertPretrainer` `train_on_batch` (b8, s128, 20 masks) under `mixed_bfloat16`
without XLA, with the fused kernels off and on and with Keras' `Adam` vs `FusedAdam`; then
float32 under `jit_compile=True` (BERT-base and L4/H256 b32) with the kernels forced on vs off
(the layers leave them off there) and with `FusedAdam`. The variants alternate, two rounds
each, so a machine that drifts hits them alike; each line is the better round's p50.
Not a comparison with peers (that is `bench/run.py`).
"""

import argparse
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "workers"))

from probe_xla_cpu import p50  # noqa: E402 - the same p50-after-warm-up timer

from keras_bert_kit.layers import dropout_kernels as fused_ops  # noqa: E402
from keras_bert_kit.layers.dropout_kernels import hash_dropout  # noqa: E402

B, S, D, H = 8, 128, 768, 12
BF16 = tf.bfloat16


def forward_backward(fn, *args):
    def step(*xs):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            out = fn(*xs)
        return tape.gradient(out, xs, output_gradients=tf.ones_like(out))
    compiled = tf.function(step)
    return p50(lambda: [g.numpy() for g in compiled(*args)], warmup=3, steps=20)


def kernels():
    seed = tf.constant([1, 2])
    keras.config.set_dtype_policy("mixed_bfloat16")
    norm = keras.layers.LayerNormalization(epsilon=1e-12)
    norm.build((None, None, D))
    keras.config.set_dtype_policy("float32")
    hidden = tf.cast(tf.random.normal([B, S, D]), BF16)
    residual = tf.cast(tf.random.normal([B, S, D]), BF16)
    inner = tf.cast(tf.random.normal([B * S, 4 * D]), BF16)
    scores = tf.cast(tf.random.normal([B, H, S, S]), BF16)
    bias = tf.zeros([B, 1, 1, S])

    def drop(x):  # the plain ops, with the same fixed seed the fused kernels get
        return hash_dropout(x, seed, 0.1)

    cases = [
        ("exact GELU [1024, 3072]",
         lambda x: keras.activations.gelu(x, approximate=False), fused_ops.gelu_exact, [inner]),
        ("dropout + residual + LayerNorm [8, 128, 768]",
         lambda x, r: norm(r + drop(x)),
         lambda x, r: fused_ops.dropout_add_layer_norm(x, r, norm.gamma, norm.beta, 1e-12,
                                                       seed, 0.1), [hidden, residual]),
        ("softmax + dropout [8, 12, 128, 128]",
         lambda s: drop(tf.cast(tf.nn.softmax(tf.cast(s, tf.float32) + bias), BF16)),
         lambda s: fused_ops.softmax_dropout(s, bias, BF16, seed, 0.1), [scores]),
        ("dropout [8, 12, 128, 128]", drop,
         lambda x: fused_ops.dropout(x, seed, 0.1), [scores]),
    ]
    for name, plain, fused, args in cases:
        a, b = forward_backward(plain, *args), forward_backward(fused, *args)
        print(f"{name:46s} fwd+bwd bf16: plain ops {a * 1e3:6.2f} ms, fused {b * 1e3:6.2f} ms "
              f"-> {b / a:.2f}x", flush=True)


def steps():
    import _common as C

    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.models.bert_pretrainer import BertPretrainer
    from keras_bert_kit.training.optimization import FusedAdam

    def batch(layers, hidden, batch_size):
        cfg = dict(vocabulary_size=30522, num_layers=layers, num_heads=hidden // 64,
                   hidden_dim=hidden, intermediate_dim=4 * hidden, max_sequence_length=512)
        b = C.pretraining_batch(cfg, batch_size, 128, 20)
        x = {k: b[k] for k in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
        y = {"mlm": b["mask_ids"], "nsp": b["next_sentence_labels"]}
        w = {"mlm": b["mask_weights"], "nsp": np.ones(batch_size, np.float32)}
        return cfg, (x, y, w)

    real_use_fused = fused_ops.use_fused
    switches = {"off": lambda training: False, "on": real_use_fused,
                "forced on": lambda training: bool(training)}

    def compare(title, policy, jit, shape, variants):
        cfg, (x, y, w) = batch(*shape)
        models = {}
        for name, (switch, optimizer) in variants.items():
            keras.utils.set_random_seed(C.SEED)
            keras.config.set_dtype_policy(policy)
            model = BertPretrainer(BertBackbone(**cfg))
            keras.config.set_dtype_policy("float32")
            model.compile(optimizer=optimizer(1e-4), jit_compile=jit)
            models[name] = (switch, model)
        best = {}
        for _ in range(2):
            for name, (switch, model) in models.items():
                # Tracing happens in the first calls, under this variant's switch.
                fused_ops.use_fused = switches[switch]
                t = p50(lambda: model.train_on_batch(x, y, sample_weight=w), warmup=2, steps=6)
                best[name] = min(best.get(name, t), t)
        fused_ops.use_fused = real_use_fused
        first = next(iter(best.values()))
        for name, t in best.items():
            print(f"{title}, {name:34s}: {t:.3f} s  ({t / first:.2f}x)", flush=True)
        keras.backend.clear_session()

    adam = keras.optimizers.Adam
    compare("BERT-base b8 mixed_bfloat16 graph", "mixed_bfloat16", False, (12, 768, 8),
            {"plain ops, keras Adam": ("off", adam), "fused kernels, keras Adam": ("on", adam),
             "fused kernels, FusedAdam": ("on", FusedAdam)})
    for shape in ((12, 768, 8), (4, 256, 32)):
        compare(f"L{shape[0]}/H{shape[1]} b{shape[2]} float32 XLA", "float32", True, shape,
                {"plain ops (what layers do)": ("off", adam),
                 "fused kernels forced on": ("forced on", adam),
                 "plain ops, FusedAdam": ("off", FusedAdam)})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", action="store_true", help="also time whole pretrain steps")
    args = parser.parse_args()
    kernels()
    if args.step:
        steps()


if __name__ == "__main__":
    main()
