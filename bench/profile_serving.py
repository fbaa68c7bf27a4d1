"""Where a served request spends its time: per-op-type totals of an export's `serving_default`.

Runs the export the way TF Serving does (the TF1 session loader, tf-text ops registered), traces
`--steps` requests with `RunOptions.FULL_TRACE`, and prints the share of time per op type
(MatMul, BatchMatMul, Softmax, Erf, Cast, ...) for each export given, side by side; used to see
why a bfloat16 export is or is not faster than float32 on a CPU.

    python bench/profile_serving.py --export f32=saved_models/s/1 --export bf16=saved_models/s/2 \\
        --texts sentiment/test.tsv --batch 1 --steps 50

Without `--texts`, requests are random words padded to the full sequence length.
"""

import argparse
import collections
import csv
import sys
import time

import numpy as np


def read_texts(path, limit=4096):
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE))
    column = rows[0].index("text") if "text" in rows[0] else -1
    return [r[column] for r in rows[1:limit + 1] if len(r) > abs(column)]


def profile(export_dir, batches, steps):
    """`({op type: seconds}, wall seconds per request)` over `steps` traced requests."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 - registers the tokenizer ops

    totals = collections.Counter()
    graph = tf.Graph()
    with tf.compat.v1.Session(graph=graph) as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        sig = meta.signature_def["serving_default"]
        feed_name = sig.inputs["text"].name
        fetch = sig.outputs["probabilities"].name
        op_types = {n.name: n.op for n in graph.as_graph_def().node}
        for fn in graph.as_graph_def().library.function:
            op_types.update({n.name: n.op for n in fn.node_def})
        for batch in batches[:5]:  # warm-up
            session.run(fetch, {feed_name: batch})
        walls = []
        for i in range(steps):
            batch = batches[i % len(batches)]
            start = time.perf_counter()
            session.run(fetch, {feed_name: batch})
            walls.append(time.perf_counter() - start)
        options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
        for i in range(steps):
            run_metadata = tf.compat.v1.RunMetadata()
            session.run(fetch, {feed_name: batches[i % len(batches)]}, options=options,
                        run_metadata=run_metadata)
            for device in run_metadata.step_stats.dev_stats:
                for node in device.node_stats:
                    name = node.node_name.split(":")[0]
                    kind = op_types.get(name) or node.timeline_label.split("=")[-1].split("(")[0].strip() or name
                    totals[kind] += (node.all_end_rel_micros or node.op_end_rel_micros) / 1e6
    return {k: v / steps for k, v in totals.items()}, float(np.median(walls))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--export", action="append", required=True, metavar="NAME=DIR")
    parser.add_argument("--texts", help="a TSV with a text column (default: random words)")
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--top", type=int, default=14)
    args = parser.parse_args(argv)
    rng = np.random.default_rng(0)
    if args.texts:
        texts = read_texts(args.texts)
    else:
        words = ["film", "plot", "great", "dull", "acting", "score", "the", "a", "was", "not"]
        texts = [" ".join(rng.choice(words, 200)) for _ in range(256)]
    batches = [np.array([t.encode() for t in texts[i:i + args.batch]], dtype=object)
               for i in range(0, len(texts) - args.batch + 1, args.batch)][:256]
    results = {}
    for item in args.export:
        name, _, path = item.partition("=")
        results[name] = profile(path, batches, args.steps)
    names = list(results)
    union = collections.Counter()
    for ops, _ in results.values():
        union.update(ops)
    print(f"batch {args.batch}, {args.steps} traced requests each; ms per request (share of the "
          "traced op time; ops overlap on 2+ threads, so shares of the sum, not of the wall)")
    print("| op | " + " | ".join(names) + " |")
    print("|---|" + "---|" * len(names))
    for op, _ in union.most_common(args.top):
        cells = []
        for name in names:
            ops = results[name][0]
            total = sum(ops.values())
            cells.append(f"{1e3 * ops.get(op, 0):.2f} ({100 * ops.get(op, 0) / total:.0f} %)")
        print(f"| {op} | " + " | ".join(cells) + " |")
    print("| sum of op times | " + " | ".join(
        f"{1e3 * sum(results[n][0].values()):.2f}" for n in names) + " |")
    print("| wall p50 (untraced) | " + " | ".join(
        f"{1e3 * results[n][1]:.2f}" for n in names) + " |")


if __name__ == "__main__":
    sys.exit(main())
