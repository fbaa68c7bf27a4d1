"""`kbk`: the command line — demo, vocab, pretrain-data, pretrain, finetune, export, predict, ...

Each command parses flags and calls the package; the training commands' flags are generated
from the training dataclasses (`cli/arguments.py`, `training/config.py`). One error style:
a mistake the user can fix (`UserError`, a missing file, a bad flag value) prints one line,
`kbk <command>: error: <message>`, and exits with status 2; `--debug` shows the traceback.
TensorFlow is imported only when a command runs (never for `--help`), with its log lines
silenced unless `--verbose` (`kbk --verbose <command>`, or after the command) or `--debug`.

Example:
>>> args = build_parser().parse_args(["finetune", "classify", "--train", "t.tsv",
...                                   "--dev", "d.tsv", "--init", "m/", "--epochs", "1"])
>>> args.task, args.epochs
('classify', 1)
"""

import os
import sys

from keras_bert_kit.cli import checkpoints, data, demo, serve, train
from keras_bert_kit.cli.common import (VERBOSE_HELP, CommandParser, fail, quiet_tensorflow,
                                       user_error_message)

# TensorFlow leaves its oneDNN optimizations off on AVX2 CPUs; there, turned on, they serve
# faster, while the pretraining step's result was mixed (bench/results_cpu_paths.md). So the
# commands that serve turn them on unless the user set TF_ENABLE_ONEDNN_OPTS (the export's
# checks run in child processes, which inherit it). A bfloat16 export keeps TF's default: its
# oneDNN path on an AVX2-only CPU is unmeasured (and under emulation has no kernel).
ONEDNN_COMMANDS = ("export", "predict", "embed")


def _serves_with_onednn(args):
    """Whether `kbk`'s command turns oneDNN on by default (see ONEDNN_COMMANDS)."""
    return (args.command in ONEDNN_COMMANDS
            and str(getattr(args, "precision", "float32")).lower() not in ("bf16", "bfloat16"))


def build_parser():
    """The `kbk` argument parser (building it imports neither TensorFlow nor Keras)."""
    parser = CommandParser(prog="kbk", description="keras-bert-kit's command line: train, export "
                                                   "and serve BERT models (kbk COMMAND --help).")
    parser.add_argument("--debug", action="store_true",
                        help="show the traceback of an error, and TensorFlow's logs")
    parser.add_argument("--verbose", dest="tensorflow_logs", action="store_true",
                        help=VERBOSE_HELP)
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for module in (demo, data, train, serve, checkpoints):
        module.register(subparsers)
    return parser


def main(argv=None):
    """Runs `kbk` with `argv` (default: the command line); the outputs are files and stdout.

    Returns None, the exit status 0 of the `kbk` script (`sys.exit(main())`).

    Raises:
        SystemExit: status 2 after a one-line error (argparse or a user's mistake).
    """
    parser = build_parser()
    args, unknown = parser.parse_known_args(argv)
    if unknown and not getattr(args, "passes_unknown_flags", False):
        parser.parse_args(argv)  # the usual one-line "unrecognized arguments" error, status 2
    args.unknown_flags = [flag for flag in unknown if flag != "--"]
    if _serves_with_onednn(args) and "tensorflow" not in sys.modules:
        os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")  # read when TensorFlow is imported
    try:
        if getattr(args, "prepare", None):
            args.prepare(args)  # settings checks that need no TensorFlow: fail fast
        if not (args.debug or args.tensorflow_logs):
            quiet_tensorflow()
        args.func(args)
    except Exception as error:
        message = user_error_message(error)
        if args.debug or message is None:
            raise
        fail(args.command_prog, message)
