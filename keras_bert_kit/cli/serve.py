"""`kbk export` and `kbk predict`: `.keras` task model → TF Serving SavedModel → predictions.

`kbk export` checks its paths before any work and never replaces an existing version without
`--overwrite` (`export.saved_model`). `kbk predict` reads standard input as bytes, one text per
line (`\n`; a trailing `\r` is dropped), and prints exactly one JSON line per input line, in
order: invalid UTF-8 is read as U+FFFD (as the exported graph reads it), and an empty line is
the empty text and gets that text's answer. Lines go to the model in batches (`--batch-size`
lines, at most about 4 MB), so a long file with long lines runs in bounded memory.
"""

import argparse
import json
import os
import sys

from keras_bert_kit.cli.arguments import number
from keras_bert_kit.cli.common import add_command
from keras_bert_kit.errors import UserError

# A batch of standard input lines closes at --batch-size lines or at this many bytes.
BATCH_BYTES = 4 << 20


def prepare_export(args):
    """Checks `kbk export`'s paths before any work: the model exists; the output is free (or
    `--overwrite`)."""
    from keras_bert_kit.export.versions import check_export_target

    if not os.path.exists(args.model):
        raise UserError(f"{args.model}: no such file or folder (give the .keras task model that "
                        "fine-tuning wrote, e.g. runs/sentiment/model.keras, or a checkpoint "
                        "folder)")
    check_export_target(args.output, args.overwrite)


def run_export(args):
    """Exports a `.keras` task model or a checkpoint folder as a text-in SavedModel, with the
    serving checks."""
    from keras_bert_kit.cli.checkpoints import load_model_to_export
    from keras_bert_kit.export.precision import bf16_cpu_note, cpu_bf16_features
    from keras_bert_kit.export.saved_model import export_saved_model

    model = load_model_to_export(args.model, task=args.task)
    if args.labels:
        model.label_vocabulary = args.labels.split(",")
    if args.precision == "bfloat16" and not cpu_bf16_features():
        print(f"kbk export: warning: {bf16_cpu_note([])}", file=sys.stderr)
    report = export_saved_model(model, args.output, check=args.check, overwrite=args.overwrite,
                                pad_to_multiple_of=args.pad_to_multiple_of or None,
                                precision=args.precision)
    print(report.summary())


def stdin_lines(stream=None):
    """`(line number, bytes)` of each line of standard input (read as bytes), end of line off.

    Example:
    >>> import io
    >>> list(stdin_lines(io.BytesIO(b"good\\r\\n\\nbad \\xff")))
    [(1, b'good'), (2, b''), (3, b'bad \\xff')]
    """
    if stream is None:
        stream = getattr(sys.stdin, "buffer", sys.stdin)
    for number, line in enumerate(stream, 1):
        if isinstance(line, str):  # a text stream (tests, embedding): back to its bytes
            line = line.encode("utf-8", "surrogateescape")
        yield number, line.rstrip(b"\n").rstrip(b"\r")


def batches(lines, max_lines, max_bytes=BATCH_BYTES):
    """Groups `(number, bytes)` lines into lists of at most `max_lines` lines / ~`max_bytes`.

    Example:
    >>> [len(b) for b in batches(((i, b"x" * 10) for i in range(5)), 2, max_bytes=25)]
    [2, 2, 1]
    """
    batch, size = [], 0
    for number, line in lines:
        if batch and (len(batch) == max_lines or size + len(line) > max_bytes):
            yield batch
            batch, size = [], 0
        batch.append((number, line))
        size += len(line)
    if batch:
        yield batch


def split_pairs(batch, takes_pairs):
    """A batch's texts, and its pairs from `text<TAB>pair` lines (pair models; else None).

    An empty line of a pair model is the empty pair; any other line needs its TAB.
    """
    if not takes_pairs:
        return [line for _, line in batch], None
    texts, pairs = [], []
    for number, line in batch:
        if line and b"\t" not in line:
            raise UserError(f"<stdin>:{number}: no TAB in this line (the model takes pairs: "
                            "give 'text<TAB>pair' lines; QA: 'question<TAB>context')")
        text, _, pair = line.partition(b"\t")
        texts.append(text)
        pairs.append(pair)
    return texts, pairs


def predict_batches(args, model):
    """`(texts, pairs)` batches of the arguments or of standard input."""
    if args.texts:
        yield args.texts, args.pair
        return
    if args.pair is not None:
        raise UserError("--pair goes with texts given as arguments (on standard input give "
                        "'text<TAB>pair' lines)")
    for batch in batches(stdin_lines(), args.batch_size):
        yield split_pairs(batch, model.takes_pairs)


def run_predict(args):
    """Prints one JSON line per text: decoded entities / answers / labels, or every raw output."""
    from keras_bert_kit.export.predict import ExportedModel

    if not args.texts and sys.stdin.isatty():
        raise UserError("give texts as arguments or on standard input, one per line (e.g. "
                        "kbk predict --model M < texts.txt)")
    model = ExportedModel(args.model)
    out = getattr(sys.stdout, "buffer", None)
    try:
        for texts, pairs in predict_batches(args, model):
            rows = model.rows(texts, pairs, raw=args.raw)
            lines = "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows)
            if out is None:
                sys.stdout.write(lines)
            else:
                out.write(lines.encode("utf-8"))
            sys.stdout.flush()
    except BrokenPipeError:  # `kbk predict ... | head`: the reader has what it wanted
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


def register(subparsers):
    """Adds `export` and `predict` to `kbk`'s subcommands."""
    p = add_command(
        subparsers, "export", run_export,
        help="export a .keras task model as a text-in SavedModel")
    p.add_argument("--model", required=True,
                   help="a .keras task model with a preprocessor, or a Hugging Face / Google "
                        "checkpoint folder (its head, id2label labels and vocab.txt)")
    # No `choices`: the task names are the task models' `task_name`s, known once their modules
    # are imported (TensorFlow), which `kbk export --help` does not do; a wrong name is a
    # UserError of `models.task_registry.task_class` naming the known ones.
    p.add_argument("--task",
                   help="the task of a checkpoint folder, a task model's task_name (e.g. "
                        "classify, tag, squad; default: from config.json architectures, or the "
                        "head its weights hold)")
    p.add_argument("--output", required=True, help="saved_models/<name>/<version>")
    p.add_argument("--labels", help="comma-separated label names (index = class id)")
    p.add_argument("--overwrite", action="store_true",
                   help="replace an export already in --output (the old one stays until the "
                        "new one passed its checks)")
    p.add_argument("--check", action=argparse.BooleanOptionalAction, default=True,
                   help="reload in a fresh process / TF1 loader / saved_model_cli and compare")
    p.add_argument("--pad-to-multiple-of", type=number(int, "non_negative"), default=8,
                   help="classifiers run each request at its longest text, rounded up to a "
                        "multiple of this (0: always the full sequence length)")
    p.add_argument("--precision", choices=("float32", "bfloat16", "bf16"), default="float32",
                   type=lambda v: {"bf16": "bfloat16"}.get(v.lower(), v.lower()),
                   help="bfloat16: backbone weights and matmuls in bfloat16, for serving on CPUs "
                        "with AVX512-BF16 or AMX (same inputs, float32 outputs; checked against "
                        "float32; see docs/serving.md)")
    p.set_defaults(prepare=prepare_export)

    p = add_command(
        subparsers, "predict", run_predict,
        help="run an exported SavedModel on texts (arguments or stdin)",
        description="Runs serving_default of an export and prints one JSON line per text: "
                    "classifiers their outputs, taggers the entities (text, type, str and UTF-8 "
                    "byte offsets; per-word tags when the tags are not BIO/BIOES), QA models the "
                    "answer and its score. Pair models (QA: question, then --pair context) take "
                    "--pair once per text, or 'text<TAB>pair' lines on standard input. "
                    "Standard input is read as bytes: one answer per line, empty lines "
                    "included (the empty text's answer), invalid UTF-8 read as U+FFFD.")
    p.add_argument("--model", required=True,
                   help="SavedModel folder, e.g. saved_models/sentiment/1")
    p.add_argument("--pair", action="append", metavar="TEXT",
                   help="second text of a pair (QA: the context), once per text, in order "
                        "(several: give the --pair options before the texts)")
    p.add_argument("--raw", action="store_true",
                   help="print every serving_default output (per-token lists for taggers) "
                        "instead of entities / answers")
    p.add_argument("--batch-size", type=number(int, "positive"), default=64,
                   help="standard input lines per call of the model (default: 64)")
    p.add_argument("texts", nargs="*")
