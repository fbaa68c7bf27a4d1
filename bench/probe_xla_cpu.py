"""Probes behind the CPU notes in README/bench: matmul dtypes, dropout bits, QKV split, MLM head.

    .venv/bin/python bench/probe_xla_cpu.py              # matmul + dropout + QKV split + the
                                                         #   tied MLM projection, ~2 min
    .venv/bin/python bench/probe_xla_cpu.py --step       # + BERT-base pretrain step with and
                                                         #   without dropout, ~4 min
    .venv/bin/python bench/probe_xla_cpu.py --bf16-step  # + BERT-base pretrain step: float32
                                                         #   XLA, bfloat16 graph, bfloat16 XLA

Prints one line per measurement (p50 over repeated calls, after warm-up). Not a comparison with
peers (that is `bench/run.py`): these explain where our own time goes.
"""

import argparse
import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "workers"))

from keras_bert_kit.layers.hash_dropout import HashDropout  # noqa: E402


def p50(fn, warmup=3, steps=20):
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(steps):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return float(np.median(times))


def matmuls(n=2048):
    for dtype in (tf.float32, tf.bfloat16):
        a = tf.cast(tf.random.normal([n, n]), dtype)
        b = tf.cast(tf.random.normal([n, n]), dtype)
        for jit in (False, True):
            fn = tf.function(tf.matmul, jit_compile=jit)
            t = p50(lambda: fn(a, b).numpy())
            print(f"matmul {n}² {dtype.name:8s} {'xla' if jit else 'graph':5s}: "
                  f"{t * 1e3:7.1f} ms  {2 * n ** 3 / t / 1e9:6.0f} GFLOP/s", flush=True)


def dropouts(shape=(8, 12, 128, 128)):
    """Dropout on a BERT-base attention-probability tensor (batch 8, seq 128)."""
    x = tf.random.normal(shape)
    n = x.shape.num_elements()
    for name, layer in (("keras.layers.Dropout", keras.layers.Dropout(0.1, seed=1)),
                        ("HashDropout", HashDropout(0.1, seed=1))):
        for jit in (False, True):
            fn = tf.function(lambda t: layer(t, training=True), jit_compile=jit)
            t = p50(lambda: fn(x).numpy())
            print(f"dropout {name:20s} {'xla' if jit else 'graph':5s}: {t * 1e3:7.2f} ms  "
                  f"{t / n * 1e9:6.2f} ns/element", flush=True)


def qkv_split(batch=8, seq=128, hidden=768, heads=12):
    """Forward + backward of taking Q, K, V out of the fused `[batch, seq, 3·hidden]` projection.

    `TransformerEncoder` splits along the last axis (gradient: one concat); the alternative,
    slicing a `[batch, seq, 3, heads, head_dim]` view, has a gradient of three zero-padded
    full-size copies summed. XLA fuses either; a plain `tf.function` (bfloat16 on CPU) does not.
    """
    def by_split(qkv):
        return tf.split(qkv, 3, axis=-1)

    def by_slice(qkv):
        view = tf.reshape(qkv, [batch, seq, 3, heads, hidden // heads])
        return [view[:, :, i] for i in range(3)]

    for dtype, jit in ((tf.bfloat16, False), (tf.float32, True)):
        qkv = tf.cast(tf.random.normal([batch, seq, 3 * hidden]), dtype)
        for name, take in (("split", by_split), ("5-D slice", by_slice)):
            def step(x, take=take):
                with tf.GradientTape() as tape:
                    tape.watch(x)
                    loss = sum(tf.reduce_sum(tf.cast(t, tf.float32) ** 2) for t in take(x))
                return tape.gradient(loss, x)
            fn = tf.function(step, jit_compile=jit)
            t = p50(lambda: fn(qkv).numpy())
            print(f"QKV {name:9s} fwd+bwd {dtype.name:8s} {'xla' if jit else 'graph':5s}: "
                  f"{t * 1e3:7.2f} ms", flush=True)


def mlm_head(vocab=30522):
    """Forward + backward of the tied MLM projection `x · embeddingsᵀ` + cross-entropy.

    `MaskedLMHead` multiplies by a transpose of the table; `einsum("bmh,vh->bmv")` is the same
    product, but under XLA:CPU its gradient for the table contracts over two axes (b and m) and
    misses the fast GEMM.
    """
    rng = np.random.default_rng(0)
    for batch, hidden in ((8, 768), (32, 256)):  # BERT-base b8 and L4/H256 b32, 20 masks each
        ids = tf.constant(rng.integers(0, vocab, (batch, 20)), tf.int32)
        for dtype, jit in ((tf.float32, True), (tf.bfloat16, False)):
            x = tf.Variable(tf.cast(rng.standard_normal((batch, 20, hidden)), dtype))
            table = tf.Variable(tf.cast(rng.standard_normal((vocab, hidden)) * 0.02, dtype))
            for name, project in (
                    ("matmul(x, transpose(E))",
                     lambda: keras.ops.matmul(x, keras.ops.transpose(table))),
                    ("einsum bmh,vh->bmv", lambda: keras.ops.einsum("bmh,vh->bmv", x, table))):
                def step(project=project):
                    with tf.GradientTape() as tape:
                        logits = tf.cast(project(), tf.float32)
                        loss = tf.reduce_mean(
                            tf.nn.sparse_softmax_cross_entropy_with_logits(ids, logits))
                    grads = tape.gradient(loss, [x, table])
                    return sum(tf.reduce_sum(tf.cast(g, tf.float32)) for g in grads)
                fn = tf.function(step, jit_compile=jit)
                t = p50(lambda: fn().numpy(), steps=10)
                print(f"MLM projection b{batch} m20 h{hidden} fwd+bwd {name:24s} "
                      f"{dtype.name:8s} {'xla' if jit else 'graph':5s}: {t * 1e3:7.1f} ms",
                      flush=True)


STEP_VARIANTS = {"dropout 0.1, float32, XLA": ("float32", True, 0.1),
                 "dropout 0.0, float32, XLA": ("float32", True, 0.0),
                 "bfloat16, graph": ("mixed_bfloat16", False, 0.1),
                 "bfloat16, XLA": ("mixed_bfloat16", True, 0.1)}


def steps(names):
    """BERT-base MLM+NSP train step (b8, s128, 20 masks) of each `STEP_VARIANTS` name."""
    import _common as C

    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.models.bert_pretrainer import BertPretrainer

    cfg = dict(vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768,
               intermediate_dim=3072, max_sequence_length=512)
    b = C.pretraining_batch(cfg, 8, 128, 20)
    x = {k: b[k] for k in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
    y = {"mlm": b["mask_ids"], "nsp": b["next_sentence_labels"]}
    w = {"mlm": b["mask_weights"], "nsp": np.ones(8, np.float32)}
    for name in names:
        policy, jit, rate = STEP_VARIANTS[name]
        keras.utils.set_random_seed(C.SEED)
        keras.config.set_dtype_policy(policy)
        model = BertPretrainer(BertBackbone(**cfg, dropout=rate, attention_dropout=rate))
        keras.config.set_dtype_policy("float32")
        model.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile=jit)
        t = p50(lambda: model.train_on_batch(x, y, sample_weight=w), warmup=2, steps=8)
        print(f"pretrain step BERT-base b8 s128, {name}: {t:.2f} s", flush=True)
        keras.backend.clear_session()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", action="store_true",
                        help="also time the pretraining step with and without dropout")
    parser.add_argument("--bf16-step", action="store_true",
                        help="also time the pretraining step in float32 XLA and bfloat16 "
                             "without / with XLA")
    args = parser.parse_args()
    matmuls()
    dropouts()
    qkv_split()
    mlm_head()
    names = list(STEP_VARIANTS)
    chosen = (names[:2] if args.step else []) + (names[::2] + names[3:] if args.bf16_step else [])
    if chosen:
        steps(list(dict.fromkeys(chosen)))


if __name__ == "__main__":
    main()
