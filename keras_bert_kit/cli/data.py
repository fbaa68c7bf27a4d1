"""`kbk vocab` and `kbk pretrain-data`: thin commands over the vocabulary and records builders.

`build_vocabulary` (`text/vocabulary.py`) and `create_pretraining_data`
(`data/pretraining_data.py`) do the work.
"""

import argparse
import json
import pathlib

from keras_bert_kit.cli.arguments import number
from keras_bert_kit.cli.common import add_command
from keras_bert_kit.errors import UserError
from keras_bert_kit.files import expand_file_patterns

_POSITIVE = number(int, "positive")


def run_vocab(args):
    """Learns a WordPiece `vocab.txt` from text files; prints its size."""
    from keras_bert_kit.text.vocabulary import build_vocabulary

    files = [pathlib.Path(f) for f in expand_file_patterns(args.input, "--input")]
    vocabulary = build_vocabulary(files, vocab_size=args.vocab_size, lowercase=not args.cased,
                                  output=args.output, min_count=args.min_count)
    print(f"wrote {args.output}: {len(vocabulary)} tokens from {len(files)} file(s)")
    return vocabulary


def run_pretrain_data(args):
    """Writes Google-format MLM/NSP TFRecord shards from raw text; prints the statistics."""
    from keras_bert_kit.data.pretraining_data import create_pretraining_data

    result = create_pretraining_data(
        args.input, args.vocab, args.output, max_seq_length=args.max_seq_length,
        max_predictions_per_seq=args.max_predictions_per_seq, masked_lm_prob=args.masked_lm_prob,
        short_seq_prob=args.short_seq_prob, dupe_factor=args.dupe_factor,
        whole_word_mask=args.whole_word_mask, do_lower_case=args.do_lower_case, seed=args.seed,
        num_shards=args.num_shards, gzip=args.gzip, num_workers=args.num_workers,
        overwrite=args.overwrite, runner=args.runner,
        pipeline_options=_pipeline_options(args),
        random_next_pool_tokens=args.random_next_pool_tokens)
    stats = {k: v for k, v in result.stats.items()
             if k not in ("arguments", "shards", "shard_records", "shard_masked_fractions")}
    print(json.dumps({"shards": result.shards, **stats}, indent=2))
    return result


def _pipeline_options(args):
    """Beam's own flags (`--project=p --region=r`: those `kbk` does not know); None locally."""
    options = list(getattr(args, "unknown_flags", None) or [])
    if options and args.runner == "local":
        raise UserError(f"Beam pipeline options {' '.join(options)!r} given, but --runner is "
                        "local (pass --runner DirectRunner|DataflowRunner|FlinkRunner|SparkRunner)")
    return options or None


def register(subparsers):
    """Adds `vocab` and `pretrain-data` to `kbk`'s subcommands."""
    p = add_command(subparsers, "vocab", run_vocab,
                    help="build a WordPiece vocabulary from text files (tensorflow-text)")
    p.add_argument("--input", nargs="+", required=True,
                   help="UTF-8 text files, folders or glob patterns")
    p.add_argument("--vocab-size", type=_POSITIVE, default=30522, help="largest vocabulary size")
    p.add_argument("--output", required=True, help="the vocab.txt to write")
    p.add_argument("--cased", action="store_true", help="keep case and accents (default: uncased)")
    p.add_argument("--min-count", type=_POSITIVE,
                   help="rarest word-piece count considered (default 10)")

    p = add_command(subparsers, "pretrain-data", run_pretrain_data,
                    help="raw text → Google-format MLM/NSP TFRecords")
    add = p.add_argument
    add("--input", nargs="+", required=True, help="text files, folders or glob patterns")
    add("--vocab", required=True, help="WordPiece vocab.txt")
    add("--output", required=True, help="folder for the TFRecord shards")
    add("--max-seq-length", type=_POSITIVE, default=128)
    add("--max-predictions-per-seq", type=_POSITIVE, default=20)
    add("--masked-lm-prob", type=number(float, "fraction"), default=0.15)
    add("--short-seq-prob", type=number(float, "fraction"), default=0.1)
    add("--dupe-factor", type=_POSITIVE, default=10)
    add("--whole-word-mask", action="store_true")
    add("--do-lower-case", action=argparse.BooleanOptionalAction, default=True)
    add("--seed", type=int, default=12345)
    add("--num-shards", type=_POSITIVE, help="default: one per 100,000 instances")
    add("--num-workers", type=_POSITIVE, default=2)
    add("--gzip", action="store_true")
    add("--overwrite", action="store_true", help="replace the shards of an earlier run")
    add("--runner", default="local",
        choices=["local", "DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner",
                 "PortableRunner"],
        help="local: this machine, bounded memory (default); a Beam runner: the same records "
             "from an Apache Beam pipeline (pip install 'keras-bert-kit[beam]'); flags kbk "
             "does not know (--project=..., --region=..., --direct_num_workers=...) go to Beam")
    add("--random-next-pool-tokens", type=_POSITIVE, default=10_000_000,
        help="size of the seeded corpus sample that NSP's random next segments come from")
    p.set_defaults(passes_unknown_flags=True)
