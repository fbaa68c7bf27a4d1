"""`task_function`: a task's one-call Python function, derived from its settings' dataclasses.

`finetune_classifier`, `finetune_tagger`, `finetune_squad` and `pretrain` are made here from
their task (`training/tasks/`): their parameters are the settings the task reads
(`TaskHooks.fields()`: `ModelConfig`, `DataConfig`, `OptimizerConfig`, `RunConfig` and the task's
options, `training/config.py`), with the same names, and with the defaults the run will use (the
task's `TaskHooks.defaults`, else the field's); their docstrings' Args are the fields' help. A
call sets the settings it was given, and nothing else, in a `TrainingConfig` and runs it with
the `Runner`, the way `kbk` does with the flags it was given, so the function, the command line
and a `--config` YAML read the same settings with the same defaults.

Not here: the settings themselves (`training/config.py`), the command line's spelling of them
(`cli/arguments.py`), the training (`training/runner.py`).

Example:
>>> @task_function("squad", positional=("train", "dev", "init"))
... def answer_questions():
...     '''Fine-tunes a question answerer.
...
...     Returns:
...         The metrics dict.
...     '''
>>> list(inspect.signature(answer_questions).parameters)[:5]
['train', 'dev', 'init', 'sequence_length', 'head']
>>> inspect.signature(answer_questions).parameters["sequence_length"].default
384
>>> answer_questions.config("t.json", "d.json", "bert/").run.output_dir
'runs/squad'
>>> answer_questions("t.json", "d.json", "bert/", epoch=1)
Traceback (most recent call last):
...
keras_bert_kit.errors.UserError: answer_questions(): unknown argument 'epoch'; did you mean epochs?
"""

import dataclasses
import difflib
import inspect
import re
import textwrap

from keras_bert_kit.errors import UserError
from keras_bert_kit.training.config import (DataConfig, ModelConfig, OptimizerConfig, RunConfig,
                                            TrainingConfig)
from keras_bert_kit.training.tasks import get_task

_FLAG = re.compile(r"--(no-)?([a-z][a-z-]*)")


def task_function(task, positional):
    """A decorator: makes a docstring-only `def` into the one-call function of `task`.

    The function's parameters are the task's settings in `TaskHooks.fields()` order, the names in
    `positional` first (positional or keyword), the others keyword-only. The decorated
    docstring's `Args:` section is generated and put before its `Returns:`. The function gets a
    `config(*args, **settings)` attribute: the resolved `TrainingConfig` a call would run, built
    without training (and without TensorFlow).

    Args:
        task: a task name (`"classify"`, ...) or `TaskHooks` subclass.
        positional: field names taken by position, e.g. `("train", "dev", "init")`.
    """
    hooks = get_task(task)

    def decorate(stub):
        signature = settings_signature(hooks, positional)
        name = stub.__name__

        def training_config(*args, **settings):
            return TrainingConfig(
                options=hooks.options_class() if hooks.options_class else None,
            ).replace(**given_settings(name, hooks, signature, args, settings))

        def function(*args, **settings):
            from keras_bert_kit.training.runner import Runner

            return Runner(hooks, training_config(*args, **settings)).run()

        function.__name__, function.__qualname__ = name, stub.__qualname__
        function.__module__ = stub.__module__  # doctest and help() find it in the stub's module
        function.__doc__ = with_args_section(inspect.getdoc(stub), hooks, signature)
        function.__signature__ = signature
        function.config = lambda *args, **settings: hooks.resolve(
            training_config(*args, **settings))
        return function

    return decorate


def parameter_default(hooks, field):
    """A setting's default: the task's (`TaskHooks.defaults`), else the field's; `empty` when
    the task requires the setting and has no default for it."""
    default = hooks.default(field)
    if default is None and field.name in hooks.required:
        return inspect.Parameter.empty
    return default


def settings_signature(hooks, positional):
    """The `inspect.Signature` of a task's settings, the `positional` ones first."""
    fields = {field.name: field for _, field in hooks.fields()}
    parameters = [inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD,
                                    default=parameter_default(hooks, fields[name]))
                  for name in positional]
    parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY,
                                     default=parameter_default(hooks, field))
                   for name, field in fields.items() if name not in positional]
    return inspect.Signature(parameters)


def given_settings(name, hooks, signature, args, settings):
    """`{field name: value}` of the arguments a call gave (defaults are left to the task).

    Raises:
        UserError: an argument that is not one of the task's settings.
        TypeError: too many positional arguments, or a required one is missing.
    """
    for key in settings:
        if key not in signature.parameters:
            raise UserError(f"{name}(): unknown argument {key!r}; "
                            f"{closest_setting(hooks, key, signature.parameters)}")
    try:
        return dict(signature.bind(*args, **settings).arguments)
    except TypeError as error:
        raise TypeError(f"{name}(): {error}") from None


def closest_setting(hooks, key, names):
    """What to say about an unknown argument `key`: the setting behind the flag of that name,
    that the task does not use it, or the closest name among `names`."""
    flag = "--" + key.replace("_", "-")
    behind = flag_settings(hooks).get(flag)
    if behind in names:
        return f"the setting behind {flag} is {behind}"
    for section in (ModelConfig, DataConfig, OptimizerConfig, RunConfig):
        if key in {field.name for field in dataclasses.fields(section)}:
            return f"the {hooks.name} task does not use {section.__name__}.{key}"
    close = difflib.get_close_matches(key, list(names), n=1, cutoff=0.6)
    if close:
        return f"did you mean {close[0]}?"
    return f"the settings are {', '.join(names)}"


def flag_settings(hooks):
    """`{flag: field name}` of the flags (and their aliases) of `hooks`' command."""
    flags = {}
    sections = (ModelConfig, DataConfig, OptimizerConfig, RunConfig, hooks.options_class)
    for field in (f for section in sections if section for f in dataclasses.fields(section)):
        spec = hooks.flag_spec(field)
        for flag in (spec["flag"], *spec.get("aliases", ())):
            flags[flag] = field.name
    return flags


def python_help(hooks, field):
    """A setting's help text with its command-line flags written as the Python names."""
    flags = flag_settings(hooks)

    def python(match):
        name = flags.get("--" + match[2])
        if name is None:
            return match[0]
        return f"`{name}=False`" if match[1] else f"`{name}`"

    return _FLAG.sub(python, hooks.flag_spec(field).get("help", ""))


def with_args_section(doc, hooks, signature):
    """`doc` with an `Args:` section (one entry a setting) before its `Returns:`."""
    fields = {field.name: field for _, field in hooks.fields()}
    lines = ["Args:"]
    for name, parameter in signature.parameters.items():
        text, notes = python_help(hooks, fields[name]), []
        choices = fields[name].metadata.get("choices")
        if choices:
            notes.append("one of " + ", ".join(map(repr, choices)))
        if parameter.default is inspect.Parameter.empty:
            notes.append("required")
        elif parameter.default is not None and "default" not in text:
            notes.append(f"default: {parameter.default!r}")
        text += f" ({'; '.join(notes)})" if notes else ""
        lines += textwrap.wrap(f"{name}: {text}.", 96, initial_indent="    ",
                               subsequent_indent="        ")
    head, returns, tail = doc.partition("\nReturns:")
    return "\n".join([head.rstrip(), "", *lines, "", returns.strip() + tail]).strip()
