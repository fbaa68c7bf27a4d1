"""Shared helpers of the benchmark workers: spec/result files, inputs, the timing loop.

Every worker is a script run in its own process by `bench/run.py`:

    python bench/workers/<impl>.py --spec SPEC.json --out RESULT.json

The spec says which task to run, its cases (configs), the timing budget and where the data is.
The worker writes one result file: `{"impl", "task", "records": [...], "info": {...}}`, where each
record is `{"case", "variant", "times": [seconds per step...], "warmup": [...], "extra": {...}}`
or `{"case", "variant", "error": "..."}` when that case could not run.

This module imports only the standard library and numpy, so the `tokenizers`-only worker stays
free of TensorFlow.
"""

import argparse
import contextlib
import json
import os
import sys
import time
import traceback

import numpy as np

SEED = 1234


def parse_args():
    parser = argparse.ArgumentParser()
    parser.add_argument("--spec", required=True)
    parser.add_argument("--out", required=True)
    args = parser.parse_args()
    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)
    return spec, args.out


class Recorder:
    """Collects the records of one task of a worker run."""

    def __init__(self, impl, spec):
        self.impl = impl
        self.spec = spec
        self.records = []
        self.info = {"pid": os.getpid(), "python": sys.version.split()[0]}

    def add(self, case, variant, warmup, times, **extra):
        self.records.append({"case": case, "variant": variant, "warmup": warmup, "times": times,
                             "extra": extra})
        p50 = float(np.median(times)) if times else float("nan")
        print(f"  [{self.impl}] {self.spec['task']} {case} {variant}: p50 {p50 * 1e3:.2f} ms "
              f"over {len(times)} steps (warm-up {', '.join(f'{w * 1e3:.0f}' for w in warmup)} ms)",
              flush=True)

    def error(self, case, variant, exc):
        msg = f"{type(exc).__name__}: {exc}"
        self.records.append({"case": case, "variant": variant, "error": msg[:2000]})
        print(f"  [{self.impl}] {self.spec['task']} {case} {variant}: FAILED {msg[:300]}",
              file=sys.stderr, flush=True)
        traceback.print_exc()

    def result(self):
        return {"impl": self.impl, "task": self.spec["task"], "records": self.records,
                "info": self.info}


def worker_main(impl, tasks, setup=None):
    """Runs the task spec (or list of task specs) given by `--spec`; writes a list of results.

    `setup(recorder_info)` runs first (e.g. thread settings that must precede any TF op). The
    results file is written even when a task crashes, with the error recorded.
    """
    specs, out = parse_args()
    specs = [specs] if isinstance(specs, dict) else specs
    recorders = []
    try:
        info = {}
        if setup:
            setup(info)
        for spec in specs:
            rec = Recorder(impl, spec)
            rec.info.update(info)
            recorders.append(rec)
            try:
                tasks[spec["task"]](rec, spec)
            except Exception as exc:  # noqa: BLE001 - record it, go on with the next task
                rec.error("*", "*", exc)
    finally:
        with open(out, "w", encoding="utf-8") as f:
            json.dump([r.result() for r in recorders], f, indent=1)


def time_steps(fn, timing, warmup=None):
    """Calls `fn` `warmup` times (compile/trace, discarded), then times it.

    Measures at least `min_steps` calls, then more until `budget_s` seconds are spent or
    `max_steps` calls are done. `fn` must block until its result exists (return numpy).

    Returns:
        `(warmup_seconds, step_seconds)`, two lists of floats.
    """
    warmup = timing["warmup"] if warmup is None else warmup
    warm = []
    for _ in range(warmup):
        t0 = time.perf_counter()
        fn()
        warm.append(time.perf_counter() - t0)
    times = []
    start = time.perf_counter()
    while len(times) < timing["max_steps"] and (
            len(times) < timing["min_steps"] or time.perf_counter() - start < timing["budget_s"]):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return warm, times


def random_batch(cfg, batch, seq, seed=SEED):
    """Token inputs shared by every implementation (same seed -> same ids everywhere).

    Returns int32 numpy arrays: token_ids (ids >= 1000, i.e. no special tokens), segment_ids
    (first half 0, second half 1), padding_mask (all ones: full-length sequences).
    """
    rng = np.random.default_rng(seed)
    token_ids = rng.integers(1000, cfg["vocabulary_size"], size=(batch, seq), dtype=np.int32)
    segment_ids = np.zeros((batch, seq), np.int32)
    segment_ids[:, seq // 2:] = 1
    padding_mask = np.ones((batch, seq), np.int32)
    return {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask}


def pretraining_batch(cfg, batch, seq, num_masked, seed=SEED):
    """A pretraining batch: the token inputs plus `num_masked` distinct masked positions per row.

    Returns a dict with the token inputs and mask_positions, mask_ids, mask_weights (int32 /
    float32 `[batch, num_masked]`) and next_sentence_labels (int32 `[batch]`).
    """
    rng = np.random.default_rng(seed + 1)
    inputs = random_batch(cfg, batch, seq, seed)
    positions = np.stack([np.sort(rng.choice(np.arange(1, seq - 1), num_masked, replace=False))
                          for _ in range(batch)]).astype(np.int32)
    mask_ids = np.take_along_axis(inputs["token_ids"], positions, axis=1).copy()
    inputs["token_ids"] = inputs["token_ids"].copy()
    np.put_along_axis(inputs["token_ids"], positions, 103, axis=1)  # [MASK]
    inputs.update(mask_positions=positions, mask_ids=mask_ids,
                  mask_weights=np.ones((batch, num_masked), np.float32),
                  next_sentence_labels=rng.integers(0, 2, size=(batch,), dtype=np.int32))
    return inputs


def read_texts(path, limit=None):
    """The third (`text`) column of a TSV with a header row."""
    texts = []
    with open(path, encoding="utf-8") as f:
        next(f)
        for line in f:
            parts = line.rstrip("\n").split("\t")
            if len(parts) >= 3:
                texts.append(parts[2])
            if limit and len(texts) >= limit:
                break
    return texts


def chunks(items, size):
    return [items[i:i + size] for i in range(0, len(items), size)]


def tf_threads_from_env():
    """Applies BENCH_TF_THREADS (intra- and inter-op threads) before TensorFlow runs any op."""
    n = os.environ.get("BENCH_TF_THREADS")
    if n:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(int(n))
        tf.config.threading.set_inter_op_parallelism_threads(int(n))
    return n


def guarded(rec, case_id, variant, fn):
    """Runs `fn()`, recording an error (instead of crashing) when it fails; True on success."""
    try:
        fn()
        return True
    except Exception as exc:  # noqa: BLE001 - a failed case must not lose the others
        rec.error(case_id, variant, exc)
        return False


def variants(spec):
    """The variants to run: "graph" (tf.function), "xla" (jit_compile=True), "bf16" (below)."""
    return spec.get("variants", ["graph", "xla"])


def jit(variant):
    """Whether `variant` compiles with XLA. "bf16" runs as a plain `tf.function`: XLA:CPU has no
    bfloat16 GEMM, while TF's oneDNN kernels use the CPU's AVX512-BF16 / AMX instructions."""
    return variant == "xla"


@contextlib.contextmanager
def precision(variant, keras_module):
    """Keras' (or tf-keras') global dtype policy while a `variant`'s model is built and compiled:
    `mixed_bfloat16` for "bf16" (bfloat16 compute, float32 variables), float32 otherwise."""
    policy = "mixed_bfloat16" if variant == "bf16" else "float32"
    keras_module.mixed_precision.set_global_policy(policy)
    try:
        yield
    finally:
        keras_module.mixed_precision.set_global_policy("float32")


def free_memory():
    import gc

    gc.collect()


def serve_case(rec, spec, case, texts, variants, max_batches=256):
    """Times each serving variant on successive batches of real texts.

    Args:
        variants: `{name: (fn, prepare)}`; `fn(x)` serves one request and returns numpy, where
            `x` is a batch of texts or, with `prepare`, `prepare(batch)` computed before timing
            (e.g. pre-tokenized ids for the model-only variant).
    """
    batch_size = case["batch"]
    batches = [b for b in chunks(texts, batch_size) if len(b) == batch_size][:max_batches]
    for variant, (fn, prepare) in variants.items():
        inputs = [prepare(b) for b in batches] if prepare else batches
        state = {"i": 0}

        def step():
            fn(inputs[state["i"] % len(inputs)])
            state["i"] += 1

        warm, times = time_steps(step, spec["timing"])
        rec.add(case["id"], variant, warm, times, batch=batch_size)


def peak_matmul(rec, spec):
    """`tf.matmul` throughput of two n x n matrices (n = `matmul_size`, 2048), float32 and, for
    the "bf16" variant's MFU, bfloat16 (TF's oneDNN kernel; half of it on a CPU without bf16
    instructions)."""
    import tensorflow as tf

    n = spec.get("matmul_size", 2048)
    rng = np.random.default_rng(SEED)
    matmul = tf.function(tf.matmul)
    for dtype, variant in (("float32", "graph"), ("bfloat16", "bf16")):
        if dtype == "bfloat16" and "bf16" not in variants(spec):
            continue
        a, b = (tf.cast(rng.standard_normal((n, n), np.float32), dtype) for _ in range(2))
        case = f"matmul {n}x{n} {dtype}"

        def run():
            warm, times = time_steps(lambda: matmul(a, b).numpy(), spec["timing"])
            rec.add(case, variant, warm, times, flops=2 * n ** 3, dtype=dtype,
                    devices=[d.name for d in tf.config.list_physical_devices()])
        guarded(rec, case, variant, run)
