"""GPU pretraining-step benchmark (issue #8): keras-bert-kit vs keras-hub, mixed_bfloat16 + XLA.

Times one BERT pretraining training step (`compile(jit_compile=True)`, AdamW, global dtype policy
`mixed_bfloat16`) for BERT-base and BERT-large at sequence length 128 (20 masked positions) and
512 (80 masked positions), for

- **ours**: `keras_bert_kit` `BertBackbone` + `BertPretrainer` (MLM + NSP heads, the losses and
  metrics of `BertPretrainer.compile`), and
- **keras_hub**: `keras_hub.models.BertBackbone` + `BertMaskedLM` (MLM only: keras-hub has no
  NSP head; its default loss and weighted accuracy),

on the same random batch (`bench/workers/_common.py: pretraining_batch`). It runs with Keras 3 on
whatever backend `KERAS_BACKEND` names; the GPU figures of `bench/results_gpu.md` were taken with
the JAX backend (XLA is how JAX always runs), because TensorFlow could not be installed on the
GPU machine.

Each (implementation, case) runs in its own subprocess (fresh GPU memory, fresh compile caches),
then a bf16 matrix-product peak runs in another. Per case it reports:

- step time p50/p90 of `train_on_batch` (blocked on the returned loss, i.e. synchronized), after
  warm-up steps (the first includes tracing + XLA compilation, reported separately);
- the mean step time of one `fit()` epoch over the same batch repeated `--steps` times (after a
  short warm-up `fit()`), i.e. the loop `fit()` users get;
- sequences/s, achieved TFLOP/s and MFU with the issue's training FLOPs per token
  `72*L*d^2 + 12*L*s*d + 6*f*(d^2 + d*V)` (f = masked positions / s) against the measured bf16
  matmul peak and against 989 TFLOP/s (H100/H200 SXM datasheet dense bf16).

    KERAS_BACKEND=jax python bench/gpu_pretrain.py --out /tmp/gpu_bench
    KERAS_BACKEND=jax python bench/gpu_pretrain.py --smoke --out /tmp/gpu_smoke   # tiny configs
    python bench/gpu_pretrain.py --from-json RUN1.json RUN2.json   # re-print tables, no GPU

`--impls ours_bf16sm` is a diagnostic variant of ours with the attention softmax in bfloat16
(monkeypatched; see `_patch_bf16_softmax`), not the shipped code.

Outputs in `--out`: `results_gpu.json` (everything, rewritten after each subprocess) and
`results_gpu.md` (the table, also printed last).
"""

import argparse
import json
import os
import platform
import subprocess
import sys
import time

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
DATASHEET_BF16_TFLOPS = 989.0  # H100/H200 SXM dense bf16 (datasheet, without sparsity)

CONFIGS = {
    "base": dict(vocabulary_size=30522, num_layers=12, num_heads=12, hidden_dim=768,
                 intermediate_dim=3072, max_sequence_length=512),
    "large": dict(vocabulary_size=30522, num_layers=24, num_heads=16, hidden_dim=1024,
                  intermediate_dim=4096, max_sequence_length=512),
    "tiny": dict(vocabulary_size=30522, num_layers=2, num_heads=2, hidden_dim=128,
                 intermediate_dim=512, max_sequence_length=512),
}
# case id -> (config, seq, masked positions, default batch)
CASES = {
    "base-128": ("base", 128, 20, 256),
    "large-128": ("large", 128, 20, 128),
    "base-512": ("base", 512, 80, 64),
    "large-512": ("large", 512, 80, 32),
    "tiny-128": ("tiny", 128, 20, 32),
}
IMPLS = ("ours", "keras_hub", "ours_bf16sm")
LABELS = {"ours": "keras-bert-kit", "keras_hub": "keras-hub",
          "ours_bf16sm": "keras-bert-kit, diagnostic: bf16 attention softmax"}


def train_flops_per_token(cfg, seq, num_masked):
    """Issue #8's training FLOPs per token: 72*L*d^2 + 12*L*s*d + 6*f*(d^2 + d*V)."""
    L, d, V = cfg["num_layers"], cfg["hidden_dim"], cfg["vocabulary_size"]
    f = num_masked / seq
    return 72 * L * d * d + 12 * L * seq * d + 6 * f * (d * d + d * V)


# ----------------------------------------------------------------------------- worker side


def _percentile(xs, q):
    return float(np.percentile(np.asarray(xs, np.float64), q))


def _device_info():
    info = {"keras_backend": os.environ.get("KERAS_BACKEND", "tensorflow")}
    try:
        import jax

        dev = jax.devices()[0]
        info.update(jax=jax.__version__, device=str(dev), device_kind=dev.device_kind,
                    platform=dev.platform)
    except Exception as exc:  # noqa: BLE001 - informational only
        info["jax_error"] = repr(exc)
    return info


def _peak_memory_gib():
    try:
        import jax

        stats = jax.devices()[0].memory_stats() or {}
        return round(stats.get("peak_bytes_in_use", 0) / 2 ** 30, 2)
    except Exception:  # noqa: BLE001
        return None


def _patch_bf16_softmax():
    """Diagnostic only (impl `ours_bf16sm`): our attention softmax in the compute dtype.

    `TransformerEncoder` computes the attention scores and softmax in float32; keras-hub's
    (Keras `MultiHeadAttention`, explicit path because of attention dropout) runs them in the
    compute dtype (bfloat16 under mixed_bfloat16). This swaps in a copy of our `call` that does
    the same, to see how much of a gap that accounts for. Not the shipped code.
    """
    from keras import ops

    from keras_bert_kit.layers import transformer_encoder as te

    def call(self, inputs, padding_mask=None, attention_bias=None, training=None):
        batch, seq_len = ops.shape(inputs)[0], ops.shape(inputs)[1]
        qkv = ops.reshape(self.qkv_dense(inputs),
                          (batch, seq_len, 3, self.num_heads, self.head_dim))
        query = qkv[:, :, 0] * ops.cast(self.head_dim ** -0.5, qkv.dtype)
        key, value = qkv[:, :, 1], qkv[:, :, 2]
        scores = ops.einsum("bqhd,bkhd->bhqk", query, key)
        if attention_bias is None and padding_mask is not None:
            attention_bias = te.padding_mask_to_attention_bias(padding_mask)
        if attention_bias is not None:
            scores = scores + ops.cast(attention_bias, scores.dtype)
        probs = ops.softmax(scores, axis=-1)
        probs = self.attention_dropout_layer(probs, training=training)
        context = ops.einsum("bhqk,bkhd->bqhd", probs, value)
        context = ops.reshape(context, (batch, seq_len, self.hidden_dim))
        attended = self.attention_output_dense(context)
        x = self.attention_layer_norm(
            inputs + self.residual_dropout_layer(attended, training=training))
        ffn = self.output_dense(self._activation_fn(self.intermediate_dense(x)))
        return self.output_layer_norm(x + self.residual_dropout_layer(ffn, training=training))

    te.TransformerEncoder.call = call


def _build(impl, cfg, lr):
    import keras

    if impl == "ours_bf16sm":
        _patch_bf16_softmax()
    if impl in ("ours", "ours_bf16sm"):
        from keras_bert_kit.models.bert_backbone import BertBackbone
        from keras_bert_kit.models.bert_pretrainer import BertPretrainer

        model = BertPretrainer(BertBackbone(**cfg))
        model.compile(optimizer=keras.optimizers.AdamW(lr, weight_decay=0.01),
                      jit_compile=True)
    else:
        import keras_hub

        backbone = keras_hub.models.BertBackbone(**cfg)
        model = keras_hub.models.BertMaskedLM(backbone, preprocessor=None)
        # Loss and weighted accuracy are keras-hub's defaults ("auto").
        model.compile(optimizer=keras.optimizers.AdamW(lr, weight_decay=0.01),
                      jit_compile=True)
    return model


def _data(impl, cfg, batch, seq, num_masked):
    sys.path.insert(0, os.path.join(HERE, "workers"))
    import _common as C

    b = C.pretraining_batch(cfg, batch, seq, num_masked)
    x = {k: b[k] for k in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
    if impl != "keras_hub":
        y = {"mlm": b["mask_ids"], "nsp": b["next_sentence_labels"]}
        sw = {"mlm": b["mask_weights"], "nsp": np.ones(batch, np.float32)}
    else:
        y, sw = b["mask_ids"], b["mask_weights"]
    return x, y, sw


def _first_loss(out):
    if isinstance(out, (list, tuple)):
        out = out[0]
    return float(out)


def run_worker(job):
    """One (implementation, case): build, compile, warm up, time. Returns a record dict."""
    import keras

    keras.config.set_dtype_policy(job["dtype_policy"])
    keras.utils.set_random_seed(1234)
    cfg = CONFIGS[job["config"]]
    batch, seq, nm = job["batch"], job["seq"], job["num_masked"]
    rec = {"impl": job["impl"], "case": job["case"], "config": job["config"], "batch": batch,
           "seq": seq, "num_masked": nm, "dtype_policy": keras.config.dtype_policy().name,
           "keras": keras.__version__, **_device_info()}
    if job["impl"] == "keras_hub":
        import keras_hub

        rec["keras_hub"] = keras_hub.__version__
    t0 = time.perf_counter()
    model = _build(job["impl"], cfg, job["learning_rate"])
    rec["build_s"] = time.perf_counter() - t0
    rec["params"] = int(model.count_params())
    rec["backbone_dtype_policy"] = model.backbone.dtype_policy.name
    rec["jit_compile"] = bool(model.jit_compile)
    x, y, sw = _data(job["impl"], cfg, batch, seq, nm)

    def step():
        return _first_loss(model.train_on_batch(x, y, sample_weight=sw))  # float(): blocks

    warm = []
    for i in range(job["warmup"]):
        t0 = time.perf_counter()
        loss = step()
        warm.append(time.perf_counter() - t0)
        print(f"  [{job['impl']} {job['case']}] warm-up {i}: {warm[-1]:.3f}s loss {loss:.4f}",
              flush=True)
    times = []
    for _ in range(job["steps"]):
        t0 = time.perf_counter()
        loss = step()
        times.append(time.perf_counter() - t0)
    rec.update(first_step_s=warm[0] if warm else None, warmup_s=warm, times_s=times,
               final_loss=loss, p50_s=_percentile(times, 50), p90_s=_percentile(times, 90),
               mean_s=float(np.mean(times)))
    print(f"  [{job['impl']} {job['case']}] train_on_batch p50 {rec['p50_s'] * 1e3:.1f} ms "
          f"p90 {rec['p90_s'] * 1e3:.1f} ms (first step {warm[0]:.1f}s)", flush=True)

    if job["fit_steps"]:
        n = job["fit_steps"]
        tile = lambda a: np.concatenate([a] * n, axis=0)  # noqa: E731
        xf = {k: tile(v) for k, v in x.items()}
        yf = {k: tile(v) for k, v in y.items()} if isinstance(y, dict) else tile(y)
        swf = {k: tile(v) for k, v in sw.items()} if isinstance(sw, dict) else tile(sw)
        kw = dict(batch_size=batch, epochs=1, shuffle=False, verbose=0)
        # `keras.Model.fit` itself for both: keras-hub's `PipelineModel.fit` override turns
        # numpy inputs into a grain / tf.data pipeline (neither is installed on the GPU
        # machine); with `preprocessor=None` that pipeline only slices the arrays, and the
        # train step under test is the same either way.
        t0 = time.perf_counter()
        keras.Model.fit(model, xf, yf, sample_weight=swf, steps_per_epoch=min(3, n), **kw)
        rec["fit_warmup_s"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        hist = keras.Model.fit(model, xf, yf, sample_weight=swf, **kw)
        total = time.perf_counter() - t0
        rec.update(fit_steps=n, fit_total_s=total, fit_mean_s=total / n,
                   fit_final_loss=float(hist.history["loss"][-1]))
        print(f"  [{job['impl']} {job['case']}] fit mean step {total / n * 1e3:.1f} ms over {n} "
              f"steps (fit warm-up {rec['fit_warmup_s']:.1f}s)", flush=True)
    rec["peak_gpu_mem_gib"] = _peak_memory_gib()
    return rec


def run_peak(job):
    """bf16 matmul n x n x n with jax: median of `reps` samples of `inner` back-to-back products."""
    import jax
    import jax.numpy as jnp

    n, reps, inner = job["n"], job["reps"], job["inner"]
    # bf16 result (fp32 accumulation inside the GEMM), like the models' matmuls.
    ka, kb = jax.random.split(jax.random.key(0))
    a = jax.random.normal(ka, (n, n), jnp.float32).astype(jnp.bfloat16)
    b = jax.random.normal(kb, (n, n), jnp.float32).astype(jnp.bfloat16)
    mm = jax.jit(jnp.matmul)
    for _ in range(3):
        mm(a, b).block_until_ready()
    samples = []
    for _ in range(reps):
        t0 = time.perf_counter()
        outs = [mm(a, b) for _ in range(inner)]
        for o in outs:
            o.block_until_ready()
        samples.append((time.perf_counter() - t0) / inner)
    med = float(np.median(samples))
    rec = {"impl": "peak", "case": f"matmul {n}x{n}x{n} bf16", "n": n, "samples_s": samples,
           "median_s": med, "tflops": 2 * n ** 3 / med / 1e12,
           "best_tflops": 2 * n ** 3 / min(samples) / 1e12, **_device_info()}
    print(f"  [peak] bf16 matmul {n}^3: {rec['tflops']:.0f} TFLOP/s (median {med * 1e3:.3f} ms; "
          f"best sample {rec['best_tflops']:.0f})", flush=True)
    return rec


# ----------------------------------------------------------------------------- parent side


def _run_child(job, out_dir, timeout):
    path = os.path.join(out_dir, f".job_{job['impl']}_{job['case']}.json".replace(" ", "_"))
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([REPO] + [p for p in [env.get("PYTHONPATH")] if p])
    env.setdefault("PYTHONUNBUFFERED", "1")
    cmd = [sys.executable, os.path.abspath(__file__), "--worker", json.dumps(job),
           "--worker-out", path]
    t0 = time.perf_counter()
    try:
        proc = subprocess.run(cmd, env=env, timeout=timeout, check=False)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        rc = "timeout"
    wall = time.perf_counter() - t0
    if rc == 0 and os.path.exists(path):
        with open(path) as f:
            rec = json.load(f)
        os.remove(path)
    else:
        rec = {"impl": job["impl"], "case": job["case"], "error": f"exit {rc}"}
        if os.path.exists(path):
            with open(path) as f:
                rec.update(json.load(f))
            os.remove(path)
    rec["process_wall_s"] = wall
    return rec


def summarize(records, peak_tflops):
    rows = []
    by = {(r["impl"], r["case"]): r for r in records}
    for case in dict.fromkeys(r["case"] for r in records if r["impl"] in IMPLS):
        cname, seq, nm, _ = CASES[case]
        cfg = CONFIGS[cname]
        fpt = train_flops_per_token(cfg, seq, nm)
        for impl in IMPLS:
            r = by.get((impl, case))
            if r is None:
                continue
            row = {"case": case, "impl": impl, "batch": r.get("batch"), "seq": seq,
                   "num_masked": nm, "flops_per_token": fpt, "error": r.get("error")}
            if "p50_s" in r:
                tokens = r["batch"] * seq
                tflops = fpt * tokens / r["p50_s"] / 1e12
                peak = r.get("run_peak_tflops") or peak_tflops
                row.update(p50_ms=r["p50_s"] * 1e3, p90_ms=r["p90_s"] * 1e3,
                           seq_per_s=r["batch"] / r["p50_s"], tflops=tflops,
                           mfu_measured=tflops / peak if peak else None, peak_tflops=peak,
                           mfu_datasheet=tflops / DATASHEET_BF16_TFLOPS,
                           fit_mean_ms=r["fit_mean_s"] * 1e3 if r.get("fit_mean_s") else None,
                           fit_seq_per_s=r["batch"] / r["fit_mean_s"] if r.get("fit_mean_s")
                           else None,
                           fit_mfu_measured=(fpt * tokens / r["fit_mean_s"] / 1e12 / peak
                                             if r.get("fit_mean_s") and peak else None),
                           first_step_s=r.get("first_step_s"),
                           peak_gpu_mem_gib=r.get("peak_gpu_mem_gib"),
                           final_loss=r.get("final_loss"))
            rows.append(row)
        k = by.get(("keras_hub", case), {})
        for row in rows:
            o = by.get((row["impl"], case), {})
            if row["case"] == case and row["impl"] != "keras_hub" and "p50_s" in o \
                    and "p50_s" in k:
                row["ours_over_kh_seq_per_s"] = k["p50_s"] / o["p50_s"]
                if o.get("fit_mean_s") and k.get("fit_mean_s"):
                    row["ours_over_kh_fit_seq_per_s"] = k["fit_mean_s"] / o["fit_mean_s"]
    return rows


def _f(x, fmt):
    return "—" if x is None else format(x, fmt)


def markdown_table(rows, peak):
    head = ("| case | impl | batch | step p50 (ms) | p90 (ms) | seq/s | TFLOP/s | MFU vs measured "
            f"peak ({_f(peak, '.0f')}) | MFU vs 989 | fit() mean step (ms) | fit() seq/s | "
            "fit() MFU vs measured | ours/keras-hub seq/s (train_on_batch; fit) | "
            "first step (s) | peak GPU mem (GiB) |")
    lines = [head, "|" + "---|" * 15]
    for r in rows:
        if r.get("error"):
            lines.append(f"| {r['case']} | {LABELS[r['impl']]} | {r['batch']} | "
                         f"failed: {r['error']} |" + " |" * 11)
            continue
        lines.append(
            f"| {r['case']} (s={r['seq']}, {r['num_masked']} masked) | {LABELS[r['impl']]} | "
            f"{r['batch']} | {r['p50_ms']:.1f} | {r['p90_ms']:.1f} | {r['seq_per_s']:.0f} | "
            f"{r['tflops']:.0f} | {_f(r['mfu_measured'] and 100 * r['mfu_measured'], '.1f')}% | "
            f"{100 * r['mfu_datasheet']:.1f}% | {_f(r['fit_mean_ms'], '.1f')} | "
            f"{_f(r['fit_seq_per_s'], '.0f')} | "
            f"{_f(r['fit_mfu_measured'] and 100 * r['fit_mfu_measured'], '.1f')}% | "
            f"{_f(r.get('ours_over_kh_seq_per_s'), '.3f')}; "
            f"{_f(r.get('ours_over_kh_fit_seq_per_s'), '.3f')} | "
            f"{_f(r['first_step_s'], '.1f')} | {_f(r['peak_gpu_mem_gib'], '.1f')} |")
    return "\n".join(lines)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--out", default="/tmp/gpu_pretrain")
    p.add_argument("--cases", default="base-128,large-128,base-512,large-512",
                   help=f"comma list of {','.join(CASES)}")
    p.add_argument("--impls", default=",".join(IMPLS))
    p.add_argument("--batch", action="append", default=[],
                   help="override a case's batch: CASE=N (repeatable)")
    p.add_argument("--warmup", type=int, default=5, help="warm-up steps (first = compile)")
    p.add_argument("--steps", type=int, default=20, help="timed train_on_batch steps")
    p.add_argument("--fit-steps", type=int, default=20, help="steps of the timed fit() epoch "
                   "(0: skip fit)")
    p.add_argument("--dtype-policy", default="mixed_bfloat16")
    p.add_argument("--learning-rate", type=float, default=1e-4)
    p.add_argument("--peak-n", type=int, default=8192, help="matmul size (0: skip the peak)")
    p.add_argument("--peak-reps", type=int, default=10, help="matmul samples (median)")
    p.add_argument("--timeout", type=float, default=420, help="seconds per subprocess")
    p.add_argument("--deadline", type=float, default=0,
                   help="seconds: start no new subprocess after this much wall time (0: none)")
    p.add_argument("--smoke", action="store_true",
                   help="tiny config, 1 case, 2 warm-up + 3 steps, small matmul")
    p.add_argument("--from-json", nargs="+", metavar="JSON",
                   help="only re-summarize: merge these results_gpu.json files (later files win "
                        "per implementation and case) and print the table")
    p.add_argument("--worker", help=argparse.SUPPRESS)
    p.add_argument("--worker-out", help=argparse.SUPPRESS)
    args = p.parse_args()

    if args.worker:
        job = json.loads(args.worker)
        try:
            rec = run_peak(job) if job["impl"] == "peak" else run_worker(job)
        except Exception as exc:  # noqa: BLE001 - reported in the table
            import traceback

            traceback.print_exc()
            rec = {"impl": job["impl"], "case": job["case"], "error": repr(exc)[:500]}
        with open(args.worker_out, "w") as f:
            json.dump(rec, f)
        return 0 if "error" not in rec else 1

    if args.from_json:
        merged, peaks, last_peak = {}, [], None
        for path in args.from_json:
            with open(path) as f:
                data = json.load(f)
            # MFU vs its own run's peak (a run without one: the previous file's, same machine)
            last_peak = data.get("peak_tflops") or last_peak
            for r in data["records"]:
                r["run_peak_tflops"] = last_peak
                if r["impl"] == "peak":
                    peaks.append(r.get("tflops"))
                elif "error" not in r or (r["impl"], r["case"]) not in merged:
                    merged[(r["impl"], r["case"])] = r
        peak = max((x for x in peaks if x), default=None)
        records = sorted(merged.values(), key=lambda r: list(CASES).index(r["case"]))
        print(markdown_table(summarize(records, peak), peak))
        return 0

    if args.smoke:
        args.cases, args.warmup, args.steps = "tiny-128", 2, 3
        args.fit_steps = min(args.fit_steps, 3)
        args.peak_n = min(args.peak_n, 2048) if args.peak_n else 0
    os.makedirs(args.out, exist_ok=True)
    batches = dict(kv.split("=") for kv in args.batch)
    jobs = []
    for case in args.cases.split(","):
        cname, seq, nm, batch = CASES[case]
        for impl in args.impls.split(","):
            jobs.append(dict(impl=impl, case=case, config=cname, seq=seq, num_masked=nm,
                             batch=int(batches.get(case, batch)), warmup=args.warmup,
                             steps=args.steps, fit_steps=args.fit_steps,
                             dtype_policy=args.dtype_policy, learning_rate=args.learning_rate))
    if args.peak_n:
        jobs.insert(0, dict(impl="peak", case="peak", n=args.peak_n, reps=args.peak_reps,
                            inner=10))

    meta = {"command": " ".join([os.path.relpath(sys.argv[0], REPO)] + sys.argv[1:]),
            "keras_backend": os.environ.get("KERAS_BACKEND"),
            "xla_flags": os.environ.get("XLA_FLAGS"), "python": platform.python_version(),
            "host": platform.node(), "date_utc": time.strftime("%Y-%m-%d %H:%M:%S",
                                                               time.gmtime()),
            "datasheet_bf16_tflops": DATASHEET_BF16_TFLOPS,
            "flops_formula": "72*L*d^2 + 12*L*s*d + 6*(masked/s)*(d^2 + d*V) per token",
            "warmup": args.warmup, "steps": args.steps, "fit_steps": args.fit_steps}
    records, start = [], time.perf_counter()
    for job in jobs:
        if args.deadline and time.perf_counter() - start > args.deadline:
            print(f"== skip {job['impl']} {job['case']}: past --deadline", flush=True)
            records.append({"impl": job["impl"], "case": job["case"], "batch": job.get("batch"),
                            "error": "skipped (deadline)"})
            continue
        print(f"== {job['impl']} {job['case']} (t={time.perf_counter() - start:.0f}s)",
              flush=True)
        rec = _run_child(job, args.out, args.timeout)
        records.append(rec)
        peak = next((r.get("tflops") for r in records if r["impl"] == "peak"), None)
        result = {"meta": meta, "peak_tflops": peak, "records": records,
                  "summary": summarize(records, peak)}
        with open(os.path.join(args.out, "results_gpu.json"), "w") as f:
            json.dump(result, f, indent=1)
    peak = next((r.get("tflops") for r in records if r["impl"] == "peak"), None)
    rows = summarize(records, peak)
    table = markdown_table(rows, peak)
    with open(os.path.join(args.out, "results_gpu.md"), "w") as f:
        f.write(table + "\n")
    print(f"\ntotal wall {time.perf_counter() - start:.0f}s; measured bf16 matmul peak "
          f"{_f(peak, '.0f')} TFLOP/s\n")
    print(table, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
