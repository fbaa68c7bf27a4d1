"""Probes behind the CPU notes in README/bench: matmul dtypes, dropout bit generation, dropout's share.

    .venv/bin/python bench/probe_xla_cpu.py            # matmul + dropout, ~1 min
    .venv/bin/python bench/probe_xla_cpu.py --step     # + BERT-base pretrain step with and
                                                       #   without dropout, ~4 min

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


def steps():
    """BERT-base MLM+NSP train step (b8, s128, 20 masks, XLA) with and without dropout."""
    import _common as C

    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.models.bert_pretrainer import BertPretrainer

    cfg = dict(vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768,
               intermediate_dim=3072, max_sequence_length=512)
    b = C.pretraining_batch(cfg, 8, 128, 20)
    x = {k: b[k] for k in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
    y = {"mlm": b["mask_ids"], "nsp": b["next_sentence_labels"]}
    w = {"mlm": b["mask_weights"], "nsp": np.ones(8, np.float32)}
    for rate in (0.1, 0.0):
        keras.utils.set_random_seed(C.SEED)
        model = BertPretrainer(BertBackbone(**cfg, dropout=rate, attention_dropout=rate))
        model.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile=True)
        t = p50(lambda: model.train_on_batch(x, y, sample_weight=w), warmup=2, steps=8)
        print(f"pretrain step BERT-base b8 s128, dropout {rate}: {t:.2f} s", flush=True)
        keras.backend.clear_session()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--step", action="store_true", help="also time the pretraining step")
    args = parser.parse_args()
    matmuls()
    dropouts()
    if args.step:
        steps()


if __name__ == "__main__":
    main()
