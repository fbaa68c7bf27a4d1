"""Training flags generated from the training dataclasses, and `--config` YAML files over them.

Every field a task reads (`TaskHooks.fields()`: the shared `ModelConfig`, `DataConfig`,
`OptimizerConfig`, `RunConfig` and the task's options, `training/config.py`) becomes one flag:
`--` + the field name with dashes (`learning_rate` → `--learning-rate`), unless the field or
the task spells it otherwise (`output_dir` → `--output`; pretraining's `train` →
`--train-files`). Help, choices and checks come from the field's metadata, the default shown in
`--help` from the task (`TaskHooks.defaults`) or the field. Booleans get `--x` / `--no-x`.

Flags default to "not given", so a `--config` YAML fills whatever the command line leaves out
(flags win). YAML keys are field names or flag names (with `-` or `_`: `vocab`, `vocab_file`,
`batch-size`), flat or grouped under `model:`, `data:`, `optimizer:`, `run:`, `options:`.

Example:
>>> parser = argparse.ArgumentParser(prog="kbk finetune classify")
>>> add_task_arguments(parser, "classify")
>>> args = parser.parse_args(["--train", "t.tsv", "--dev", "d.tsv", "--init", "m/",
...                           "--learning-rate", "3e-5", "--no-jit-compile"])
>>> config = config_from_args(args)
>>> config.optimizer.learning_rate, config.run.jit_compile, config.run.epochs
(3e-05, False, None)
"""

import argparse

from keras_bert_kit.errors import UserError
from keras_bert_kit.training.config import CHECKS, SECTIONS, TrainingConfig, value_type
from keras_bert_kit.training.tasks import get_task

_SECTION_TITLES = {"model": "model", "data": "data", "optimizer": "optimizer",
                   "run": "run", "options": "task options"}
_TRUE, _FALSE = ("true", "yes", "on", "1"), ("false", "no", "off", "0")


def number(kind, check=None):
    """An argparse `type` for `int` / `float` values with a `CHECKS` rule (e.g. `"positive"`).

    Example:
    >>> number(int, "positive")("8")
    8
    >>> number(int, "positive")("0")
    Traceback (most recent call last):
    ...
    argparse.ArgumentTypeError: expected a positive number, not 0
    """
    def convert(text):
        try:
            value = kind(text)
        except (TypeError, ValueError):
            what = "an integer" if kind is int else "a number"
            raise argparse.ArgumentTypeError(f"expected {what}, not {text!r}") from None
        if check is not None and not CHECKS[check][0](value):
            raise argparse.ArgumentTypeError(f"expected {CHECKS[check][1]}, not {text}")
        return value

    convert.__name__ = kind.__name__
    return convert


def _json_object(text):
    import json

    try:
        value = json.loads(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"expected a JSON object: {error}") from None
    if not isinstance(value, dict):
        raise argparse.ArgumentTypeError(f"expected a JSON object, not {text}")
    return value


def converter(field, spec):
    """The function turning a flag's (or a YAML string's) text into the field's value."""
    if spec.get("parse"):
        return spec["parse"]
    kind = value_type(field)
    if kind is dict:
        return _json_object
    if kind in (int, float):
        return number(kind, spec.get("check"))
    return str


def add_task_arguments(parser, task):
    """Adds `--config` and one flag per setting of `task` (grouped by section) to `parser`."""
    hooks = get_task(task)
    parser.add_argument("--config", metavar="YAML",
                        help="YAML file of settings (keys: these flags' or the fields' names, "
                             "flat or under model:/data:/optimizer:/run:/options:); flags given "
                             "here override it")
    groups = {}
    for section, field in hooks.fields():
        if section not in groups:
            groups[section] = parser.add_argument_group(_SECTION_TITLES[section])
        spec = hooks.flag_spec(field)
        default = hooks.default(field)
        text = spec.get("help", "").replace("%", "%%")
        if default is not None and "default" not in text:
            text += f" (default: {default})"
        if field.name in hooks.required:
            text += " [required]"
        kwargs = {"dest": field.name, "default": None, "help": text}
        if value_type(field) is bool and not spec.get("parse"):
            kwargs["action"] = argparse.BooleanOptionalAction
        else:
            kwargs["type"] = converter(field, spec)
            kwargs["metavar"] = spec.get("metavar") or spec["flag"][2:].upper().replace("-", "_")
            for key in ("choices", "nargs"):
                if spec.get(key) is not None:
                    kwargs[key] = spec[key]
            if spec.get("choices") and not spec.get("metavar"):
                del kwargs["metavar"]  # argparse shows {a,b,c}
        groups[section].add_argument(spec["flag"], *spec.get("aliases", ()), **kwargs)
    parser.set_defaults(task=hooks.name)


def yaml_keys(hooks):
    """`{accepted YAML key: field name}`: field names and flag names, with underscores."""
    keys = {}
    for _, field in hooks.fields():
        spec = hooks.flag_spec(field)
        for flag in (spec["flag"], *spec.get("aliases", ())):
            keys[flag.lstrip("-").replace("-", "_")] = field.name
        keys[field.name] = field.name
    return keys


def read_yaml(path, hooks):
    """`{field name: value}` of a `--config` YAML file for `hooks`' task.

    Raises:
        UserError: the file is not a mapping, has an unknown key or a bad value.
    """
    import yaml

    with open(path, encoding="utf-8") as f:
        loaded = yaml.safe_load(f) or {}
    if not isinstance(loaded, dict):
        raise UserError(f"{path}: expected a mapping of settings")
    flat = {}
    for key, value in loaded.items():
        flat.update(value if key in SECTIONS and isinstance(value, dict) else {key: value})
    keys, fields = yaml_keys(hooks), {f.name: f for _, f in hooks.fields()}
    values = {}
    for key, value in flat.items():
        name = keys.get(str(key).replace("-", "_"))
        if name is None:
            raise UserError(f"{path}: unknown key {key!r}; use the flags' names or the "
                            f"settings of {hooks.name}: {sorted(set(keys.values()))}")
        values[name] = _from_text(path, key, fields[name], hooks, value)
    return values


def _from_text(path, key, field, hooks, value):
    """A YAML value, converted when YAML left a string (`5e-5` is a string in YAML 1.1)."""
    if not isinstance(value, str):
        return value
    if value_type(field) is bool:
        lowered = value.lower()
        return True if lowered in _TRUE else False if lowered in _FALSE else value
    try:
        return converter(field, hooks.flag_spec(field))(value)
    except argparse.ArgumentTypeError as error:
        raise UserError(f"{path}: {key}: {error}") from None


def config_values(args, task=None):
    """`{field name: value}` given on the command line, merged over the `--config` YAML.

    Raises:
        UserError: a required setting is neither a flag nor in the YAML, or a bad YAML file.
    """
    hooks = get_task(task or args.task)
    values = read_yaml(args.config, hooks) if getattr(args, "config", None) else {}
    for _, field in hooks.fields():
        value = getattr(args, field.name, None)
        if value is not None:
            values[field.name] = value
    missing = [name for name in hooks.required
               if values.get(name) is None and hooks.defaults.get(name) is None]
    if missing:
        flags = {f.name: hooks.flag_spec(f)["flag"] for _, f in hooks.fields()}
        raise UserError(f"give {', '.join(flags[m] for m in missing)} (as flags or in the "
                        "--config YAML)")
    return values


def config_from_args(args, task=None):
    """The `TrainingConfig` of parsed flags (and `--config`); the task's defaults fill the rest."""
    hooks = get_task(task or args.task)
    config = TrainingConfig(options=hooks.options_class() if hooks.options_class else None)
    return config.replace(**config_values(args, hooks))


def flag_names(task):
    """Every flag of a task's command (aliases and `--no-` forms included), for checks and docs.

    Example:
    >>> {"--train-files", "--vocab", "--no-jit-compile"} <= set(flag_names("pretrain"))
    True
    """
    hooks = get_task(task)
    names = ["--config"]
    for _, field in hooks.fields():
        spec = hooks.flag_spec(field)
        names += [spec["flag"], *spec.get("aliases", ())]
        if value_type(field) is bool and not spec.get("parse"):
            names.append("--no-" + spec["flag"][2:])
    return names
