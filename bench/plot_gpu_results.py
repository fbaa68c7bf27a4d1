"""Plots `bench/results_gpu.json` (written from `bench/gpu_pretrain.py` runs) to a PNG.

Two panels (train_on_batch p50, fit() mean step): sequences/s of keras-bert-kit vs keras-hub per
case; bars are the mean of the runs, dots each run, labels the MFU against the bf16 matmul peak
measured in the same run.

    .venv/bin/python bench/plot_gpu_results.py [--json bench/results_gpu.json]
                                               [--out bench/results_gpu.png]
"""

import argparse
import json
import os

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
IMPLS = {"ours": ("keras-bert-kit (MLM+NSP)", "#1f77b4"),
         "keras_hub": ("keras-hub BertMaskedLM (MLM)", "#ff7f0e")}


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--json", default=os.path.join(HERE, "results_gpu.json"))
    p.add_argument("--out", default=os.path.join(HERE, "results_gpu.png"))
    args = p.parse_args()

    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    with open(args.json) as f:
        data = json.load(f)
    runs = [r for r in data["runs"] if r["name"].startswith("run ")]
    cases = list(dict.fromkeys(row["case"] for row in runs[0]["summary"]))
    panels = [("seq_per_s", "mfu_measured", "train_on_batch (step p50)"),
              ("fit_seq_per_s", "fit_mfu_measured", "fit() (mean step over 20)")]
    fig, axes = plt.subplots(1, 2, figsize=(13, 5), sharey=False)
    width = 0.38
    for ax, (key, mfu_key, title) in zip(axes, panels):
        x = np.arange(len(cases))
        for i, (impl, (label, color)) in enumerate(IMPLS.items()):
            vals, mfus = [], []
            for case in cases:
                rows = [row for run in runs for row in run["summary"]
                        if row["case"] == case and row["impl"] == impl and row.get(key)]
                vals.append([row[key] for row in rows])
                mfus.append(np.mean([row[mfu_key] for row in rows]))
            means = [np.mean(v) for v in vals]
            pos = x + (i - 0.5) * width
            bars = ax.bar(pos, means, width, label=label, color=color)
            for j, v in enumerate(vals):
                ax.plot([pos[j]] * len(v), v, "k.", markersize=4)
            for bar, mfu in zip(bars, mfus):
                ax.annotate(f"{100 * mfu:.0f}%", (bar.get_x() + bar.get_width() / 2,
                                                  bar.get_height()),
                            ha="center", va="bottom", fontsize=8, xytext=(0, 2),
                            textcoords="offset points")
        ax.set_xticks(x, cases)
        ax.set_yscale("log")
        ax.set_ylabel("sequences / s (log scale)")
        ax.set_title(title, fontsize=10)
        ax.legend(fontsize=8, loc="upper right")
    peaks = ", ".join(f"{r['peak_tflops']:.0f}" for r in runs)
    fig.suptitle("BERT pretraining step on one H200: mixed_bfloat16 + XLA, Keras 3 JAX backend\n"
                 f"labels: MFU vs measured bf16 matmul peak ({peaks} TFLOP/s); bars: mean of "
                 f"{len(runs)} runs, dots: each run", fontsize=10)
    fig.tight_layout()
    fig.savefig(args.out, dpi=120)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
