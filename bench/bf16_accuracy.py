"""Accuracy of bfloat16 exports against float32 exports of the same model, served (issue #26).

Each model is exported twice with `export_saved_model` (`precision="float32"` and
`"bfloat16"`, `check=True`: fresh-process, TF1-loader and `saved_model_cli` checks), each export
is loaded fresh with `tf.saved_model.load` and the whole test set goes through its
`serving_default` in batches. Reported:

- classifier (sentiment TSV `label<TAB>rating<TAB>text`, header, label 0/1): accuracy float32 vs
  bfloat16 (and the difference in points), label agreement, max and mean |Δ probability|;
- tagger (CoNLL `char<TAB>tag`, blank line between sentences, BIO): entity-level micro F1
  (seqeval/CoNLL semantics, `training.ner_metrics.entity_scores`) float32 vs bfloat16, the
  bfloat16 entities scored against the float32 ones, and tag agreement over characters. The
  characters of a sentence are served space-joined (each one a word, as `kbk finetune tag` reads
  People's Daily); the export truncates at its sequence length (no windows), so sentences longer
  than `sequence_length - 2` characters are served as consecutive, evenly sized chunks and their
  tags concatenated (same chunks for both precisions). A word's tag is read at its first piece
  (`text.decoding.decode_words`) and mapped back to its character by byte offset;
- examples/s of both exports at the serving batch size (default 32) over the test set, best of
  `--timing-passes` passes taken alternately (the first is the accuracy pass), and the CPU
  (`lscpu` model name; whether its flags include avx512_bf16 / amx_bf16).

Not a test; nothing here is collected by pytest. The run that wrote
`bench/results_bf16_accuracy.md`:

    .venv/bin/python bench/bf16_accuracy.py \\
        --classifier /tmp/bf16acc/sentiment/model.keras \\
        --test-tsv /work/shared/data/sentiment/test.tsv \\
        --tagger /tmp/bf16acc/ner800/tagger/model.keras \\
        --test-conll /work/shared/data/peoples_daily/dev.conll \\
        --out bench/results_bf16_accuracy.md
"""

import argparse
import csv
import datetime
import os
import platform
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

PRECISIONS = ("float32", "bfloat16")
# Raw (not space-joined) text for the tagger's serving checks, beside test sentences.
RAW_CHINESE = "新华社北京１月５日电  国家主席江泽民今天在人民大会堂会见了美国总统克林顿。"


# ----------------------------------------------------------------------------------- machine

def cpu_description():
    """`{"model", "bf16_flags", "cpus", "load"}` from `lscpu` (falls back to /proc/cpuinfo)."""
    model, flags = None, set()
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
        for line in out.splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "Model name" and model is None:
                model = value.strip()
            elif key.strip() == "Flags":
                flags.update(value.split())
    except (OSError, subprocess.CalledProcessError):
        pass
    if model is None or not flags:
        from keras_bert_kit.export.precision import cpu_bf16_features, cpu_model_name
        model = model or cpu_model_name()
        flags.update(cpu_bf16_features())
    return {"model": model or "unknown",
            "bf16_flags": {f: f in flags for f in ("avx512_bf16", "amx_bf16")},
            "cpus": os.cpu_count(), "load": os.getloadavg()}


def versions():
    import importlib.metadata as md

    result = {"python": platform.python_version()}
    for name in ("keras-bert-kit", "tensorflow", "tensorflow-text", "keras", "numpy"):
        try:
            result[name] = md.version(name)
        except md.PackageNotFoundError:
            result[name] = "absent"
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    try:  # read-only git queries
        head = subprocess.run(["git", "-C", root, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "-C", root, "diff", "--quiet", "HEAD", "--",
                                "keras_bert_kit"]).returncode != 0
        result["commit"] = head + (" (keras_bert_kit/ has uncommitted changes)" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        pass
    return result


# -------------------------------------------------------------------------------------- data

def read_sentiment(path):
    """Texts and gold labels (as strings) of a `label<TAB>rating<TAB>text` file with a header."""
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    return [row["text"] for row in rows], [row["label"].strip() for row in rows]


def chunk(words, size):
    """`words` cut into consecutive, evenly sized chunks of at most `size` words."""
    if len(words) <= size:
        return [words]
    count = -(-len(words) // size)
    bounds = [round(i * len(words) / count) for i in range(count + 1)]
    return [words[a:b] for a, b in zip(bounds, bounds[1:])]


# ------------------------------------------------------------------------------------ export

def export_both(model, folder, examples):
    """Exports `model` at both precisions under `folder`; `{precision: (path, report, s)}`."""
    from keras_bert_kit.export.saved_model import export_saved_model

    result = {}
    for precision in PRECISIONS:
        path = os.path.join(folder, precision, "1")
        start = time.perf_counter()
        report = export_saved_model(model, path, precision=precision, check=True,
                                    examples=examples)
        seconds = time.perf_counter() - start
        print(report.summary(), f"\n(export with checks: {seconds:.0f} s)\n", flush=True)
        result[precision] = (path, report, seconds)
    return result


def load_serving(path):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops of the graph)

    return tf.saved_model.load(path).signatures["serving_default"]


def serve(fn, texts, batch_size):
    """Outputs of every batch (numpy dicts) and the seconds of the pass."""
    import tensorflow as tf

    outputs = []
    start = time.perf_counter()
    for i in range(0, len(texts), batch_size):
        batch = tf.constant(texts[i:i + batch_size])
        outputs.append({k: v.numpy() for k, v in fn(text=batch).items()})
    return outputs, time.perf_counter() - start


def serve_both(paths, texts, batch_size, passes):
    """Serves `texts` through both exports; `({precision: outputs}, {precision: [seconds]})`.

    Each export is loaded fresh and warmed up on one batch (not timed); the passes alternate
    between the precisions so that a change in the machine's load hits both.
    """
    import tensorflow as tf

    functions = {p: load_serving(paths[p]) for p in PRECISIONS}
    for fn in functions.values():
        fn(text=tf.constant(texts[:batch_size]))
    outputs, times = {}, {p: [] for p in PRECISIONS}
    for n in range(passes):
        for precision in PRECISIONS:
            got, seconds = serve(functions[precision], texts, batch_size)
            times[precision].append(seconds)
            if n == 0:
                outputs[precision] = got
            print(f"  {precision}: pass {n + 1}: {len(texts) / seconds:.1f} examples/s",
                  flush=True)
    return outputs, times


# -------------------------------------------------------------------------------- classifier

def evaluate_classifier(args, folder):
    import keras_bert_kit
    from keras_bert_kit.export.saved_model import DEFAULT_EXAMPLES

    texts, gold = read_sentiment(args.test_tsv)
    model = keras_bert_kit.load_model(args.classifier)
    exports = export_both(model, os.path.join(folder, "classifier"),
                          DEFAULT_EXAMPLES + texts[:3])
    del model
    paths = {p: exports[p][0] for p in PRECISIONS}
    print(f"serving {len(texts)} test texts, batch {args.batch_size}", flush=True)
    outputs, times = serve_both(paths, texts, args.batch_size, args.timing_passes)
    probs, labels = {}, {}
    for precision, batches in outputs.items():
        probs[precision] = np.concatenate([b["probabilities"] for b in batches]).astype(np.float64)
        labels[precision] = [v.decode("utf-8") for b in batches for v in b["label"].ravel()]
    accuracy = {p: float(np.mean([a == g for a, g in zip(labels[p], gold)])) for p in PRECISIONS}
    delta = np.abs(probs["bfloat16"] - probs["float32"])
    disagree = [i for i in range(len(texts)) if labels["float32"][i] != labels["bfloat16"][i]]
    return {
        "examples": len(texts), "accuracy": accuracy,
        "agreement": 1 - len(disagree) / len(texts),
        "disagreements": [(texts[i], gold[i], probs["float32"][i].tolist(),
                           probs["bfloat16"][i].tolist()) for i in disagree],
        "max_dp": float(delta.max()), "mean_dp": float(delta.mean()),
        "p99_dp": float(np.quantile(delta.max(axis=1), 0.99)),
        "times": times, "exports": exports,
    }


# ------------------------------------------------------------------------------------ tagger

def tags_of_chunk(chars, text, row):
    """One tag per character of `chars` (served as `text`, space-joined) from a served row.

    Returns `(tags, unmapped)`: characters without a word in the output (dropped by the
    tokenizer or cut by truncation) get `"O"` and are counted in `unmapped`.
    """
    from keras_bert_kit.text.decoding import decode_words

    offsets, position = {}, 0
    for i, char in enumerate(chars):
        offsets[position] = i
        position += len(char.encode("utf-8")) + 1
    tags = ["O"] * len(chars)
    found = 0
    for word in decode_words(text, row):
        i = offsets.get(word["byte_start"])
        if i is not None:
            tags[i] = word["tag"]
            found += 1
    return tags, len(chars) - found


def evaluate_tagger(args, folder):
    import keras_bert_kit
    from keras_bert_kit.data.conll_data import read_conll
    from keras_bert_kit.training.ner_metrics import entity_scores

    dev = read_conll(args.test_conll)
    model = keras_bert_kit.load_model(args.tagger)
    sequence_length = model.preprocessor.sequence_length
    size = sequence_length - 2  # [CLS] ... [SEP]; one piece per character at most
    pieces, owners = [], []
    for s, words in enumerate(dev.words):
        for part in chunk(list(words), size):
            pieces.append(part)
            owners.append(s)
    texts = [" ".join(part) for part in pieces]
    examples = texts[:4] + ["", RAW_CHINESE]
    exports = export_both(model, os.path.join(folder, "tagger"), examples)
    del model
    paths = {p: exports[p][0] for p in PRECISIONS}
    print(f"serving {len(dev)} test sentences as {len(texts)} texts of <= {size} characters, "
          f"batch {args.batch_size}", flush=True)
    outputs, times = serve_both(paths, texts, args.batch_size, args.timing_passes)
    predicted, unmapped, score_delta = {}, {}, []
    for precision, batches in outputs.items():
        sentences = [[] for _ in dev.words]
        missing, k = 0, 0
        for batch in batches:
            for j in range(len(batch["label"])):
                row = {name: value[j] for name, value in batch.items()}
                tags, lost = tags_of_chunk(pieces[k], texts[k], row)
                sentences[owners[k]].extend(tags)
                missing += lost
                k += 1
        predicted[precision], unmapped[precision] = sentences, missing
    for b32, b16 in zip(outputs["float32"], outputs["bfloat16"]):
        same = (b32["label_id"] == b16["label_id"]) & (b32["token_start"] >= 0)
        score_delta.append(np.abs(b32["score"].astype(np.float64) - b16["score"])[same])
    score_delta = np.concatenate(score_delta)
    scores = {p: entity_scores(dev.tags, predicted[p]) for p in PRECISIONS}
    versus = entity_scores(predicted["float32"], predicted["bfloat16"])
    flat = {p: [t for s in predicted[p] for t in s] for p in PRECISIONS}
    gold = [t for s in dev.tags for t in s]
    agree = float(np.mean([a == b for a, b in zip(flat["float32"], flat["bfloat16"])]))
    return {
        "sentences": len(dev), "texts": len(texts), "characters": len(gold),
        "chunked": sum(1 for w in dev.words if len(w) > size), "sequence_length": sequence_length,
        "scores": scores, "f1": {p: scores[p]["micro"]["f1"] for p in PRECISIONS},
        "bf16_vs_f32_f1": versus["micro"]["f1"], "tag_agreement": agree,
        "tag_accuracy": {p: float(np.mean([a == g for a, g in zip(flat[p], gold)]))
                         for p in PRECISIONS},
        "sentences_differing": sum(a != b for a, b in zip(predicted["float32"],
                                                          predicted["bfloat16"])),
        "unmapped": unmapped, "max_dscore": float(score_delta.max(initial=0.0)),
        "mean_dscore": float(score_delta.mean()) if score_delta.size else 0.0,
        "times": times, "exports": exports,
    }


# ------------------------------------------------------------------------------------ report

def _speed_row(what, n, times, batch_size):
    """A table row: `n` examples over the best pass of each precision, and the ratio."""
    f32, b16 = n / min(times["float32"]), n / min(times["bfloat16"])
    return f"| {what} (batch {batch_size}) | {f32:.1f} | {b16:.1f} | {b16 / f32:.2f}× |"


def _export_lines(name, result):
    lines = []
    for precision in PRECISIONS:
        _, report, seconds = result["exports"][precision]
        check = ""
        if report.precision_check:
            check = "; vs float32 on the check examples: " + ", ".join(
                f"{k} " + (f"max |Δ| {v['max_abs_diff']:.2e}" if "max_abs_diff" in v
                           else f"agreement {100 * v['agreement']:.0f} %")
                for k, v in sorted(report.precision_check.items()))
        lines.append(f"- {name} {precision}: serving checks passed (max |Δ| reloaded vs in "
                     f"process {report.max_abs_diff:.1e}){check}; export + checks "
                     f"{seconds:.0f} s")
    return lines


def render(args, cpu, vers, classifier, tagger, load_end, wall):
    flags = ", ".join(f"{k} {'yes' if v else 'no'}" for k, v in cpu["bf16_flags"].items())
    command = " ".join([".venv/bin/python", "bench/bf16_accuracy.py"]
                       + [shlex.quote(a) for a in sys.argv[1:]])
    lines = [
        "# bfloat16 vs float32 exports: accuracy served (issue #26)", "",
        f"- Date: {datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds')}",
        f"- Command: `{command}`",
        f"- CPU: {cpu['model']}, {cpu['cpus']} logical CPUs; flags: {flags}"
        + ("" if any(cpu["bf16_flags"].values()) else
           " (no native bfloat16: TF's oneDNN kernels convert, so bfloat16 is not expected to be "
           "faster here)"),
        f"- Load average (1/5/15 min) at start {[round(x, 2) for x in cpu['load']]}, at end "
        f"{[round(x, 2) for x in load_end]} (a shared machine: throughput figures are noisy)",
        "- Versions: " + ", ".join(f"{k} {v}" for k, v in vers.items()),
        "- Method: each model exported twice (`export_saved_model(..., precision=...)`, "
        "`check=True`), each export loaded fresh (`tf.saved_model.load(...).signatures"
        f"[\"serving_default\"]`), the whole test set served in batches of {args.batch_size}; "
        f"examples/s: best of {args.timing_passes} passes per export, alternating float32 / "
        "bfloat16, after one warm-up batch. Wall time of this run "
        f"{wall:.0f} s.", ""]
    if classifier:
        c = classifier
        acc32, acc16 = c["accuracy"]["float32"], c["accuracy"]["bfloat16"]
        lines += [
            f"## Classifier: `{args.classifier}` on `{args.test_tsv}` ({c['examples']} texts)", "",
            "| metric | float32 | bfloat16 | difference |", "|---|---:|---:|---:|",
            f"| accuracy | {100 * acc32:.2f} % | {100 * acc16:.2f} % | "
            f"{100 * (acc16 - acc32):+.2f} points |",
            f"| label agreement (bf16 vs f32) | | | {100 * c['agreement']:.2f} % "
            f"({len(c['disagreements'])} of {c['examples']} differ) |",
            f"| max \\|Δ probability\\| | | | {c['max_dp']:.4f} |",
            f"| mean \\|Δ probability\\| | | | {c['mean_dp']:.5f} |",
            f"| 99th percentile of per-text max \\|Δ probability\\| | | | {c['p99_dp']:.4f} |",
            _speed_row("examples/s", c["examples"], c["times"], args.batch_size),
            ""]
        if c["disagreements"]:
            lines += ["Texts whose label differs (gold; float32 probabilities → bfloat16):", ""]
            for text, gold, p32, p16 in c["disagreements"][:10]:
                lines.append(f"- gold {gold}: [{', '.join(f'{x:.4f}' for x in p32)}] → "
                             f"[{', '.join(f'{x:.4f}' for x in p16)}]: {text[:100]!r}")
            lines.append("")
        lines += _export_lines("classifier", c) + [""]
    if tagger:
        t = tagger
        f32, f16 = t["f1"]["float32"], t["f1"]["bfloat16"]
        lines += [
            f"## Tagger: `{args.tagger}` on `{args.test_conll}` ({t['sentences']} sentences, "
            f"{t['characters']} characters)", "",
            f"Characters served space-joined; {t['chunked']} sentences longer than "
            f"{t['sequence_length'] - 2} characters (the export's sequence length "
            f"{t['sequence_length']} less `[CLS]`/`[SEP]`; it truncates, no windows) were served "
            f"as evenly sized chunks: {t['texts']} texts in all. Characters without a served "
            f"word (tagged `O`): float32 {t['unmapped']['float32']}, bfloat16 "
            f"{t['unmapped']['bfloat16']}.", "",
            "| metric | float32 | bfloat16 | difference |", "|---|---:|---:|---:|",
            f"| entity micro F1 (vs gold) | {f32:.4f} | {f16:.4f} | {100 * (f16 - f32):+.2f} "
            "points |"]
        for k in ("precision", "recall"):
            a, b = t["scores"]["float32"]["micro"][k], t["scores"]["bfloat16"]["micro"][k]
            lines.append(f"| entity micro {k} | {a:.4f} | {b:.4f} | {100 * (b - a):+.2f} points |")
        for entity_type in sorted(k for k in t["scores"]["float32"] if k != "micro"):
            a = t["scores"]["float32"][entity_type]["f1"]
            b = t["scores"]["bfloat16"].get(entity_type, {}).get("f1", 0.0)
            lines.append(f"| {entity_type} F1 | {a:.4f} | {b:.4f} | {100 * (b - a):+.2f} points |")
        lines += [
            f"| tag accuracy over characters (vs gold) | "
            f"{100 * t['tag_accuracy']['float32']:.2f} % | "
            f"{100 * t['tag_accuracy']['bfloat16']:.2f} % | |",
            f"| tag agreement over characters (bf16 vs f32) | | | "
            f"{100 * t['tag_agreement']:.3f} % |",
            f"| sentences with any tag differing | | | {t['sentences_differing']} of "
            f"{t['sentences']} |",
            f"| entity F1 of bf16 against f32's entities | | | {t['bf16_vs_f32_f1']:.4f} |",
            f"| max \\|Δ tag probability\\| (same tag) | | | {t['max_dscore']:.4f} |",
            f"| mean \\|Δ tag probability\\| (same tag) | | | {t['mean_dscore']:.5f} |",
            _speed_row("texts/s", t["texts"], t["times"], args.batch_size),
            ""]
        lines += _export_lines("tagger", t) + [""]
    lines += ["All passes (seconds): " + "; ".join(
        f"{name} {p} {[round(s, 2) for s in r['times'][p]]}"
        for name, r in (("classifier", classifier), ("tagger", tagger)) if r
        for p in PRECISIONS), ""]
    return "\n".join(lines)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--classifier", required=True, help="a BertClassifier .keras model")
    parser.add_argument("--test-tsv", required=True,
                        help="label<TAB>rating<TAB>text with a header (label 0/1)")
    parser.add_argument("--tagger", help="a BertTokenClassifier .keras model")
    parser.add_argument("--test-conll", help="CoNLL char<TAB>tag file (BIO), for --tagger")
    parser.add_argument("--out", default="bench/results_bf16_accuracy.md")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--timing-passes", type=int, default=2,
                        help="passes over the test set per export (the first gives the outputs)")
    parser.add_argument("--workdir", help="where the exports go (default: a temporary folder, "
                                          "removed at the end)")
    args = parser.parse_args(argv)
    if bool(args.tagger) != bool(args.test_conll):
        parser.error("--tagger and --test-conll go together")

    start = time.perf_counter()
    cpu, vers = cpu_description(), versions()
    folder = args.workdir or tempfile.mkdtemp(prefix="bf16_accuracy_")
    try:
        classifier = evaluate_classifier(args, folder)
        tagger = evaluate_tagger(args, folder) if args.tagger else None
    finally:
        if not args.workdir:
            shutil.rmtree(folder, ignore_errors=True)
    text = render(args, cpu, vers, classifier, tagger, os.getloadavg(),
                  time.perf_counter() - start)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w", encoding="utf-8") as f:
        f.write(text)
    print(text)


if __name__ == "__main__":
    main()
