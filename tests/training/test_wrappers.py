"""The one-call functions (`finetune_classifier`, `finetune_tagger`, `finetune_squad`, `pretrain`)
are derived from the settings' dataclasses: their parameters are the task's fields with the
defaults a run uses, a call builds the same `TrainingConfig` as the `kbk` command with the same
settings, and a name that is not a setting is refused in one line. No training runs here."""

import argparse
import ast
import inspect
import json
import re

import pytest

from keras_bert_kit.cli.arguments import add_task_arguments, config_from_args
from keras_bert_kit.errors import UserError
from keras_bert_kit.training.config import value_type
from keras_bert_kit.training.finetune_classifier import finetune_classifier
from keras_bert_kit.training.finetune_squad import finetune_squad
from keras_bert_kit.training.finetune_tagger import finetune_tagger
from keras_bert_kit.training.pretrain import pretrain
from keras_bert_kit.training.tasks import get_task
from tests.conftest import REPO

# Each function, its task and the arguments it takes by position.
FUNCTIONS = {
    finetune_classifier: ("classify", ["train", "dev", "init", "output_dir"]),
    finetune_tagger: ("tag", ["train", "dev", "init", "output_dir"]),
    finetune_squad: ("squad", ["train", "dev", "init", "output_dir"]),
    pretrain: ("pretrain", ["train", "output_dir"]),
}
# The fewest settings a run of each task needs, as field name -> value.
REQUIRED = {"classify": {"train": "t.tsv", "dev": "d.tsv", "init": "bert/"},
            "tag": {"train": "t.conll", "dev": "d.conll", "init": "bert/"},
            "squad": {"train": "t.json", "dev": "d.json", "init": "bert/"},
            "pretrain": {"train": ["t.tfrecord"], "output_dir": "runs/p", "vocab_file": "v.txt"}}
CASES = pytest.mark.parametrize("function", list(FUNCTIONS), ids=lambda f: f.__name__)


def parse(task, argv):
    """The `TrainingConfig` that `kbk <task> argv` runs (resolved as the `Runner` resolves it)."""
    parser = argparse.ArgumentParser()
    add_task_arguments(parser, task)
    return get_task(task).resolve(config_from_args(parser.parse_args(argv)))


def flags_of(task, values):
    """The command line giving `values` (`{field name: value}`) to `task`'s command."""
    hooks, argv = get_task(task), []
    fields = {field.name: field for _, field in hooks.fields()}
    for name, value in values.items():
        flag = hooks.flag_spec(fields[name])["flag"]
        if value_type(fields[name]) is bool and isinstance(value, bool):
            argv.append(flag if value else "--no-" + flag[2:])
        elif isinstance(value, dict):
            argv += [flag, json.dumps(value)]
        elif isinstance(value, list | tuple):
            argv += [flag, *(map(str, value))] if name in ("train", "dev") else \
                [flag, ",".join(map(str, value))]
        else:
            argv += [flag, str(value)]
    return argv


def another_value(field, default):
    """A valid value of `field` other than its default (every field set at once)."""
    choices = field.metadata.get("choices")
    if choices:
        return [c for c in choices if c != default][-1]
    if field.name in ("train", "dev"):
        return [f"{field.name}-1.data", f"{field.name}-2.data"]
    if field.name == "bucket_boundaries":
        return (16, 32)
    kind = value_type(field)
    if kind is bool:
        return not default if isinstance(default, bool) else False
    if kind is dict:
        return {"num_layers": 1, "dropout": 0.0}
    if kind is int:
        return (default or 0) + 7
    if kind is float:
        return 0.5 if default != 0.5 else 0.25
    return f"{field.name}-value"


@CASES
def test_parameters_are_the_task_fields_with_the_run_defaults(function):
    task, positional = FUNCTIONS[function]
    hooks = get_task(task)
    parameters = inspect.signature(function).parameters
    fields = [field.name for _, field in hooks.fields()]
    assert list(parameters) == positional + [f for f in fields if f not in positional]
    assert [p.kind for p in parameters.values()] == (
        [inspect.Parameter.POSITIONAL_OR_KEYWORD] * len(positional)
        + [inspect.Parameter.KEYWORD_ONLY] * (len(fields) - len(positional)))
    # The defaults shown are those the run takes when the argument is not given, which are the
    # command line's (the task's defaults applied by `TaskHooks.resolve`, else the field's).
    resolved = dict(function.config(**REQUIRED[task]).items())
    for name, parameter in parameters.items():
        if parameter.default is inspect.Parameter.empty:
            assert name in REQUIRED[task], name
        else:
            assert parameter.default == resolved[name], name
    assert function.config(**REQUIRED[task]) == parse(task, flags_of(task, REQUIRED[task]))


def test_the_defaults_that_had_drifted_are_the_command_line_ones():
    classify, tag = inspect.signature(finetune_classifier), inspect.signature(finetune_tagger)
    assert classify.parameters["epochs"].default == 3
    assert classify.parameters["output_dir"].default == "runs/classify"
    assert "layer_decay" in tag.parameters
    assert "layer_decay" in inspect.signature(finetune_squad).parameters
    assert tag.parameters["cased"].default is False
    assert inspect.signature(finetune_squad).parameters["sequence_length"].default == 384
    assert inspect.signature(pretrain).parameters["learning_rate"].default == 1e-4


@CASES
def test_every_setting_given_as_argument_or_flag_builds_the_same_config(function):
    task, _ = FUNCTIONS[function]
    hooks = get_task(task)
    values = {**REQUIRED[task]}
    for _, field in hooks.fields():
        if field.name not in values:
            values[field.name] = another_value(field, inspect.signature(function)
                                               .parameters[field.name].default)
    from_call = function.config(**values)
    assert from_call == parse(task, flags_of(task, values))
    changed = dict(from_call.items())
    assert all(changed[name] == value for name, value in values.items())


def test_positional_files_are_the_same_as_keywords():
    assert finetune_classifier.config("t.tsv", "d.tsv", "bert/", "runs/x") == \
        finetune_classifier.config(train="t.tsv", dev="d.tsv", init="bert/", output_dir="runs/x")
    assert pretrain.config(["t.tfrecord"], "runs/p", vocab_file="v.txt").data.train == \
        ["t.tfrecord"]


@pytest.mark.parametrize("function, argument, says", [
    (finetune_classifier, "epoch", "did you mean epochs?"),
    (finetune_classifier, "task", "the setting behind --task is problem_type"),
    (finetune_tagger, "max_train_sentences",
     "the setting behind --max-train-sentences is max_train_examples"),
    (finetune_tagger, "lowercase", "the settings are train, dev, init, output_dir,"),
    (pretrain, "eval_files", "the setting behind --eval-files is dev"),
    (finetune_squad, "preset", "the squad task does not use ModelConfig.preset"),
])
def test_an_unknown_argument_is_refused_in_one_line_before_anything_runs(function, argument,
                                                                         says, tmp_path):
    task, _ = FUNCTIONS[function]
    output = tmp_path / "run"
    with pytest.raises(UserError) as error:
        function(**{**REQUIRED[task], "output_dir": output, argument: 1})
    message = str(error.value)
    assert message.startswith(f"{function.__name__}(): unknown argument {argument!r}; {says}")
    assert "\n" not in message
    assert not output.exists()


def test_a_missing_required_argument_is_a_type_error_naming_it():
    with pytest.raises(TypeError, match=r"finetune_tagger\(\): missing a required argument: "
                                        "'init'"):
        finetune_tagger("t.conll", "d.conll")


@CASES
def test_the_docstring_documents_every_parameter_in_python_terms(function):
    doc = inspect.getdoc(function)
    args = doc.split("\nArgs:\n")[1].split("\n\nReturns:")[0]
    documented = [line.split(":")[0].strip() for line in args.splitlines()
                  if line.startswith("    ") and not line.startswith("        ")]
    assert documented == list(inspect.signature(function).parameters)
    assert "--" not in args  # flags are written as the parameters' names
    assert doc.index("\nArgs:") < doc.index("\nReturns:") < doc.index("\nExample:")


@CASES
def test_a_call_runs_the_config_it_reports(function, monkeypatch):
    from keras_bert_kit.training.runner import Runner

    monkeypatch.setattr(Runner, "run", lambda runner: runner.config)
    task, _ = FUNCTIONS[function]
    settings = {**REQUIRED[task], "batch_size": 4, "seed": 3}
    if task == "pretrain":
        settings["preset"] = "bert_tiny_uncased"
    assert function(**settings) == function.config(**settings)


CALL = re.compile(r"(?<![\w.])(finetune_classifier|finetune_tagger|finetune_squad|pretrain)"
                  r"(?:\.config)?\(")


def documented_calls():
    """`(where, function name, call source)` of every call of the functions in README and docs/."""
    found = []
    for path in [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]:
        text = path.read_text(encoding="utf-8")
        for match in CALL.finditer(text):
            depth = 0
            for end in range(match.end() - 1, len(text)):
                depth += {"(": 1, ")": -1}.get(text[end], 0)
                if depth == 0:
                    break
            line = text.count("\n", 0, match.start()) + 1
            found.append((f"{path.name}:{line}", match[1], text[match.start():end + 1]))
    return found


@pytest.mark.parametrize("where, name, source", documented_calls(), ids=lambda x: str(x)[:40])
def test_documented_calls_use_the_parameters(where, name, source):
    function = {f.__name__: f for f in FUNCTIONS}[name]
    call = ast.parse(source, mode="eval").body
    parameters = inspect.signature(function).parameters
    assert {k.arg for k in call.keywords} <= set(parameters), where
    assert len(call.args) <= len(FUNCTIONS[function][1]), where


def test_the_documented_calls_are_found():
    names = {name for _, name, _ in documented_calls()}
    assert {"finetune_classifier", "finetune_tagger", "pretrain"} <= names
