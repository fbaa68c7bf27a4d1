"""`kbk export` and `kbk predict`: `.keras` task model → TF Serving SavedModel → predictions."""

import argparse
import json
import sys

from keras_bert_kit.cli.arguments import number
from keras_bert_kit.cli.common import add_command
from keras_bert_kit.errors import UserError


def run_export(args):
    """Exports a `.keras` task model as a text-in SavedModel, with the serving checks."""
    from keras_bert_kit.export.saved_model import export_saved_model
    from keras_bert_kit.training.saving import load_model

    model = load_model(args.model)
    if args.labels:
        model.label_vocabulary = args.labels.split(",")
    report = export_saved_model(model, args.output, check=args.check,
                                pad_to_multiple_of=args.pad_to_multiple_of or None)
    print(report.summary())


def read_stdin_inputs(takes_pairs, model_dir):
    """Texts (and pairs, from `text<TAB>pair` lines) on standard input, one per line."""
    texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if not texts:
        raise UserError("give texts as arguments or on standard input, one per line")
    if not takes_pairs:
        return texts, None
    if not all("\t" in line for line in texts):
        raise UserError(f"{model_dir} takes pairs: give 'text<TAB>pair' lines")
    return ([line.split("\t", 1)[0] for line in texts],
            [line.split("\t", 1)[1] for line in texts])


def run_predict(args):
    """Prints one JSON line per text: decoded entities / answers / labels, or every raw output."""
    from keras_bert_kit.export.predict import ExportedModel

    model = ExportedModel(args.model)
    texts, pairs = args.texts, args.pair
    if not texts:
        texts, stdin_pairs = read_stdin_inputs(model.takes_pairs and pairs is None, args.model)
        pairs = pairs if stdin_pairs is None else stdin_pairs
    for row in model.rows(texts, pairs, raw=args.raw):
        print(json.dumps(row, ensure_ascii=False))


def register(subparsers):
    """Adds `export` and `predict` to `kbk`'s subcommands."""
    p = add_command(
        subparsers, "export", run_export,
        help="export a .keras task model as a text-in SavedModel")
    p.add_argument("--model", required=True, help="a .keras task model with a preprocessor")
    p.add_argument("--output", required=True, help="saved_models/<name>/<version>")
    p.add_argument("--labels", help="comma-separated label names (index = class id)")
    p.add_argument("--check", action=argparse.BooleanOptionalAction, default=True,
                   help="reload in a fresh process / TF1 loader / saved_model_cli and compare")
    p.add_argument("--pad-to-multiple-of", type=number(int, "non_negative"), default=8,
                   help="classifiers run each request at its longest text, rounded up to a "
                        "multiple of this (0: always the full sequence length)")

    p = add_command(
        subparsers, "predict", run_predict,
        help="run an exported SavedModel on texts (arguments or stdin)",
        description="Runs serving_default of an export and prints one JSON line per text: "
                    "classifiers their outputs, taggers the entities (text, type, str and UTF-8 "
                    "byte offsets; per-word tags when the tags are not BIO/BIOES), QA models the "
                    "answer and its score. Pair models (QA: question, then --pair context) take "
                    "--pair once per text, or 'text<TAB>pair' lines on standard input.")
    p.add_argument("--model", required=True,
                   help="SavedModel folder, e.g. saved_models/sentiment/1")
    p.add_argument("--pair", action="append", metavar="TEXT",
                   help="second text of a pair (QA: the context), once per text, in order "
                        "(several: give the --pair options before the texts)")
    p.add_argument("--raw", action="store_true",
                   help="print every serving_default output (per-token lists for taggers) "
                        "instead of entities / answers")
    p.add_argument("texts", nargs="*")
