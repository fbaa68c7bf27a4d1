"""Where a BERT-base pretraining step's time goes on this CPU (XLA), piece by piece.

    .venv/bin/python bench/probe_step_breakdown.py          # ~4 min on 2 cores
    .venv/bin/python bench/probe_step_breakdown.py --ab     # instead: last block at the masked
                                                            #   rows vs the full sequence,
                                                            #   BERT-base and L4/H256 (~8 min)
    .venv/bin/python bench/probe_step_breakdown.py --forward  # instead: the batch-1 forward
                                                              #   pass at s128, BERT-base and
                                                              #   MiniLM (~2 min)

Times, under `jit_compile=True`, forward + backward of each piece one encoder block is made of
(its four dense matmuls, the attention core, exact GELU) at BERT-base batch 8 x seq 128, scales
them to the 12 blocks, and puts them next to the whole `train_on_batch` step (`FusedAdam`, MLM + NSP) with
and without dropout and the float32 `tf.matmul` 2048² peak. The gap between the step and the sum
of its dense matmuls is what any implementation could still win at float32; `bench/run.py` is the
comparison with peers. `--forward` does the same for `bench/run.py`'s batch-1 `infer` case: the
pieces forward only at [128, ·] rows, against `BertBackbone`'s whole forward call. Prints one line
per measurement (p50 after warm-up).
"""

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "workers"))

from _common import SEED, pretraining_batch, random_batch  # noqa: E402 - the bench's inputs
from probe_xla_cpu import p50  # noqa: E402 - the same p50-after-warm-up timer

BATCH, SEQ, HIDDEN, HEADS, LAYERS, MASKS = 8, 128, 768, 12, 12, 20


def forward_only(fn, *args):
    """p50 seconds of fn's forward, under XLA, output to numpy."""
    compiled = tf.function(fn, jit_compile=True)
    return p50(lambda: compiled(*args).numpy(), steps=50)


def forward_backward(fn, *args):
    """p50 seconds of fn's forward + the gradient wrt its inputs (and variables), under XLA."""
    def step(*xs):
        with tf.GradientTape() as tape:
            tape.watch(xs)
            out = fn(*xs)
            loss = tf.reduce_sum(out * out)
        return tape.gradient(loss, list(xs) + list(tape.watched_variables()))
    compiled = tf.function(step, jit_compile=True)
    return p50(lambda: [g.numpy() for g in compiled(*args)])


def pretraining_inputs(layers, hidden, batch_size):
    """A BERT config (vocab 30522, 64-wide heads) and the bench's seeded MLM+NSP batch for it."""
    cfg = dict(vocabulary_size=30522, num_layers=layers, num_heads=hidden // 64,
               hidden_dim=hidden, intermediate_dim=4 * hidden, max_sequence_length=512)
    batch = pretraining_batch(cfg, batch_size, SEQ, MASKS)
    x = {k: batch[k] for k in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
    y = {"mlm": batch["mask_ids"], "nsp": batch["next_sentence_labels"]}
    w = {"mlm": batch["mask_weights"], "nsp": np.ones(batch_size, np.float32)}
    return cfg, x, y, w


def line(name, seconds, flops=None, per_step=None, layers=LAYERS):
    rate = f"  {flops / seconds / 1e9:6.0f} GFLOP/s" if flops else ""
    total = f"  x{layers} blocks: {per_step * 1e3:6.0f} ms" if per_step else ""
    print(f"{name:44s} {seconds * 1e3:8.1f} ms{rate}{total}", flush=True)


def peak():
    n = 2048
    a, b = tf.random.normal([n, n]), tf.random.normal([n, n])
    matmul = tf.function(tf.matmul)
    t = p50(lambda: matmul(a, b).numpy())
    line("tf.matmul 2048² float32 (graph): peak", t, 2 * n ** 3)


def attention_core(q, k, v):
    probs = tf.nn.softmax(tf.einsum("bqhd,bkhd->bhqk", q, k), axis=-1)
    return tf.einsum("bhqk,bkhd->bqhd", probs, v)


def forward_breakdown():
    """The pieces of the batch-1 seq-128 forward pass (BERT-base, MiniLM), against the whole
    `BertBackbone` call as the bench's `infer` task makes it."""
    from keras_bert_kit.models.bert_backbone import BertBackbone

    peak()
    for name, layers, hidden, heads in (("BERT-base", LAYERS, HIDDEN, HEADS),
                                        ("MiniLM", 6, 384, 12)):
        print(f"-- {name} (L{layers}/H{hidden}/A{heads}) seq {SEQ} batch 1, forward, XLA",
              flush=True)
        dense_total = 0.0
        for k, m in ((hidden, 3 * hidden), (hidden, hidden), (hidden, 4 * hidden),
                     (4 * hidden, hidden)):
            x = tf.random.normal([SEQ, k])
            w = tf.Variable(tf.random.normal([k, m]) * 0.02)
            t = forward_only(lambda x: tf.matmul(x, w), x)
            dense_total += t * layers
            line(f"dense {SEQ}x{k} @ {k}x{m}", t, 2 * SEQ * k * m, t * layers, layers)
        q, k, v = (tf.random.normal([1, SEQ, heads, hidden // heads]) for _ in range(3))
        t = forward_only(attention_core, q, k, v)
        line("attention core", t, 4 * SEQ * SEQ * hidden, t * layers, layers)
        inner = tf.random.normal([SEQ, 4 * hidden])
        t = forward_only(lambda x: 0.5 * x * (1.0 + tf.math.erf(x / np.sqrt(2.0))), inner)
        line(f"exact GELU [{SEQ}, {4 * hidden}]", t, None, t * layers, layers)
        print(f"{f'sum of the dense matmuls ({layers} blocks)':44s} {dense_total * 1e3:8.1f} ms",
              flush=True)
        cfg = dict(vocabulary_size=30522, num_layers=layers, num_heads=heads, hidden_dim=hidden,
                   intermediate_dim=4 * hidden, max_sequence_length=512)
        backbone = BertBackbone(**cfg)
        inputs = {k: tf.constant(v) for k, v in random_batch(cfg, 1, SEQ).items()}
        fn = tf.function(lambda x: backbone(x, training=False), jit_compile=True)
        t = p50(lambda: fn(inputs)["pooled_output"].numpy(), steps=50)
        line("BertBackbone forward (as bench infer)", t,
             (24 * layers * hidden ** 2 + 4 * layers * SEQ * hidden) * SEQ)


def main():
    peak()

    tokens = BATCH * SEQ
    dense_total = 0.0
    for k, m in ((HIDDEN, 3 * HIDDEN), (HIDDEN, HIDDEN), (HIDDEN, 4 * HIDDEN), (4 * HIDDEN, HIDDEN)):
        x = tf.random.normal([tokens, k])
        w = tf.Variable(tf.random.normal([k, m]) * 0.02)
        t = forward_backward(lambda x: tf.matmul(x, w), x)
        dense_total += t * LAYERS
        line(f"dense {tokens}x{k} @ {k}x{m} fwd+bwd", t, 3 * 2 * tokens * k * m, t * LAYERS)

    head_dim = HIDDEN // HEADS
    q, k, v = (tf.random.normal([BATCH, SEQ, HEADS, head_dim]) for _ in range(3))

    t = forward_backward(attention_core, q, k, v)
    line("attention core (scores, softmax, context)", t, 3 * 4 * BATCH * SEQ * SEQ * HIDDEN,
         t * LAYERS)

    inner = tf.random.normal([tokens, 4 * HIDDEN])
    t = forward_backward(lambda x: 0.5 * x * (1.0 + tf.math.erf(x / np.sqrt(2.0))), inner)
    line("exact GELU [1024, 3072]", t, None, t * LAYERS)
    print(f"{'sum of the dense matmuls (12 blocks)':44s} {dense_total * 1e3:8.1f} ms", flush=True)

    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.models.bert_pretrainer import BertPretrainer
    from keras_bert_kit.training.optimization import FusedAdam

    cfg, x, y, w = pretraining_inputs(LAYERS, HIDDEN, BATCH)
    for rate in (0.1, 0.0):
        keras.utils.set_random_seed(SEED)
        model = BertPretrainer(BertBackbone(**cfg, dropout=rate, attention_dropout=rate))
        model.compile(optimizer=FusedAdam(1e-4), jit_compile=True)  # as the bench's "ours"
        t = p50(lambda: model.train_on_batch(x, y, sample_weight=w), warmup=2, steps=6)
        line(f"BertPretrainer train step, dropout {rate}", t)


def full_sequence_pretrainer(model):
    """`model`'s layers wired the plain way: the whole last block, then the head gathers."""
    backbone = model.backbone
    inputs = dict(backbone.input)
    inputs["mask_positions"] = keras.Input(shape=(None,), dtype="int32", name="mask_positions")
    encoded = backbone({k: inputs[k] for k in ("token_ids", "segment_ids", "padding_mask")})
    mlm = model.masked_lm_head(encoded["sequence_output"], inputs["mask_positions"])
    nsp = model.next_sentence_head(encoded["pooled_output"])
    return keras.Model(inputs, {"mlm": keras.layers.Activation("linear", name="mlm")(mlm),
                                "nsp": keras.layers.Activation("linear", name="nsp")(nsp)})


def last_block_ab():
    """Train step p50 with the last block at [CLS] + masked rows (ours) vs the full sequence."""
    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.models.bert_pretrainer import BertPretrainer

    losses = {"mlm": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              "nsp": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}
    for layers, hidden, batch_size in ((LAYERS, HIDDEN, BATCH), (4, 256, 32)):
        cfg, x, y, w = pretraining_inputs(layers, hidden, batch_size)
        keras.utils.set_random_seed(SEED)
        ours = BertPretrainer(BertBackbone(**cfg))
        times = {}
        # Alternated, twice each, so drift on a shared machine hits both alike.
        for name in ("masked rows", "full sequence") * 2:
            model = ours if name == "masked rows" else full_sequence_pretrainer(ours)
            model.compile(optimizer=keras.optimizers.Adam(1e-4), loss=losses, jit_compile=True)
            t = p50(lambda: model.train_on_batch(x, y, sample_weight=w), warmup=2, steps=5)
            times.setdefault(name, []).append(t)
        a, b = min(times["masked rows"]), min(times["full sequence"])
        print(f"L{layers}/H{hidden} b{batch_size} train step: last block at masked rows "
              f"{a * 1e3:.0f} ms, full sequence {b * 1e3:.0f} ms -> {a / b:.3f}x", flush=True)


if __name__ == "__main__":
    if "--ab" in sys.argv:
        last_block_ab()
    elif "--forward" in sys.argv:
        forward_breakdown()
    else:
        main()
