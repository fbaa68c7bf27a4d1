"""`kbk`'s flags: generated from the training dataclasses with today's names and defaults, the
commands of the README, docs and recipes parse, `--config` YAML maps onto the same settings, and
`--help` imports no TensorFlow."""

import json
import re
import shlex
import subprocess
import sys

import pytest
import yaml

from keras_bert_kit.cli import build_parser, main
from keras_bert_kit.cli.arguments import config_from_args, config_values, flag_names
from keras_bert_kit.errors import UserError
from keras_bert_kit.training.tasks import get_task
from tests.conftest import REPO

REQUIRED = {"classify": ["--train", "t", "--dev", "d", "--init", "m"],
            "tag": ["--train", "t", "--dev", "d", "--init", "m"],
            "squad": ["--train", "t", "--dev", "d", "--init", "m"],
            "pretrain": ["--train-files", "t", "--vocab", "v", "--output", "o"]}
# The flags of each training command before the flags were generated (`add_*_arguments`), with
# their defaults (None: no default).
TODAYS_TRAINING_FLAGS = {
    "classify": {"--output": "runs/classify", "--text-column": "text", "--label-column": "label",
                 "--pair-column": None, "--task": "classification", "--epochs": 3,
                 "--learning-rate": 5e-5, "--batch-size": 32, "--sequence-length": 128,
                 "--warmup-ratio": 0.1, "--weight-decay": 0.01, "--strategy": "auto",
                 "--mixed-precision": "auto", "--max-train-examples": None,
                 "--pooling": "pooled", "--head-learning-rate-multiplier": 1.0,
                 "--layer-decay": 1.0, "--window-stride": None, "--seed": 0},
    "tag": {"--output": "runs/tag", "--vocab": None, "--cased": False,
            "--word-split": "whitespace", "--scheme": "auto", "--label-all-subtokens": False,
            "--epochs": 3, "--learning-rate": 5e-5, "--batch-size": 32,
            "--sequence-length": 128, "--stride": None, "--warmup-ratio": 0.1,
            "--max-train-sentences": None, "--strategy": "auto", "--mixed-precision": "auto",
            "--seed": 0},
    "squad": {"--output": "runs/squad", "--version": "auto", "--sequence-length": 384,
              "--doc-stride": 128, "--max-query-length": 64, "--max-answer-length": 30,
              "--n-best": 20, "--null-threshold": 0.0, "--epochs": 2, "--learning-rate": 5e-5,
              "--batch-size": 32, "--warmup-ratio": 0.1, "--max-train-examples": None,
              "--strategy": "auto", "--mixed-precision": "auto", "--seed": 0},
    "pretrain": {"--eval-files": None, "--preset": None, "--init": None, "--batch-size": 32,
                 "--total-steps": None, "--save-every-steps": None, "--learning-rate": 1e-4,
                 "--warmup-ratio": 0.1, "--optimizer": "adamw", "--strategy": "auto",
                 "--mixed-precision": "auto", "--jit-compile": "auto", "--seed": 0},
}
TODAYS_OTHER_FLAGS = {
    ("demo",): {"--data": None, "--train-examples": 4000, "--output": "runs/demo",
                "--export": "saved_models/sentiment/1"},
    ("vocab", "--input", "a.txt", "--output", "v.txt"): {"--vocab-size": 30522, "--cased": False,
                                                         "--min-count": None},
    ("pretrain-data", "--input", "a", "--vocab", "v", "--output", "o"): {
        "--max-seq-length": 128, "--max-predictions-per-seq": 20, "--masked-lm-prob": 0.15,
        "--short-seq-prob": 0.1, "--dupe-factor": 10, "--whole-word-mask": False,
        "--do-lower-case": True, "--seed": 12345, "--num-shards": None, "--num-workers": 2,
        "--gzip": False, "--overwrite": False},
    ("export", "--model", "m.keras", "--output", "o"): {"--labels": None, "--check": True,
                                                        "--pad-to-multiple-of": 8},
    ("predict", "--model", "m"): {"--pair": None, "--raw": False},
    ("convert", "--input", "a", "--output", "b"): {},
    ("embed", "x"): {"--model": None},
}


def command(task):
    return ["pretrain"] if task == "pretrain" else ["finetune", task]


def dest_of(parser_argv, flag):
    """The `dest` of `flag` in the leaf parser that `parser_argv` reaches."""
    parser = build_parser()
    for word in parser_argv:
        parser = next(a for a in parser._actions if a.dest in ("command", "task_command")
                      ).choices[word]
    return next(a.dest for a in parser._actions if flag in a.option_strings)


@pytest.mark.parametrize("task", sorted(TODAYS_TRAINING_FLAGS))
def test_training_flags_keep_their_names_and_defaults(task):
    args = build_parser().parse_args(command(task) + REQUIRED[task])
    resolved = dict(get_task(task).resolve(config_from_args(args)).items())
    for flag, default in TODAYS_TRAINING_FLAGS[task].items():
        assert flag in flag_names(task), flag
        assert resolved[dest_of(command(task), flag)] == default, flag


@pytest.mark.parametrize("argv", sorted(TODAYS_OTHER_FLAGS), ids=lambda argv: argv[0])
def test_other_commands_keep_their_flags_and_defaults(argv):
    args = build_parser().parse_args(list(argv))
    for flag, default in TODAYS_OTHER_FLAGS[argv].items():
        value = getattr(args, dest_of(argv[:1], flag))
        assert value == default or (flag == "--data" and value.endswith("sentiment")), flag


COMMAND_LINE = re.compile(r"^\s*#?\s*(?:\.venv/bin/)?(kbk|python recipes/(?:finetune_classifier"
                          r"|pretrain)\.py)\s+(.*)$")
INLINE = re.compile(r"`(?:\.venv/bin/)?(kbk) ([^`]+)`")


def documented_commands():
    """`kbk ...` lines (and the classify / pretrain recipes') of README.md, docs/ and recipes/:
    command lines of code blocks and inline `kbk ...` spans, continuation lines joined."""
    sources = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md")),
               *sorted((REPO / "recipes").glob("*.py")), *sorted((REPO / "recipes").glob("*.yaml"))]
    found = []
    for path in sources:
        text = re.sub(r"\\\\?\n\s*", " ", path.read_text(encoding="utf-8"))
        for line in text.splitlines():
            matches = [COMMAND_LINE.match(line)] + list(INLINE.finditer(line))
            for match in filter(None, matches):
                rest = re.split(r"\s{2,}[#(]", match.group(2))[0]
                if re.match(r"^[\w-]+(?: [\w-]+)?: error:", rest):
                    continue  # a quoted error message (docs/faults.md), not a command
                inline = match.re is INLINE
                found.append((f"{path.name}: {match.group(1)} {rest}", match.group(1), rest,
                              inline))
    return found


def leaf_parser(words):
    """The (sub)parser `words` reach, and the words after its name."""
    parser = build_parser()
    while words:
        commands = [a for a in parser._actions if a.dest in ("command", "task_command")]
        if not commands or words[0] not in commands[0].choices:
            break
        parser, words = commands[0].choices[words[0]], words[1:]
    return parser, words


@pytest.mark.parametrize("where, program, rest, inline", documented_commands(),
                         ids=lambda x: str(x)[:60])
def test_documented_commands_parse(where, program, rest, inline):
    words = [w for w in shlex.split(rest.replace("$", ""), comments=True) if w != "..."]
    if "classifier" in program:
        words = ["finetune", "classify", *words]
    elif "pretrain.py" in program:
        words = ["pretrain", *words]
    if inline:  # a fragment in a sentence: its command and flags exist
        if rest.startswith("<"):
            pytest.skip(f"a pattern, not a command: {where}")
        parser, flags = leaf_parser(words)
        assert parser.prog != "kbk" or not words, where
        options = {o for a in parser._actions for o in a.option_strings}
        assert {w for w in flags if w.startswith("--")} <= options, where
        return
    try:
        args, unknown = build_parser().parse_known_args(words)
    except SystemExit as exit:
        assert exit.code == 0, where  # --help
        return
    # Only commands that hand flags on (pretrain-data's Beam options) may have unknown ones.
    assert not unknown or getattr(args, "passes_unknown_flags", False), (where, unknown)
    if getattr(args, "task", None) and "..." not in rest:
        config_values(args)  # settings from the flags (and YAML) are complete and valid


def test_flags_override_the_yaml_config(tmp_path):
    config = tmp_path / "run.yaml"
    config.write_text(yaml.safe_dump({"train_files": "data/*.tfrecord", "vocab": "v.txt",
                                      "output": "runs/x", "preset": "bert_tiny_uncased",
                                      "batch-size": 64, "seed": 3, "weight_decay": 0.0}))
    parser = build_parser()
    args = parser.parse_args(["pretrain", "--config", str(config), "--batch-size", "8",
                              "--no-jit-compile", "--eval-files", "a", "b"])
    assert config_values(args) == {
        "train": "data/*.tfrecord", "vocab_file": "v.txt", "output_dir": "runs/x",
        "preset": "bert_tiny_uncased", "batch_size": 8, "seed": 3, "weight_decay": 0.0,
        "jit_compile": False, "dev": ["a", "b"]}

    config.write_text(yaml.safe_dump({"train_files": "a", "bach_size": 8}))
    with pytest.raises(ValueError, match=rf"{config}: unknown key 'bach_size'"):
        config_values(parser.parse_args(["pretrain", "--config", str(config)]))
    with pytest.raises(UserError, match="--vocab, --output"):
        config_values(parser.parse_args(["pretrain", "--train-files", "a"]))


def test_the_recipe_yaml_maps_onto_the_settings(tmp_path):
    args = build_parser().parse_args(["pretrain", "--config",
                                      str(REPO / "recipes" / "pretrain_austen.yaml"),
                                      "--mixed-precision", "bf16"])
    config = config_from_args(args)
    assert config.data.train == "runs/austen/data/train/pretraining-*.tfrecord"
    assert (config.model.vocab_file, config.model.preset) == ("runs/austen/vocab.txt",
                                                              "bert_tiny_uncased")
    assert (config.run.output_dir, config.run.total_steps, config.run.save_every_steps,
            config.run.jit_compile, config.run.mixed_precision) == (
        "runs/austen/pretrain", 1500, 100, False, "bf16")
    assert (config.optimizer.learning_rate, config.optimizer.optimizer) == (1e-3, "adamw")
    # Sections work too, and YAML 1.1's string "5e-5" is read as the number it means.
    grouped = tmp_path / "grouped.yaml"
    grouped.write_text("model: {init: m/}\ndata: {train: t.tsv, dev: d.tsv}\n"
                       "optimizer: {learning_rate: 5e-5}\nrun: {epochs: 2}\n"
                       "options: {pooling: mean}\n")
    config = config_from_args(build_parser().parse_args(
        ["finetune", "classify", "--config", str(grouped)]))
    assert (config.optimizer.learning_rate, config.run.epochs, config.options.pooling) == (
        5e-5, 2, "mean")


def test_help_imports_no_tensorflow():
    code = ("import sys\nfrom keras_bert_kit.cli import main\n"
            "for argv in (['--help'], ['finetune', 'classify', '--help'], ['pretrain', '--help'],"
            " ['predict', '--help']):\n"
            "    try:\n        main(argv)\n    except SystemExit as exit:\n"
            "        assert exit.code == 0\n"
            "print(sorted(m for m in ('tensorflow', 'keras') if m in sys.modules))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"
    assert "--learning-rate" in done.stdout and done.stderr == ""
    module = subprocess.run([sys.executable, "-m", "keras_bert_kit.cli", "--help"], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert module.returncode == 0 and "finetune" in module.stdout and module.stderr == ""


def test_vocab_and_pretrain_data_commands(tmp_path, capsys):
    text = tmp_path / "corpus.txt"
    text.write_text("The cat sat on the mat.\nThe dog sat on the log.\n\n" * 30)
    main(["vocab", "--input", str(text), "--vocab-size", "60", "--output",
          str(tmp_path / "vocab.txt"), "--min-count", "2"])
    vocabulary = (tmp_path / "vocab.txt").read_text().splitlines()
    assert vocabulary[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] and "the" in vocabulary
    assert f"{len(vocabulary)} tokens from 1 file(s)" in capsys.readouterr().out

    main(["pretrain-data", "--input", str(text), "--vocab", str(tmp_path / "vocab.txt"),
          "--output", str(tmp_path / "records"), "--max-seq-length", "16",
          "--max-predictions-per-seq", "3", "--dupe-factor", "1", "--num-workers", "1",
          "--num-shards", "2", "--gzip"])
    shards = json.loads(capsys.readouterr().out)["shards"]
    assert len(shards) == 2 and all(s.endswith(".tfrecord.gz") for s in shards)


