"""`kbk pretrain` and `kbk finetune classify | tag | squad`: the runner's tasks as commands.

The flags are generated from the training dataclasses (`cli/arguments.py`); a `--config` YAML
fills what the flags leave out. Each command builds the `TrainingConfig`, runs the task with the
`Runner` and prints a short report (the full result is in `<output>/metrics.json`).
"""

import json

from keras_bert_kit.cli.arguments import add_task_arguments, config_from_args
from keras_bert_kit.cli.common import add_command
from keras_bert_kit.training.runner import Runner
from keras_bert_kit.training.tasks import TASKS


def _classify_report(result):
    return json.dumps({k: result[k] for k in ("dev_metrics", "train_seconds")}, indent=2)


def _tag_report(result):
    from keras_bert_kit.training.ner_metrics import format_entity_report

    return (format_entity_report(result["dev_entity_scores"]) + "\n"
            + f"train: {result['train_sentences']} sentences, {result['train_seconds']:.0f} s")


def _squad_report(result):
    return json.dumps({k: result[k] for k in ("dev_scores", "train_seconds")}, indent=2)


def _pretrain_report(result):
    return json.dumps({k: v for k, v in result.items() if k != "settings"}, indent=2)


REPORTS = {"classify": _classify_report, "tag": _tag_report, "squad": _squad_report,
           "pretrain": _pretrain_report}


def prepare_task(args):
    """Builds the run's `Runner` from the flags and `--config` (checks settings, no TensorFlow)."""
    args.runner = Runner(args.task, config_from_args(args))


def run_task(args):
    """Runs the task of a parsed training command; prints its report; returns the result."""
    if getattr(args, "runner", None) is None:
        prepare_task(args)
    result = args.runner.run()
    print(REPORTS[args.task](result), flush=True)
    return result


def register(subparsers):
    """Adds `pretrain` and `finetune classify | tag | squad` to `kbk`'s subcommands."""
    hooks = TASKS["pretrain"]
    parser = add_command(subparsers, "pretrain", run_task, help=hooks.help,
                         description="BERT pretraining (masked LM + next sentence) from "
                                     "TFRecords or text; run the same command again after a "
                                     "kill to resume from the last backup.")
    add_task_arguments(parser, "pretrain")
    parser.set_defaults(prepare=prepare_task)
    finetune = subparsers.add_parser("finetune", help="fine-tuning recipes").add_subparsers(
        dest="task_command", required=True, metavar="TASK")
    for name in ("classify", "tag", "squad"):
        parser = add_command(finetune, name, run_task, help=TASKS[name].help,
                             description=f"Fine-tuning: {TASKS[name].help}.")
        add_task_arguments(parser, name)
        parser.set_defaults(prepare=prepare_task)
