"""The fault catalog: bad inputs and killed runs as a user brings them, and what `kbk` answers.

Each `Fault` makes its bad input for real (files with the bad bytes, a process killed with
SIGKILL), runs it (mostly `kbk` in this process, through `cli.main`; a few as real processes)
and returns an `Outcome`: the one line the user sees, the exit status, and what is on disk.
`tests/faults/test_faults.py` asserts every case; `tests/faults/make_table.py` runs them all and
writes `docs/faults.md`. Cases marked `table_only` record how a concern owned elsewhere behaves
today (checkpoints); their assertions live with that concern's tests.
"""

import contextlib
import dataclasses
import gzip
import io
import json
import os
import pathlib
import signal
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parents[2]
KBK = [sys.executable, "-m", "keras_bert_kit.cli"]
TINY_FLAGS = ["--epochs", "1", "--batch-size", "8", "--sequence-length", "8",
              "--learning-rate", "1e-3", "--no-jit-compile", "--verbose", "0"]


@dataclasses.dataclass
class Outcome:
    message: str          # the one line the user reads (stderr's error line, or a summary)
    code: int             # exit status (in-process: SystemExit's code; 1 for an uncaught error)
    disk: str             # what is left on disk
    stdout: str = ""
    stderr: str = ""


@dataclasses.dataclass
class Fault:
    id: str
    group: str
    given: str            # what the user brought
    run: object           # fn(world) -> Outcome
    expect: str           # regex searched in the message
    code: int
    disk: str = ""        # regex searched in the disk description ("" : anything)
    slow: bool = False
    table_only: bool = False


FAULTS = []


def fault(id, group, given, expect, code=2, disk="", slow=False, table_only=False):
    def register(fn):
        FAULTS.append(Fault(id, group, given, fn, expect, code, disk, slow, table_only))
        return fn
    return register


# ------------------------------------------------------------------------------ the world


class World:
    """Shared, lazily built material: a tiny BERT folder, data files, a `.keras` model, exports."""

    def __init__(self, root):
        self.root = pathlib.Path(root)
        self._built = {}

    def _once(self, key, build):
        if key not in self._built:
            self._built[key] = build()
        return self._built[key]

    @property
    def tiny(self):
        from tests.training.runner_fixtures import make_tiny_classification

        return self._once("tiny", lambda: make_tiny_classification(self.root / "tiny"))

    def keras_model(self, name="single"):
        def build():
            from keras_bert_kit.models.bert_classifier import BertClassifier

            model = BertClassifier.from_pretrained(
                self.tiny["init"], num_classes=2, sequence_length=8,
                label_vocabulary=["neg", "pos"], text_inputs=2 if name == "pair" else 1)
            path = self.root / f"{name}.keras"
            model.save(path)
            return path
        return self._once(f"keras-{name}", build)

    def export(self, name="single"):
        def build():
            path = self.root / "exports" / name / "1"
            out = kbk(["export", "--model", str(self.keras_model(name)), "--output", str(path),
                       "--no-check"])
            assert out.code == 0, out.stderr
            return path
        return self._once(f"export-{name}", build)

    @property
    def finetune(self):
        """Tiny data for `kbk finetune` runs that are killed and resumed."""
        from tests.training.finetune_resume_fixtures import make_finetune_data

        return self._once("finetune", lambda: make_finetune_data(self.root / "finetune"))

    def finished_run(self):
        """A finished `kbk finetune classify` run (in this process)."""
        def build():
            from tests.training.finetune_resume_fixtures import finetune_argv

            output = self.root / "finished"
            out = kbk(finetune_argv("classify", self.finetune, output))
            assert out.code == 0, out.stderr
            return output
        return self._once("finished", build)

    def killed_run(self):
        """A `kbk finetune classify` process stopped by SIGTERM after its first backup."""
        def build():
            from tests.training.finetune_resume_fixtures import (CLASSIFY_BATCHES, EPOCHS,
                                                                 finetune_argv, kill_at_random,
                                                                 start_kbk)

            output = self.root / "killed"
            process = start_kbk(finetune_argv("classify", self.finetune, output),
                                self.root / "killed.log")
            _, code = kill_at_random(process, output, signal.SIGTERM, 0,
                                     EPOCHS * CLASSIFY_BATCHES)
            assert code == 143, (self.root / "killed.log").read_text()[-2000:]
            return output
        return self._once("killed", build)

    def case_dir(self, id):
        folder = self.root / "cases" / id
        folder.mkdir(parents=True, exist_ok=True)
        return folder


# ------------------------------------------------------------------------------ running kbk


def one_line(stderr):
    lines = [line for line in stderr.splitlines() if line.strip()]
    if not lines:
        return ""
    if any(line.startswith("Traceback") for line in lines):
        return f"(a {len(lines)}-line traceback) {lines[-1]}"
    return lines[-1] if len(lines) == 1 else " / ".join(lines)


def kbk(argv, stdin=b""):
    """Runs `kbk argv` in this process with `stdin` bytes; captures its output and status."""
    from keras_bert_kit import cli

    out, err = io.TextIOWrapper(io.BytesIO(), encoding="utf-8"), io.StringIO()
    saved_stdin = sys.stdin
    sys.stdin = io.TextIOWrapper(io.BytesIO(stdin), encoding="utf-8")
    try:
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            try:
                cli.main([str(a) for a in argv])
                code = 0
            except SystemExit as exit:
                code = exit.code if isinstance(exit.code, int) else 1
            except Exception:  # an internal error: what the user would see is its traceback
                import traceback

                traceback.print_exc(file=err)
                code = 1
    finally:
        sys.stdin = saved_stdin
    out.flush()
    stdout = out.buffer.getvalue().decode("utf-8", "replace")
    stderr = err.getvalue()
    return Outcome(one_line(stderr), code, "", stdout, stderr)


def kbk_process(argv, stdin=b"", cwd=None, timeout=300):
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run([*KBK, *map(str, argv)], input=stdin, capture_output=True, env=env,
                          cwd=cwd or REPO, timeout=timeout)
    stdout, stderr = done.stdout.decode("utf-8", "replace"), done.stderr.decode("utf-8", "replace")
    return Outcome(one_line(stderr), done.returncode, "", stdout, stderr)


def listing(path, root):
    """What is at `path` (relative to `root`): absent, a file's size, or a folder's entries."""
    path = pathlib.Path(path)
    name = os.path.relpath(path, root)
    if not path.exists():
        return f"{name}: absent"
    if path.is_file():
        return f"{name}: {path.stat().st_size} bytes"
    entries = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
    return f"{name}/: " + (", ".join(entries) if entries else "empty")


def with_disk(outcome, disk):
    outcome.disk = disk
    return outcome


# ------------------------------------------------------------------------------ flags


def _flag_case(id, argv, given, expect):
    fault(id, "flags", given, expect, disk="nothing written")(
        lambda world: with_disk(kbk(argv), "nothing written"))


for _id, _argv, _given, _expect in [
    ("batch-size-0", ["finetune", "classify", "--train", "t", "--dev", "d", "--init", "m",
                      "--batch-size", "0"], "`--batch-size 0`",
     r"^kbk finetune classify: error: argument --batch-size: expected a positive number, not 0$"),
    ("epochs-negative", ["finetune", "tag", "--train", "t", "--dev", "d", "--init", "m",
                         "--epochs", "-2"], "`--epochs -2`",
     r"argument --epochs: expected a positive number, not -2"),
    ("rate-not-number", ["finetune", "squad", "--train", "t", "--dev", "d", "--init", "m",
                         "--learning-rate", "x"], "`--learning-rate x`",
     r"argument --learning-rate: expected a number, not 'x'"),
    ("bad-choice", ["finetune", "classify", "--pooling", "max"], "`--pooling max`",
     r"argument --pooling: invalid choice: 'max'"),
    ("unknown-flag", ["pretrain", "--train-files", "a", "--bogus"], "`--bogus`",
     r"^kbk: error: unrecognized arguments: --bogus$"),
    ("missing-required", ["finetune", "tag", "--dev", "d"], "no `--init`, `--train`",
     r"give --init, --train"),
    ("pretrain-preset-or-init", ["pretrain", "--train-files", "a", "--vocab", "v", "--output",
                                 "o"], "neither `--preset` nor `--init`",
     r"exactly one of preset= .* and init="),
    ("predict-batch-size-0", ["predict", "--model", "m", "--batch-size", "0"],
     "`kbk predict --batch-size 0`", r"argument --batch-size: expected a positive number"),
    ("export-pad-negative", ["export", "--model", "m", "--output", "o",
                             "--pad-to-multiple-of", "-1"], "`kbk export --pad-to-multiple-of -1`",
     r"argument --pad-to-multiple-of: expected"),
    ("vocab-size-0", ["vocab", "--input", "a.txt", "--output", "v.txt", "--vocab-size", "0"],
     "`kbk vocab --vocab-size 0`", r"argument --vocab-size"),
]:
    _flag_case(_id, _argv, _given, _expect)


@fault("sequence-length-beyond-model", "flags", "`--sequence-length 64` on a 16-position model",
       r"sequence_length=64 is more than the 16 positions", disk=r"run: absent")
def _(world):
    out = world.case_dir("sequence-length-beyond-model") / "run"
    flags = TINY_FLAGS[:5] + ["64"] + TINY_FLAGS[6:]
    outcome = kbk(["finetune", "classify", "--train", world.tiny["train"], "--dev",
                   world.tiny["dev"], "--init", world.tiny["init"], "--output", out, *flags])
    return with_disk(outcome, listing(out, out.parent))


@fault("yaml-unknown-key", "flags", "a `--config` YAML with `bach_size:`",
       r"run\.yaml: unknown key 'bach_size'", disk="nothing written")
def _(world):
    config = world.case_dir("yaml-unknown-key") / "run.yaml"
    config.write_text("train_files: a\nbach_size: 8\n")
    return with_disk(kbk(["pretrain", "--config", config]), "nothing written")


# ------------------------------------------------------------------------------ paths


@fault("train-file-missing", "paths", "`--train missing.tsv`",
       r"missing\.tsv: No such file or directory", disk=r"run: absent")
def _(world):
    folder = world.case_dir("train-file-missing")
    outcome = kbk(["finetune", "classify", "--train", folder / "missing.tsv", "--dev",
                   world.tiny["dev"], "--init", world.tiny["init"], "--output", folder / "run",
                   *TINY_FLAGS])
    return with_disk(outcome, listing(folder / "run", folder))


@fault("predict-no-export", "paths", "`kbk predict --model no/such/export`",
       r"no/such/export: no such folder; give the SavedModel version folder",
       disk="nothing written")
def _(world):
    return with_disk(kbk(["predict", "--model", "no/such/export", "x"]), "nothing written")


@fault("predict-not-an-export", "paths", "`kbk predict --model` a folder without saved_model.pb",
       r"no saved_model\.pb in it", disk="nothing written")
def _(world):
    folder = world.case_dir("predict-not-an-export")
    return with_disk(kbk(["predict", "--model", folder, "x"]), "nothing written")


@fault("export-model-missing", "paths", "`kbk export --model missing.keras`",
       r"missing\.keras: no such file or folder \(give the \.keras task model",
       disk=r"out: absent")
def _(world):
    folder = world.case_dir("export-model-missing")
    outcome = kbk(["export", "--model", folder / "missing.keras", "--output", folder / "out/1"])
    return with_disk(outcome, listing(folder / "out", folder))


@fault("export-output-is-a-file", "paths", "`kbk export --output` an existing file",
       r"out: not a folder", disk=r"out: 5 bytes")
def _(world):
    folder = world.case_dir("export-output-is-a-file")
    (folder / "out").write_text("hello")
    outcome = kbk(["export", "--model", world.keras_model(), "--output", folder / "out"])
    return with_disk(outcome, listing(folder / "out", folder))


# ------------------------------------------------------------------------------ classification data


def _classify(id, given, train, expect, dev=None, flags=(), name="train.tsv"):
    @fault(id, "classification data", given, expect, disk="no model.keras")
    def _(world):
        folder = world.case_dir(id)
        train_path = folder / name
        train_path.write_bytes(train if isinstance(train, bytes) else train.encode())
        dev_path = world.tiny["dev"]
        if dev is not None:
            dev_path = folder / "dev.tsv"
            dev_path.write_bytes(dev.encode())
        out = folder / "run"
        outcome = kbk(["finetune", "classify", "--train", train_path, "--dev", dev_path,
                       "--init", world.tiny["init"], "--output", out, *TINY_FLAGS, *flags])
        left = "no model.keras" if not (out / "model.keras").exists() else "model.keras written"
        return with_disk(outcome, f"{listing(out, folder)} ({left})")


_HEADER = "text\tlabel\n"
for _args in [
    ("one-class", "a training TSV where every label is `pos`",
     _HEADER + "a good film\tpos\na great movie\tpos\n",
     r"train\.tsv:2: every example is labelled 'pos'; a classifier needs at least two classes"),
    ("label-1-vs-1.0", "labels `0`, `1` and one `1.0`",
     _HEADER + "a good film\t1\na bad film\t0\na great movie\t1.0\n",
     r"train\.tsv:4: label '1\.0' and label '1' \(line 2\) are the same number"),
    ("stray-word-label", "labels `0`/`1` and one `positive`",
     _HEADER + "a good film\t1\na bad film\t0\na great movie\tpositive\na dull film\t0\n",
     r"train\.tsv:4: label 'positive' among labels like '1' \(line 2\): the label column mixes"),
    ("ragged-row", "a row with a stray TAB (3 fields)",
     _HEADER + "a good\tfilm\tpos\na bad film\tneg\n",
     r"train\.tsv:2: expected 2 fields separated by '\\t', found 3"),
    ("empty-train-file", "an empty training file", "", r"train\.tsv:1: the file is empty"),
    ("header-only", "a header and no examples", _HEADER,
     r"train\.tsv:1: no examples after the header"),
    ("latin1-bytes", "Latin-1 bytes (`caf\\xe9`) in a UTF-8 file",
     _HEADER.encode() + b"a good film\tpos\ncaf\xe9 film\tneg\n",
     r"train\.tsv:3: not utf-8-sig text \(byte b'\\xe9'"),
    ("empty-label", "a row with an empty label", _HEADER + "a good film\tpos\na bad film\t \n",
     r"train\.tsv:3: missing or empty label"),
    ("no-such-column", "no `label` column in the header", "text\tsentiment\na good film\tpos\n",
     r"train\.tsv:1: no column 'label'; available columns: 0='text', 1='sentiment'"),
    ("dev-label-unseen", "a dev label absent from training (`meh`)",
     _HEADER + "a good film\tpos\na bad film\tneg\n",
     r"dev\.tsv:3: label 'meh' is not in the label vocabulary \['neg', 'pos'\]",
     _HEADER + "a good film\tpos\na film\tmeh\n"),
    ("dev-label-respelled", "training labels `0`/`1`, a dev label `1.0`",
     _HEADER + "a good film\t1\na bad film\t0\n",
     r"dev\.tsv:3: label '1\.0' is not in the label vocabulary .* training file writes this "
     r"class '1'", _HEADER + "a good film\t1\na great film\t1.0\n"),
    ("csv-unclosed-quote", "a CSV with an unclosed quote",
     "text,label\n\"a good film,pos\na bad film,neg\n", r"train\.csv:2: unexpected end of data",
     None, (), "train.csv"),
    ("jsonl-invalid", "a JSONL line that is not JSON",
     '{"text": "a good film", "label": "pos"}\n{"text": "oops", "label": "neg"\n',
     r"train\.jsonl:2: invalid JSON", None, (), "train.jsonl"),
    ("jsonl-missing-field", "a JSONL line without `label`",
     '{"text": "a good film", "label": "pos"}\n{"text": "no label"}\n',
     r"train\.jsonl:2: no field 'label'", None, (), "train.jsonl"),
    ("unknown-suffix", "a training file named `train.txt`", "a good film\tpos\n",
     r"train\.txt: cannot tell the format from the suffix '\.txt'", None, (), "train.txt"),
    ("regression-word", "`--task regression` with a label `high`",
     _HEADER + "a good film\t4.5\na bad film\thigh\n",
     r"train\.tsv:3: regression label 'high' is not a number", None, ("--task", "regression")),
]:
    _classify(*_args)


# ------------------------------------------------------------------------------ CoNLL data


def _conll(id, given, train, expect, dev=None, flags=()):
    @fault(id, "CoNLL data", given, expect, disk="no model.keras")
    def _(world):
        folder = world.case_dir(id)
        train_path = folder / ("train.conll.gz" if isinstance(train, tuple) else "train.conll")
        if isinstance(train, tuple):  # (gzip bytes) truncated
            train_path.write_bytes(train[0])
        else:
            train_path.write_bytes(train if isinstance(train, bytes) else train.encode())
        dev_path = train_path
        if dev is not None:
            dev_path = folder / "dev.conll"
            dev_path.write_text(dev)
        out = folder / "run"
        outcome = kbk(["finetune", "tag", "--train", train_path, "--dev", dev_path,
                       "--init", world.tiny["init"], "--output", out, *TINY_FLAGS, *flags])
        left = "no model.keras" if not (out / "model.keras").exists() else "model.keras written"
        return with_disk(outcome, f"{listing(out, folder)} ({left})")


_CONLL = "EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP B-MISC\n\n"
for _args in [
    ("conll-missing-ner-column", "a CoNLL-2003 file whose NER column is missing on one line",
     _CONLL + "Peter NNP B-NP\nBlackburn NNP I-NP I-PER\n",
     r"train\.conll:5: 3 columns, fewer than the 4 of line 1 \(the tag is the last column, so "
     r"its tag would be 'B-NP'"),
    ("conll-extra-column", "a line with an extra column", _CONLL + "Peter NNP B-NP B-PER x\n",
     r"train\.conll:5: 5 columns, more than the 4 of line 1"),
    ("conll-no-tag", "a line with a word and no tag", "Jane B-PER\nleft O\n\nRome\n",
     r"train\.conll:4: no tag column in 'Rome'"),
    ("conll-bad-tag", "a tag `X-LOC`", "Jane B-PER\nRome X-LOC\n",
     r"train\.conll:2: tag 'X-LOC' is neither 'O' nor B-/I-/E-/S-<TYPE>"),
    ("conll-bioes-in-bio", "an `E-PER` tag with `--scheme BIO`", "Jane B-PER\nDoe E-PER\n",
     r"train\.conll:2: tag 'E-PER' is not a BIO tag", None, ("--scheme", "BIO")),
    ("conll-only-docstart", "only `-DOCSTART-` and blank lines", "-DOCSTART- O\n\n\n",
     r"train\.conll: no sentences, only blank or -DOCSTART- lines"),
    ("conll-latin1", "Latin-1 bytes in a CoNLL file", b"Jane B-PER\n\nZo\xeb B-PER\n",
     r"train\.conll:3: not utf-8 text"),
    ("conll-dev-tag-unseen", "a dev tag type absent from training (`B-LOC`)",
     "Jane B-PER\nleft O\n", r"dev\.conll:1: tag 'B-LOC' is not in the label vocabulary",
     "Rome B-LOC\n"),
    ("conll-truncated-gzip", "a truncated `.gz` CoNLL file",
     (gzip.compress(("Jane B-PER\nleft O\n\n" * 200).encode())[:60],),
     r"train\.conll\.gz: cannot read"),
]:
    _conll(*_args)


# ------------------------------------------------------------------------------ predict


def _rows(outcome):
    return [json.loads(line) for line in outcome.stdout.splitlines()]


def _answers(outcome, lines):
    if outcome.code:
        return outcome
    rows = _rows(outcome)
    texts = [r.get("text", r.get("question")) for r in rows[:3]]
    texts = [t if len(t) <= 40 else f"{t[:30]}... ({len(t)} characters)" for t in texts]
    outcome.message = (f"{len(rows)} JSON lines for {lines} input lines; texts {texts!r}"
                       + ("..." if len(rows) > 3 else ""))
    return with_disk(outcome, "nothing written")


for _id, _given, _stdin, _count, _expect in [
    ("stdin-invalid-utf8", "stdin `good\\nbad \\xff movie\\n`", b"good\nbad \xff movie\n", 2,
     r"^2 JSON lines for 2 input lines; texts \['good', 'bad \ufffd movie'\]"),
    ("stdin-empty-lines", "stdin with empty lines `a\\n\\n\\nb\\n`", b"a\n\n\nb\n", 4,
     r"^4 JSON lines for 4 input lines; texts \['a', '', ''\]"),
    ("stdin-crlf", "Windows line ends `a\\r\\nb\\r\\n`", b"a\r\nb\r\n", 2,
     r"^2 JSON lines for 2 input lines; texts \['a', 'b'\]"),
    ("stdin-no-final-newline", "no newline after the last line", b"a good film\nthe end", 2,
     r"^2 JSON lines for 2 input lines"),
    ("stdin-nul-bytes", "NUL bytes in a line", b"a \x00 film\n", 1,
     r"^1 JSON lines for 1 input lines"),
    ("stdin-lone-continuation", "truncated UTF-8 (`\\xc3`, `\\xe2\\x82`)", b"\xc3\n\xe2\x82 x\n",
     2, r"^2 JSON lines for 2 input lines; texts \['\ufffd', '\ufffd x'\]"),
    ("stdin-empty", "empty stdin", b"", 0, r"^0 JSON lines for 0 input lines"),
    ("stdin-1mb-line", "one 1 MB line", b"good film \xff " * 90000 + b"\n", 1,
     r"^1 JSON lines for 1 input lines"),
]:
    fault(_id, "predict input", _given, _expect, code=0, disk="nothing written")(
        lambda world, stdin=_stdin, count=_count: _answers(
            kbk(["predict", "--model", world.export()], stdin), count))


@fault("stdin-pair-without-tab", "predict input", "a pair model, a stdin line without TAB",
       r"^kbk predict: error: <stdin>:2: no TAB in this line \(the model takes pairs",
       disk="nothing written")
def _(world):
    outcome = kbk(["predict", "--model", world.export("pair"), "--batch-size", "1"],
                  b"a good film\ta movie\njust one text\n")
    return with_disk(outcome, f"nothing written; {len(_rows(outcome))} answer(s) printed before")


for _id, _name, _argv, _given, _expect in [
    ("pair-model-single-texts", "pair", ["a good film"], "a pair model given one text",
     r"takes pairs \(text, text_pair"),
    ("single-model-with-pair", "single", ["--pair", "x", "a good film"],
     "a single-text model given `--pair`", r"takes single texts: give no pairs \(drop --pair\)"),
    ("pair-count-mismatch", "pair", ["--pair", "x", "a", "b"], "2 texts, 1 `--pair`",
     r"2 texts but 1 pairs; give one pair per text"),
]:
    fault(_id, "predict input", _given, _expect, disk="nothing written")(
        lambda world, name=_name, argv=_argv: with_disk(
            kbk(["predict", "--model", world.export(name), *argv]), "nothing written"))


@fault("stdin-with-pair-flag", "predict input", "texts on stdin and a `--pair` flag",
       r"--pair goes with texts given as arguments", disk="nothing written")
def _(world):
    return with_disk(kbk(["predict", "--model", world.export("pair"), "--pair", "x"], b"a\n"),
                     "nothing written")


@fault("stdout-closed-early", "predict input", "`kbk predict ... | head -1` on 500 lines",
       r"^1 line read by head; kbk stderr: ''$", code=0, disk="nothing written", slow=True)
def _(world):
    command = (f"{' '.join(KBK)} predict --model {world.export()} --batch-size 8 "
               f"< {world.root / 'many.txt'} | head -1; exit ${{PIPESTATUS[0]}}")
    (world.root / "many.txt").write_text("a good film\n" * 500)
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    done = subprocess.run(["bash", "-c", command + " 2>" + str(world.root / "err.txt")],
                          capture_output=True, env=env, cwd=REPO, timeout=300)
    err = (world.root / "err.txt").read_text()
    lines = done.stdout.decode().splitlines()
    return Outcome(f"{len(lines)} line read by head; kbk stderr: {err!r}", done.returncode,
                   "nothing written", done.stdout.decode(), err)


@fault("predict-process-quiet", "predict input",
       "`kbk predict` as a process: invalid UTF-8 and an empty line on stdin, "
       "TF_CPP_MIN_LOG_LEVEL unset",
       r"^3 JSON lines for 3 input lines; stderr ''$", code=0, disk="nothing written", slow=True)
def _(world):
    outcome = kbk_process(["predict", "--model", world.export()], b"good\nbad \xff\n\n")
    rows = _rows(outcome)
    outcome.message = f"{len(rows)} JSON lines for 3 input lines; stderr {outcome.stderr!r}"
    return with_disk(outcome, "nothing written")


# ------------------------------------------------------------------------------ predict (API)


def _api(call):
    """Runs `call()`; the outcome of a Python call: its result's shape, or the error line."""
    try:
        result = call()
    except Exception as error:  # what the caller would see
        return Outcome(f"{type(error).__name__}: {error}", 1, "nothing written")
    shape = getattr(result, "shape", None)
    return Outcome(f"returns an array of shape {tuple(shape)}" if shape is not None else
                   repr(result), 0, "nothing written")


def _classifier(world):
    import keras

    return world._once("loaded", lambda: keras.saving.load_model(world.keras_model()))


for _id, _given, _make, _expect in [
    ("api-invalid-utf8", '`clf.predict([b"good \\xff film"])`',
     lambda: [b"good \xff film"], r"returns an array of shape \(1, 2\)"),
    ("api-empty-list", "`clf.predict([])`", lambda: [], r"returns an array of shape \(0, 2\)"),
    ("api-tf-strings", "`clf.predict(tf.constant([...]))`",
     lambda: __import__("tensorflow").constant([b"a good film", b"\xff"]),
     r"returns an array of shape \(2, 2\)"),
    ("api-numpy-bytes", "`clf.predict(np.array([b'a', b'\\xff']))`",
     lambda: __import__("numpy").array([b"a", b"\xff"]), r"returns an array of shape \(2, 2\)"),
    ("api-numpy-str", "`clf.predict(np.array(['a', '']))`",
     lambda: __import__("numpy").array(["a", ""]), r"returns an array of shape \(2, 2\)"),
    ("api-empty-tensor", "`clf.predict(tf.constant([], tf.string))`",
     lambda: __import__("tensorflow").constant([], __import__("tensorflow").string),
     r"returns an array of shape \(0, 2\)"),
]:
    fault(_id, "predict input (API)", _given, _expect, code=0, disk="nothing written")(
        lambda world, make=_make: _api(lambda: _classifier(world).predict(make(), verbose=0)))


@fault("api-no-preprocessor", "predict input (API)", "raw text to a model without a preprocessor",
       r"UserError: BertClassifier got raw strings but has no preprocessor", code=1,
       disk="nothing written")
def _(world):
    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.models.bert_classifier import BertClassifier

    model = BertClassifier(BertBackbone(12, num_layers=1, num_heads=2, hidden_dim=8,
                                        intermediate_dim=8), num_classes=2)
    return _api(lambda: model.predict(["a good film"], verbose=0))


# ------------------------------------------------------------------------------ export


def _tree_modes(path):
    modes = set()
    for root, dirs, files in os.walk(path):
        modes.add(f"dirs {oct(os.stat(root).st_mode & 0o777)}")
        modes.update(f"files {oct(os.stat(os.path.join(root, f)).st_mode & 0o777)}"
                     for f in files)
    return ", ".join(sorted(modes))


@fault("export-onto-existing", "export", "`kbk export` onto an existing version folder",
       r"1: an export is already there \(pass overwrite=True / kbk export --overwrite",
       disk=r"1/: .*mine\.txt.*saved_model\.pb")
def _(world):
    folder = world.case_dir("export-onto-existing") / "m"
    (folder / "1").mkdir(parents=True)
    for name in ("saved_model.pb", "mine.txt"):
        (folder / "1" / name).write_text("kept")
    outcome = kbk(["export", "--model", world.keras_model(), "--output", folder / "1"])
    return with_disk(outcome, listing(folder / "1", folder))


@fault("export-overwrite", "export", "`kbk export --overwrite` onto an existing version",
       r"^warm-up requests: ", code=0,
       disk=r"1/: assets\.extra/, assets/, fingerprint\.pb, saved_model\.pb, variables/; "
            r"modes dirs 0o755, files 0o644; nothing hidden left")
def _(world):
    folder = world.case_dir("export-overwrite") / "m"
    (folder / "1").mkdir(parents=True)
    (folder / "1" / "old.txt").write_text("old")
    old_umask = os.umask(0o022)
    try:
        outcome = kbk(["export", "--model", world.keras_model(), "--output", folder / "1",
                       "--overwrite", "--no-check"])
    finally:
        os.umask(old_umask)
    outcome.message = outcome.stdout.strip().splitlines()[-1] if outcome.code == 0 else \
        outcome.message
    hidden = [p.name for p in folder.iterdir() if p.name.startswith(".")]
    return with_disk(outcome, f"{listing(folder / '1', folder)}; modes {_tree_modes(folder / '1')}"
                              f"; {'nothing hidden left' if not hidden else hidden}")


@fault("export-check-fails", "export", "`export_saved_model(overwrite=True)` whose serving "
       "check fails", r"ServingCheckError: fresh process: outputs differ", code=1,
       disk=r"1/: old\.txt; no staging folder left")
def _(world):
    from keras_bert_kit.export import saved_model, serving_checks

    folder = world.case_dir("export-check-fails") / "m"
    (folder / "1").mkdir(parents=True)
    (folder / "1" / "old.txt").write_text("old")

    def failing_check(*args):
        raise serving_checks.ServingCheckError("fresh process: outputs differ")

    saved, saved_model._check = saved_model._check, failing_check
    try:
        outcome = _api(lambda: saved_model.export_saved_model(
            _classifier(world), folder / "1", overwrite=True, warmup=False))
    finally:
        saved_model._check = saved
    hidden = [p.name for p in folder.iterdir() if p.name.startswith(".")]
    return with_disk(outcome, f"{listing(folder / '1', folder)}; "
                              f"{'no staging folder left' if not hidden else hidden}")


def _kill_export_midway(world, id, overwrite):
    """Starts `kbk export` as a process, SIGKILLs it once its staging folder has files, and
    returns the folder listing; then exports again and reports what the next run left."""
    folder = world.case_dir(id) / "m"
    folder.mkdir(parents=True, exist_ok=True)
    if overwrite:
        (folder / "1").mkdir()
        (folder / "1" / "old.txt").write_text("old")
    argv = ["export", "--model", world.keras_model(), "--output", folder / "1"]
    argv += ["--overwrite"] if overwrite else []
    env = {k: v for k, v in os.environ.items() if k != "TF_CPP_MIN_LOG_LEVEL"}
    process = subprocess.Popen([*KBK, *map(str, argv)], cwd=REPO, env=env,
                               stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        staging = [p for p in folder.glob(".1.staging-*") if any(p.rglob("*.pb"))]
        if staging:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    after_kill = sorted(p.name.split("-")[0] + "-<pid>-<token>" if p.name.startswith(".")
                        else p.name for p in folder.iterdir())
    intact = (folder / "1" / "old.txt").exists() if overwrite else not (folder / "1").exists()
    rerun = kbk([*argv, "--no-check"] if overwrite else [*argv, "--no-check"])
    left = sorted(p.name for p in folder.iterdir())
    outcome = Outcome(f"killed (SIGKILL) with its staging folder half-written; the next export: "
                      f"{'rc ' + str(rerun.code)}", -signal.SIGKILL, "",
                      rerun.stdout, rerun.stderr)
    return with_disk(outcome, f"after the kill: {after_kill}, "
                              f"{'old version intact' if overwrite else 'no version folder'}"
                              f"={intact}; after the next export: {left}")


@fault("export-killed", "export", "`kbk export` killed (SIGKILL) mid-way, then run again",
       r"next export: rc 0", code=-9,
       disk=r"after the kill: \['\.1\.staging-<pid>-<token>'\], no version folder=True; after "
            r"the next export: \['1'\]", slow=True)
def _(world):
    return _kill_export_midway(world, "export-killed", overwrite=False)


@fault("export-overwrite-killed", "export",
       "`kbk export --overwrite` killed (SIGKILL) mid-way, then run again",
       r"next export: rc 0", code=-9,
       disk=r"after the kill: \['\.1\.staging-<pid>-<token>', '1'\], old version intact=True; "
            r"after the next export: \['1'\]", slow=True)
def _(world):
    return _kill_export_midway(world, "export-overwrite-killed", overwrite=True)


@fault("export-swap-killed", "export", "a swap killed between its two renames (old version moved "
       "aside to `.1.replaced-<dead pid>-…`, `1` missing), then `kbk export`",
       r"1: an export is already there", disk=r"m/: 1; 1/ holds old\.txt")
def _(world):
    folder = world.case_dir("export-swap-killed") / "m"
    aside = folder / ".1.replaced-999999999-abcd"
    aside.mkdir(parents=True)
    (aside / "old.txt").write_text("old")
    outcome = kbk(["export", "--model", world.keras_model(), "--output", folder / "1"])
    holds = ", ".join(sorted(p.name for p in (folder / "1").iterdir())) \
        if (folder / "1").exists() else "nothing"
    return with_disk(outcome, f"m/: {', '.join(sorted(p.name for p in folder.iterdir()))}; "
                              f"1/ holds {holds}")


@fault("export-umask-077", "export", "`export_saved_model` under umask 077",
       r"returns", code=0, disk=r"modes dirs 0o700, files 0o600")
def _(world):
    from keras_bert_kit.export.saved_model import export_saved_model

    path = world.case_dir("export-umask-077") / "m" / "1"
    old_umask = os.umask(0o077)
    try:
        outcome = _api(lambda: export_saved_model(_classifier(world), path, check=False,
                                                  warmup=False).path)
    finally:
        os.umask(old_umask)
    outcome.message = "returns the report (umask respected: private when asked)"
    return with_disk(outcome, f"modes {_tree_modes(path)}")


# ------------------------------------------------------------------------------ killed fine-tuning


def _files(folder):
    return {p.relative_to(folder): (p.stat().st_mtime_ns, p.read_bytes())
            for p in sorted(pathlib.Path(folder).rglob("*")) if p.is_file()}


def _rerun_refused(world, id, source, extra):
    """Copies the run `source` to the case folder and runs the same command with `extra`."""
    import shutil

    from tests.training.finetune_resume_fixtures import finetune_argv

    run = world.case_dir(id) / "run"
    if not run.exists():
        shutil.copytree(source, run)
    before = _files(run)
    outcome = kbk(finetune_argv("classify", world.finetune, run, *extra))
    return with_disk(outcome, f"{listing(run, run.parent)}; "
                              f"{'unchanged' if _files(run) == before else 'CHANGED'}")


@fault("finetune-rerun-finished", "killed fine-tuning",
       "`kbk finetune classify` again into an `--output` holding a finished run",
       r"^kbk finetune classify: error: .*run already holds a finished run \(metrics\.json\); use "
       r"--overwrite to replace it or a new --output$",
       disk=r"run/: history\.csv, metrics\.json, model\.keras; unchanged$", slow=True)
def _(world):
    return _rerun_refused(world, "finetune-rerun-finished", world.finished_run(), [])


@fault("finetune-other-settings", "killed fine-tuning",
       "a SIGTERM'd run's folder, the command again with `--learning-rate 1e-3`",
       r"run holds a backup of a run with other settings \(.*run/run_settings\.json: "
       r"learning_rate=0\.005 now 0\.001\); use a new output folder or the same settings",
       disk=r"run/: backup/, history\.csv, .*run_settings\.json; unchanged$", slow=True)
def _(world):
    return _rerun_refused(world, "finetune-other-settings", world.killed_run(),
                          ["--learning-rate", "1e-3"])


@fault("finetune-no-resume-over-backup", "killed fine-tuning",
       "a SIGTERM'd run's folder, the command again with `--no-resume`",
       r"run holds a killed run's backup \(backup/\); --no-resume starts it over only with "
       r"--overwrite", disk=r"unchanged$", slow=True)
def _(world):
    return _rerun_refused(world, "finetune-no-resume-over-backup", world.killed_run(),
                          ["--no-resume"])


def _kill_and_rerun(world, id, signum, seed):
    """Starts `kbk finetune classify` as a process, kills it at a random (seeded) moment after its
    first backup, runs the same command again, and reports both."""
    from tests.training.finetune_resume_fixtures import (CLASSIFY_BATCHES, EPOCHS, finetune_argv,
                                                         kill_at_random, start_kbk)

    folder = world.case_dir(id)
    run = folder / "run"
    argv = finetune_argv("classify", world.finetune, run)
    before, code = kill_at_random(start_kbk(argv, folder / "killed.log"), run, signum, seed,
                                  EPOCHS * CLASSIFY_BATCHES)
    after_kill = listing(run, folder)
    rerun = kbk_process(argv)
    resumed = next((line for line in rerun.stderr.splitlines() if "resuming" in line), "no "
                   "resume line")
    outcome = Outcome(f"killed ({signal.Signals(signum).name}: exit {code}) with a backup of "
                      f"{before} batches; the same command: rc {rerun.code}, {resumed!r}", code,
                      "", rerun.stdout, rerun.stderr)
    return with_disk(outcome, f"after the kill: {after_kill}; after the rerun: "
                              f"{listing(run, folder)}")


@fault("finetune-sigterm", "killed fine-tuning",
       "`kbk finetune classify` stopped by SIGTERM at a random moment, then run again",
       r"the same command: rc 0, '.*run: resuming from epoch \d, step \d+ \(\d+ of 39 training "
       r"steps done\)'", code=143,
       disk=r"after the kill: run/: .*backup/, history\.csv, .*run_settings\.json; after the "
            r"rerun: run/: history\.csv, metrics\.json, model\.keras$", slow=True)
def _(world):
    return _kill_and_rerun(world, "finetune-sigterm", signal.SIGTERM, 1)


@fault("finetune-sigkill", "killed fine-tuning",
       "`kbk finetune classify` killed (SIGKILL) at a random moment, then run again",
       r"the same command: rc 0, '.*run: resuming from epoch \d, step \d+ \(\d+ of 39 training "
       r"steps done\)'", code=-9,
       disk=r"after the kill: run/: .*backup/, history\.csv, .*run_settings\.json; after the "
            r"rerun: run/: history\.csv, metrics\.json, model\.keras$", slow=True)
def _(world):
    return _kill_and_rerun(world, "finetune-sigkill", signal.SIGKILL, 2)


# ------------------------------------------------------------------------------ checkpoints (today)


def _checkpoint(id, given, spoil):
    @fault(id, "checkpoints (owned by the checkpoints work)", given, r".", code=None,
           table_only=True)
    def _(world):
        import shutil

        folder = world.case_dir(id)
        init = folder / "init"
        if not init.exists():
            shutil.copytree(world.tiny["init"], init)
            spoil(init)
        out = folder / "run"
        outcome = kbk(["finetune", "classify", "--train", world.tiny["train"], "--dev",
                       world.tiny["dev"], "--init", init, "--output", out, *TINY_FLAGS])
        return with_disk(outcome, listing(out, folder))


def _edit_config(**changes):
    def spoil(init):
        config = json.loads((init / "config.json").read_text())
        config.update(changes)
        (init / "config.json").write_text(json.dumps(config))
    return spoil


def _append_vocab(init):
    with open(init / "vocab.txt", "a") as f:
        f.write("extra\nwords\n")


def _truncate_weights(init):
    weights = next(p for p in init.iterdir() if p.suffix in (".safetensors", ".h5", ".bin"))
    data = weights.read_bytes()
    weights.write_bytes(data[:len(data) // 2])


for _args in [
    ("ckpt-vocab-longer", "`vocab.txt` 2 lines longer than `vocab_size`", _append_vocab),
    ("ckpt-vocab-missing", "no `vocab.txt` beside the weights",
     lambda init: (init / "vocab.txt").unlink()),
    ("ckpt-hidden-size", "`config.json` with the wrong `hidden_size`",
     _edit_config(hidden_size=32)),
    ("ckpt-truncated-weights", "a truncated weights file", _truncate_weights),
    ("ckpt-config-not-json", "a `config.json` that is not JSON",
     lambda init: (init / "config.json").write_text("{oops")),
    ("ckpt-config-missing", "no `config.json`", lambda init: (init / "config.json").unlink()),
]:
    _checkpoint(*_args)


def faults(include_slow=True, include_table_only=True):
    return [f for f in FAULTS if (include_slow or not f.slow)
            and (include_table_only or not f.table_only)]
