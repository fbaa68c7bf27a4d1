"""The task models by task name and by Hugging Face class, read from the `BertTask` classes.

A `BertTask` subclass that declares `task_name` is registered when its class statement runs
(`BertTask.__init_subclass__` calls `register_task`); nothing here names a task. The lookups
first import every module of `keras_bert_kit.models` (found on disk, not listed), so the
package's own tasks are known before anyone imported them. What each task declares lives on its
class (`task_name`, `hf_architecture`); what a checkpoint folder is for lives in
`pretrained_task.py`.
"""

import importlib
import pkgutil

from keras_bert_kit.errors import UserError

_TASKS = {}


def register_task(cls):
    """Adds a `BertTask` subclass declaring `task_name` (called as the class is defined).

    A class of the same module and name replaces its earlier definition (a re-run class
    statement); another class taking a registered task name or Hugging Face class is an error.

    Args:
        cls: the task model class.
    """
    if not cls.__module__.startswith(f"{__package__}."):
        import_model_modules()  # the package's tasks first, so that a clash names the newcomer
    for other in _TASKS.values():
        if _same_class(other, cls):
            continue
        for attribute in ("task_name", "hf_architecture"):
            value = getattr(cls, attribute)
            if value is not None and getattr(other, attribute) == value:
                raise TypeError(f"{cls.__qualname__}.{attribute} = {value!r} is already "
                                f"{other.__module__}.{other.__qualname__}'s")
    _TASKS.pop(next((n for n, c in _TASKS.items() if _same_class(c, cls)), None), None)
    _TASKS[cls.task_name] = cls


def _same_class(a, b):
    return (a.__module__, a.__qualname__) == (b.__module__, b.__qualname__)


def import_model_modules():
    """Imports every module of `keras_bert_kit.models`, which registers its classes (with the
    task registry and with Keras' serialization)."""
    import keras_bert_kit.models as models

    for module in pkgutil.iter_modules(models.__path__):
        importlib.import_module(f"{models.__name__}.{module.name}")


def task_classes():
    """`{task name: task model class}` of every registered task, by name.

    Example:
    >>> {name: cls.__name__ for name, cls in task_classes().items()}
    {'classify': 'BertClassifier', 'multiple-choice': 'BertMultipleChoice',
     'squad': 'BertQuestionAnswerer', 'tag': 'BertTokenClassifier'}
    """
    import_model_modules()
    return dict(sorted(_TASKS.items()))


def task_class(task):
    """The task model class of a task name (`"classify"`, `"tag"`, `"squad"`, `"multiple-choice"`,
    or the `task_name` of any other `BertTask` subclass defined so far).

    Args:
        task: the task name, as `kbk finetune` and `kbk export --task` spell it.

    Example:
    >>> task_class("tag").__name__
    'BertTokenClassifier'
    """
    classes = task_classes()
    if task not in classes:
        raise UserError(f"task {task!r}: expected one of {sorted(classes)}")
    return classes[task]


def task_for_architecture(architecture):
    """The task name of a Hugging Face class (`config.json` `architectures`), or None.

    Args:
        architecture: e.g. `"BertForQuestionAnswering"`.

    Example:
    >>> task_for_architecture("BertForQuestionAnswering"), task_for_architecture("BertModel")
    ('squad', None)
    """
    return next((name for name, cls in task_classes().items()
                 if architecture is not None and cls.hf_architecture == architecture), None)
