"""The task model a checkpoint folder is for: `architectures` (or the head it holds) → task.

Used by `kbk export --model <folder>` and `kbk convert`: `load_task_model(path)` builds the
`BertFor…` checkpoint's task model with its head, labels and a preprocessor from its vocabulary.
"""

import os

from keras_bert_kit.errors import UserError

# Task names (as `kbk finetune` and `kbk export --task` spell them) → Hugging Face class.
TASK_ARCHITECTURES = {
    "classify": "BertForSequenceClassification",
    "tag": "BertForTokenClassification",
    "squad": "BertForQuestionAnswering",
    "multiple-choice": "BertForMultipleChoice",
}


def task_class(task):
    """The task model class of a task name (`"classify"`, `"tag"`, `"squad"`,
    `"multiple-choice"`)."""
    from keras_bert_kit.models.bert_classifier import BertClassifier
    from keras_bert_kit.models.bert_multiple_choice import BertMultipleChoice
    from keras_bert_kit.models.bert_question_answerer import BertQuestionAnswerer
    from keras_bert_kit.models.bert_token_classifier import BertTokenClassifier

    classes = {"classify": BertClassifier, "tag": BertTokenClassifier,
               "squad": BertQuestionAnswerer, "multiple-choice": BertMultipleChoice}
    if task not in classes:
        raise UserError(f"task {task!r}: expected one of {sorted(classes)}")
    return classes[task]


def checkpoint_task(path):
    """The task of a checkpoint folder/file: from `config.json` `architectures`, else from the
    head its weights hold (Google checkpoints); None for an encoder or pretraining checkpoint."""
    from keras_bert_kit.checkpoints import load_checkpoint
    from keras_bert_kit.config import HeadConfig, find_config_file

    path = os.fspath(path)
    folder = path if os.path.isdir(path) else os.path.dirname(path) or "."
    by_architecture = {v: k for k, v in TASK_ARCHITECTURES.items()}
    architecture = HeadConfig.from_hf_config(find_config_file(folder)).architecture
    if architecture not in by_architecture:
        architecture = load_checkpoint(path).head_architecture()
    return by_architecture.get(architecture)


def load_task_model(path, task=None, **kwargs):
    """The task model of a checkpoint, with its head, labels and preprocessor.

    Args:
        path: a Hugging Face or Google BERT folder (or weight file).
        task: a task name; default the checkpoint's (`checkpoint_task`), which must have one.
        **kwargs: passed to the task's `from_pretrained`.
    """
    found = checkpoint_task(path)
    if task is None:
        if found is None:
            raise UserError(f"{path} holds no task head (an encoder or pretraining checkpoint): "
                            f"pass --task, one of {sorted(TASK_ARCHITECTURES)}")
        task = found
    return task_class(task).from_pretrained(path, **kwargs)
