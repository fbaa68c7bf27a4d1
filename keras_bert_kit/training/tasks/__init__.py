"""The training tasks: one `TaskHooks` subclass each, by name (`run(name, ...)`, `kbk` commands).

Example:
>>> sorted(TASKS)
['classify', 'pretrain', 'squad', 'tag']
>>> get_task("tag").options_class.__name__
'TagOptions'
"""

from keras_bert_kit.errors import UserError
from keras_bert_kit.training.tasks.classify import ClassifyHooks
from keras_bert_kit.training.tasks.pretrain import PretrainHooks
from keras_bert_kit.training.tasks.squad import SquadHooks
from keras_bert_kit.training.tasks.tag import TagHooks

TASKS = {hooks.name: hooks for hooks in (ClassifyHooks, TagHooks, SquadHooks, PretrainHooks)}


def get_task(name):
    """The `TaskHooks` class of a task name (a `TaskHooks` subclass is returned as it is)."""
    if isinstance(name, type):
        return name
    if name not in TASKS:
        raise UserError(f"unknown task {name!r}; expected one of {', '.join(sorted(TASKS))}")
    return TASKS[name]
