"""Ours vs keras-hub in one process, alternated block by block: ratios that survive a noisy box.

    .venv/bin/python bench/ab_peers.py                        # infer bs1 + pretrain_step, ~15 min
    .venv/bin/python bench/ab_peers.py --tasks infer --configs minilm --rounds 8

`bench/run.py` gives each implementation its own process per round; on a shared 2-core VM the
machine's speed can drift by 10-20 % between those processes, which is the size of the ratios in
question. Here both models live in one process and take turns: each round runs a block of steps
of each, in A-B order on even rounds and B-A on odd ones, so drift lands on both alike. Reported:
each one's p50 over all its steps, the ratio of those, and the ratio of every round's pair of
block medians (median, min, max). Same inputs, configs and compile settings as `bench/run.py`'s
`infer` (forward, `training=False`, XLA) and `pretrain_step` (`train_on_batch`, XLA; ours
`BertPretrainer` MLM+NSP with `FusedAdam`, keras-hub `BertMaskedLM`, MLM only, with Keras' Adam).
"""

import argparse
import json
import os
import statistics
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.pop("TF_USE_LEGACY_KERAS", None)

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "workers"))

import numpy as np  # noqa: E402

import _common as C  # noqa: E402 - the bench's seeded inputs

CONFIGS = {  # name: (layers, hidden, heads); vocab 30522, intermediate 4·hidden, as bench/run.py
    "bert_base": (12, 768, 12), "minilm": (6, 384, 12), "small": (4, 256, 4)}
INFER = {"bert_base": 1, "minilm": 1}  # batch
PRETRAIN = {"bert_base": 8, "small": 32}  # batch; seq 128, 20 masked positions


def config(name):
    layers, hidden, heads = CONFIGS[name]
    return dict(vocabulary_size=30522, num_layers=layers, num_heads=heads, hidden_dim=hidden,
                intermediate_dim=4 * hidden, max_sequence_length=512)


STEPS = {"infer": {"bert_base": 10, "minilm": 40},  # per block: ~2 s of each at a time
         "pretrain_step": {"bert_base": 2, "small": 4}}


def infer_fns(name):
    """{impl: a function running one forward call to numpy}, ours and keras-hub's backbones."""
    import keras_hub
    import tensorflow as tf

    from keras_bert_kit.models.bert_backbone import BertBackbone

    cfg = config(name)
    x = {k: tf.constant(v) for k, v in C.random_batch(cfg, INFER[name], 128).items()}
    fns = {}
    for impl, backbone in (("ours", BertBackbone(**cfg)),
                           ("keras-hub", keras_hub.models.BertBackbone(**cfg))):
        fn = tf.function(lambda x, b=backbone: b(x, training=False), jit_compile=True)
        fns[impl] = lambda fn=fn: fn(x)["pooled_output"].numpy()
    return fns


def pretrain_fns(name):
    """{impl: a function running one `train_on_batch`}, as `bench/run.py`'s workers build them."""
    import keras
    import keras_hub

    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.models.bert_pretrainer import BertPretrainer
    from keras_bert_kit.training.optimization import FusedAdam

    cfg = config(name)
    batch = PRETRAIN[name]
    b = C.pretraining_batch(cfg, batch, 128, 20)
    x = {k: b[k] for k in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
    keras.utils.set_random_seed(C.SEED)
    ours = BertPretrainer(BertBackbone(**cfg))
    ours.compile(optimizer=FusedAdam(1e-4), jit_compile=True)
    keras.utils.set_random_seed(C.SEED)
    kh = keras_hub.models.BertMaskedLM(keras_hub.models.BertBackbone(**cfg), preprocessor=None)
    kh.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile=True)
    y = {"mlm": b["mask_ids"], "nsp": b["next_sentence_labels"]}
    sw = {"mlm": b["mask_weights"], "nsp": np.ones(batch, np.float32)}
    return {"ours": lambda: ours.train_on_batch(x, y, sample_weight=sw),
            "keras-hub": lambda: kh.train_on_batch(x, b["mask_ids"],
                                                   sample_weight=b["mask_weights"])}


def alternate(fns, rounds, steps, warmup=3):
    """Per-step seconds of each function, in blocks of `steps`, alternating A-B / B-A."""
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    times = {impl: [] for impl in fns}
    blocks = {impl: [] for impl in fns}
    order = list(fns)
    for r in range(rounds):
        for impl in (order if r % 2 == 0 else order[::-1]):
            block = []
            for _ in range(steps):
                t0 = time.perf_counter()
                fns[impl]()
                block.append(time.perf_counter() - t0)
            times[impl].extend(block)
            blocks[impl].append(statistics.median(block))
    return times, blocks


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tasks", default="infer,pretrain_step")
    parser.add_argument("--configs", default=None,
                        help="comma list (default: bert_base,minilm for infer; bert_base,small "
                             "for pretrain_step)")
    parser.add_argument("--rounds", type=int, default=6)
    parser.add_argument("--json", help="also write the figures and raw times here")
    args = parser.parse_args(argv)
    results = []
    for task in args.tasks.split(","):
        names = args.configs.split(",") if args.configs else list(
            INFER if task == "infer" else PRETRAIN)
        for name in names:
            if name not in (INFER if task == "infer" else PRETRAIN):
                continue
            fns = (infer_fns if task == "infer" else pretrain_fns)(name)
            times, blocks = alternate(fns, args.rounds, STEPS[task][name])
            p50 = {impl: statistics.median(t) for impl, t in times.items()}
            paired = [o / k for o, k in zip(blocks["ours"], blocks["keras-hub"])]
            results.append(dict(task=task, config=name, p50_s=p50,
                                ratio=p50["ours"] / p50["keras-hub"],
                                paired_ratio=dict(median=statistics.median(paired),
                                                  min=min(paired), max=max(paired)),
                                rounds=args.rounds, times=times))
            unit, scale = ("ms", 1e3) if task == "infer" else ("s", 1)
            print(f"{task} {name}: ours {p50['ours'] * scale:.4g} {unit}, keras-hub "
                  f"{p50['keras-hub'] * scale:.4g} {unit} -> {p50['ours'] / p50['keras-hub']:.3f}x "
                  f"(per-round pairs: median {statistics.median(paired):.3f}, "
                  f"{min(paired):.3f}-{max(paired):.3f}; {args.rounds} rounds)", flush=True)
            del fns
    if args.json:
        with open(args.json, "w", encoding="utf-8") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
