"""Plots a training run's `history.csv` (loss and accuracies, train and held-out) to a PNG.

Example (from the repository root):
    python recipes/plot_history.py runs/austen/pretrain/history.csv docs/pretrain_austen.png \
        --steps-per-epoch 100
"""

import argparse
import csv

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402  (after choosing the Agg backend)


def plot_history(history_csv, output_png, steps_per_epoch=1, title=None):
    """Writes a two-panel PNG (losses; accuracies) of a Keras `CSVLogger` file.

    Args:
        history_csv: the `history.csv` of a run (one row per (virtual) epoch).
        output_png: the image to write.
        steps_per_epoch: optimizer steps per row, for an x axis in steps (1: epochs).
        title: figure title (default: the file name).

    Example:
    >>> plot_history("runs/austen/pretrain/history.csv", "docs/pretrain_austen.png", 100)  # doctest: +SKIP
    """
    with open(history_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    if not rows:
        raise ValueError(f"{history_csv}: no rows to plot")
    x = [(int(float(r["epoch"])) + 1) * steps_per_epoch for r in rows]
    # Keras' CSVLogger writes "NA" in the `val_*` columns of runs without validation data.
    columns = [c for c in rows[0] if c != "epoch" and all(r[c] not in ("", "NA") for r in rows)]
    figure, (left, right) = plt.subplots(1, 2, figsize=(11, 4))
    names = list(dict.fromkeys(c.removeprefix("val_") for c in columns))
    for column in columns:
        axis = right if column.endswith("accuracy") else left
        held_out = column.startswith("val_")
        axis.plot(x, [float(r[column]) for r in rows], "--" if held_out else "-", marker=".",
                  color=f"C{names.index(column.removeprefix('val_'))}",
                  label=column.removeprefix("val_") + (" (held out)" if held_out else " (train)"))
    for axis, name in ((left, "loss"), (right, "accuracy")):
        axis.set_xlabel("optimizer step" if steps_per_epoch > 1 else "epoch")
        axis.set_ylabel(name)
        axis.grid(alpha=0.3)
        axis.legend(fontsize=8)
    figure.suptitle(title or str(history_csv))
    figure.tight_layout()
    figure.savefig(output_png, dpi=120)
    plt.close(figure)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("history_csv")
    parser.add_argument("output_png")
    parser.add_argument("--steps-per-epoch", type=int, default=1,
                        help="optimizer steps per row (save_every_steps of the run)")
    parser.add_argument("--title")
    args = parser.parse_args(argv)
    plot_history(args.history_csv, args.output_png, args.steps_per_epoch, args.title)
    print(f"wrote {args.output_png}")


if __name__ == "__main__":
    main()
