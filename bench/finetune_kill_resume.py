"""Kill-and-resume measurement of `kbk finetune classify`: killed runs, rerun, end as if never killed.

A tiny random BERT (2 layers, hidden 64, a WordPiece vocabulary learned from the training texts)
is made in a work folder (nothing is read from outside the repository unless given) and fine-tuned on the first `--train-examples` sentences of a sentiment
TSV (default: the repository's `recipes/data/sentiment/train.tsv`; `--train`/`--dev` take other
files with `text` and `label` columns), scored on the first `--dev-examples` of the dev file.
The script

1. runs `python -m keras_bert_kit.cli finetune classify ...` once, uninterrupted, and notes
   when its first and last backups appeared;
2. runs the same command `--kills` times for SIGTERM and `--kills` times for SIGKILL, each sent
   at a random moment (seeded by `--seed`) after the run's own first backup, within the
   uninterrupted run's span from first to last backup, and each killed run again with the same
   command until it exits 0;
3. prints a markdown table (signal, kill time, exit status, the epoch/step the rerun resumed
   from, dev accuracy, equal to the uninterrupted run: `metrics.json` but its wall time,
   `history.csv` and the best model's weights, bit for bit) and writes it to `--output`.

Usage:
    .venv/bin/python bench/finetune_kill_resume.py            # ~10 min on 2 busy CPU cores
    .venv/bin/python bench/finetune_kill_resume.py --kills 1 --train-examples 500   # smoke run
Results: bench/results_finetune_resume.md.
"""

import argparse
import io
import json
import os
import pathlib
import random
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile

REPO = pathlib.Path(__file__).resolve().parents[1]
DATA = REPO / "recipes" / "data" / "sentiment"
RESUMED = re.compile(r"resuming (?:from epoch (\d+), step (\d+)|after the last epoch)")


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", default=str(DATA / "train.tsv"))
    parser.add_argument("--dev", default=str(DATA / "test.tsv"))
    parser.add_argument("--train-examples", type=int, default=2000)
    parser.add_argument("--dev-examples", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=48)
    parser.add_argument("--save-every-steps", type=int, default=20)
    parser.add_argument("--kills", type=int, default=5, help="runs killed per signal")
    parser.add_argument("--seed", type=int, default=0, help="seed of the kill times")
    parser.add_argument("--workdir", help="work folder (default: a temporary one, removed)")
    parser.add_argument("--output", default=str(REPO / "bench" / "results_finetune_resume.md"))
    return parser.parse_args(argv)


def subset(source, target, count):
    """The header and the first `count` rows of a TSV."""
    with open(source, encoding="utf-8") as f:
        lines = f.readlines()
    target.write_text("".join(lines[:count + 1]), encoding="utf-8")
    return target


def make_model(work, train):
    """A random 2-layer BERT folder with a WordPiece vocabulary of the training texts."""
    import csv

    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.text.vocabulary import build_vocabulary

    with open(train, encoding="utf-8", newline="") as f:
        texts = [row["text"] for row in csv.DictReader(f, delimiter="\t")]
    init = work / "init"
    vocabulary = build_vocabulary(texts, vocab_size=4000, output=None)
    BertBackbone(vocabulary_size=len(vocabulary), num_layers=2, num_heads=2, hidden_dim=64,
                 intermediate_dim=128, max_sequence_length=64).save_pretrained(str(init))
    (init / "vocab.txt").write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    return init, len(vocabulary)


def command(args, files, output):
    return [sys.executable, "-m", "keras_bert_kit.cli", "finetune", "classify",
            "--train", str(files["train"]), "--dev", str(files["dev"]),
            "--init", str(files["init"]), "--output", str(output),
            "--epochs", str(args.epochs), "--batch-size", str(args.batch_size),
            "--sequence-length", str(args.sequence_length), "--bucket-boundaries", "24,48",
            "--learning-rate", "5e-3", "--pooling", "mean", "--no-jit-compile",
            "--save-every-steps", str(args.save_every_steps), "--verbose", "0"]


def backup_batches(output):
    try:
        return json.loads((output / "backup" / "training_metadata.json").read_text())["batches"]
    except (FileNotFoundError, json.JSONDecodeError, KeyError):
        return None


def start(argv, log):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    return subprocess.Popen(argv, cwd=REPO, env=dict(env, CUDA_VISIBLE_DEVICES=""),
                            stdout=open(log, "a"), stderr=subprocess.STDOUT)


def straight_run(argv, output, log):
    """The uninterrupted run: `(seconds, first backup at, last backup at)` after its start."""
    began, seen, first, last = time.monotonic(), None, None, None
    process = start(argv, log)
    while process.poll() is None:
        batches = backup_batches(output)
        if batches is not None and batches != seen:
            seen, last = batches, time.monotonic() - began
            first = first or last
        time.sleep(0.01)
    if process.returncode != 0:
        raise SystemExit(f"the uninterrupted run failed:\n{pathlib.Path(log).read_text()[-3000:]}")
    return time.monotonic() - began, first, last


def killed_run(argv, output, log, signum, offset):
    """Starts the command, sends `signum` `offset` s after its first backup appeared, and runs
    the command again until it exits 0; the row's data (`delay`: seconds from start to signal).
    """
    began = time.monotonic()
    process = start(argv, log)
    while process.poll() is None and backup_batches(output) is None:
        time.sleep(0.005)
    deadline = time.monotonic() + offset
    while process.poll() is None and time.monotonic() < deadline:
        time.sleep(0.005)
    ended_first = process.poll() is not None
    delay = time.monotonic() - began
    if not ended_first:
        process.send_signal(signum)
    code = process.wait()
    backup = backup_batches(output)
    reruns, resumed = 0, "-"
    text = ""
    while code != 0:  # (0: it finished before the signal; a rerun would be refused)
        reruns += 1
        before = len(pathlib.Path(log).read_text())
        rerun = start(argv, log)
        if rerun.wait() == 0:
            text = pathlib.Path(log).read_text()[before:]
            break
        if reruns == 3:
            raise SystemExit(f"the rerun failed:\n{pathlib.Path(log).read_text()[-3000:]}")
    match = RESUMED.search(text)
    if match:
        resumed = (f"epoch {match.group(1)}, step {match.group(2)}" if match.group(1)
                   else "after the last epoch")
    elif not ended_first:
        resumed = "start (no backup yet)"
    return {"code": code, "ended_first": ended_first, "backup": backup, "resumed": resumed,
            "delay": delay}


def weights(path):
    import h5py

    with zipfile.ZipFile(path) as archive:
        data = archive.read("model.weights.h5")
    found = {}
    with h5py.File(io.BytesIO(data), "r") as f:
        f.visititems(lambda name, item: found.__setitem__(name, item[()].tobytes())
                     if isinstance(item, h5py.Dataset) else None)
    return found


def outcome(output):
    metrics = json.loads((output / "metrics.json").read_text())
    metrics.pop("train_seconds")
    return metrics, (output / "history.csv").read_text(), weights(output / "model.keras")


def table(args, rows, reference, seconds, first, last, vocabulary, shown, started):
    lines = [
        "# `kbk finetune classify` killed and resumed",
        "",
        f"Made by `bench/finetune_kill_resume.py --kills {args.kills} --seed {args.seed}` on "
        f"{time.strftime('%Y-%m-%d')} ({os.cpu_count()} CPU cores, shared; "
        f"{time.time() - started:.0f} s in all). A random 2-layer BERT (hidden 64, "
        f"{vocabulary}-token WordPiece vocabulary of the training texts), the first "
        f"{args.train_examples} sentences of `{os.path.relpath(args.train, REPO)}`, scored on "
        f"the first {args.dev_examples} of `{os.path.relpath(args.dev, REPO)}`; "
        f"{args.epochs} epochs, batch {args.batch_size}, length {args.sequence_length} "
        "(bucketed by 24, 48), mean pooling, XLA off (its compile time per bucket shape would "
        f"dominate runs this short), a backup every {args.save_every_steps} batches and after "
        "each epoch. The command:",
        "",
        "```bash",
        shown,
        "```",
        "",
        f"The uninterrupted run took {seconds:.1f} s (process start to exit); its first backup "
        f"appeared after {first:.1f} s, its last after {last:.1f} s. Each killed run got its "
        f"signal a random 0-{last - first:.1f} s (seeded) after its own first backup appeared "
        "(*kill at*: seconds from its start; start-up times vary with the machine's load), then "
        "the same command ran again (to exit 0). *Equal* means `metrics.json` (all but the wall "
        "time), `history.csv` and the best model's weights are bit for bit the uninterrupted "
        "run's.",
        "",
        "| # | signal | kill at (s) | exit | rerun resumed from | dev accuracy | equal |",
        "|---|---|---|---|---|---|---|",
        f"| 0 | none | - | 0 | - | {reference[0]['dev_metrics']['accuracy']:.4f} | "
        "(reference) |"]
    for number, row in enumerate(rows, 1):
        exit_status = "ended before the signal" if row["ended_first"] else row["code"]
        lines.append(f"| {number} | {row['signal']} | {row['delay']:.2f} | {exit_status} | "
                     f"{row['resumed']} | {row['accuracy']:.4f} | "
                     f"{'yes' if row['equal'] else 'NO'} |")
    equal = sum(row["equal"] for row in rows)
    lines += ["", f"{equal} of {len(rows)} killed runs ended equal to the uninterrupted run."]
    return "\n".join(lines) + "\n"


def main(argv=None):
    args = parse_args(argv)
    started = time.time()
    sys.path.insert(0, str(REPO))
    work = pathlib.Path(args.workdir or tempfile.mkdtemp(prefix="kbk-kill-resume-"))
    work.mkdir(parents=True, exist_ok=True)
    try:
        files = {"train": subset(args.train, work / "train.tsv", args.train_examples),
                 "dev": subset(args.dev, work / "dev.tsv", args.dev_examples)}
        files["init"], vocabulary = make_model(work, files["train"])
        reference_dir = work / "straight"
        argv_straight = command(args, files, reference_dir)
        seconds, first, last = straight_run(argv_straight, reference_dir, work / "straight.log")
        print(f"uninterrupted: {seconds:.1f} s, backups from {first:.1f} s to {last:.1f} s",
              flush=True)
        reference = outcome(reference_dir)
        rng = random.Random(args.seed)
        rows = []
        for name in ("SIGTERM", "SIGKILL"):
            for i in range(args.kills):
                output = work / f"{name}-{i}"
                row = killed_run(command(args, files, output), output, work / f"{name}-{i}.log",
                                 getattr(signal, name), rng.uniform(0, last - first))
                result = outcome(output)
                row.update(signal=name, equal=result == reference,
                           accuracy=result[0]["dev_metrics"]["accuracy"])
                rows.append(row)
                print(f"{name} at {row['delay']:.2f} s: exit {row['code']}, resumed from "
                      f"{row['resumed']}, equal {row['equal']}", flush=True)
        shown = " ".join(["python", *command(args, files, "$WORK/run")[1:]])
        text = table(args, rows, reference, seconds, first, last, vocabulary,
                     shown.replace(str(work), "$WORK"), started)
        print(text)
        pathlib.Path(args.output).write_text(text, encoding="utf-8")
    finally:
        if not args.workdir:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
