"""The task model a checkpoint folder is for: `architectures` (or the head it holds) → task.

Used by `kbk export --model <folder>` and `kbk convert`: `load_task_model(path)` builds the
`BertFor…` checkpoint's task model with its head, labels and a preprocessor from its vocabulary.
Which task has which Hugging Face class is declared by the task classes (`task_registry.py`).
"""

import os

from keras_bert_kit.errors import UserError
from keras_bert_kit.models.task_registry import task_class, task_classes, task_for_architecture


def checkpoint_task(path):
    """The task of a checkpoint folder/file: from `config.json` `architectures`, else from the
    head its weights hold (Google checkpoints); None for an encoder or pretraining checkpoint."""
    from keras_bert_kit.checkpoints import load_checkpoint
    from keras_bert_kit.config import HeadConfig, checkpoint_folder, find_config_file

    path = os.fspath(path)
    task = task_for_architecture(
        HeadConfig.from_hf_config(find_config_file(checkpoint_folder(path))).architecture)
    if task is None:
        task = task_for_architecture(load_checkpoint(path).head_architecture())
    return task


def load_task_model(path, task=None, **kwargs):
    """The task model of a checkpoint, with its head, labels and preprocessor.

    Args:
        path: a Hugging Face or Google BERT folder (or weight file).
        task: a task name; default the checkpoint's (`checkpoint_task`), which must have one.
        **kwargs: passed to the task's `from_pretrained`.
    """
    if task is not None:
        return task_class(task).from_pretrained(path, **kwargs)
    found = checkpoint_task(path)
    if found is None:
        raise UserError(f"{path} holds no task head (an encoder or pretraining checkpoint): "
                        f"pass --task, one of {sorted(task_classes())}")
    return task_class(found).from_pretrained(path, **kwargs)
