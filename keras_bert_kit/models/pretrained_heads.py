"""Task heads from checkpoints: does the checkpoint hold the head this task needs, and with what
units and labels; a head that starts new is always said (a logged warning), never silent.

`plan_head` decides, `HeadPlan.apply` loads the head into a built model (or logs why it starts
new). The head's size comes from its tensor (`classifier.weight` `[num_classes, hidden]`), its
labels from `config.json` `id2label`; an explicit argument that disagrees with them is one
`UserError` naming both, unless `head="new"` asks for a fresh head.
"""

import dataclasses
import logging

from keras_bert_kit.checkpoints.checkpoint import HEAD_PREFIXES
from keras_bert_kit.checkpoints.weight_mapping import assign_weights, task_head_entries
from keras_bert_kit.errors import UserError

logger = logging.getLogger(__name__)

HEAD_OPTIONS = ("auto", "new")


@dataclasses.dataclass
class HeadPlan:
    """What `from_pretrained` builds: `units` outputs, `labels`, `problem_type`; the head is
    loaded from `checkpoint` when set, else starts new and `message` says why."""

    units: int
    labels: list | None = None
    problem_type: str | None = None
    checkpoint: object = None
    message: str | None = None

    def apply(self, model):
        """Loads the head into `model.output_dense`, or logs that it starts initialised."""
        if self.checkpoint is not None:
            assign_weights(task_head_entries(model.output_dense, model.hf_head_prefix),
                           self.checkpoint)
            logger.info("%s: loaded the %s head (%d outputs)", self.checkpoint.source,
                        model.hf_architecture, self.units)
        else:
            logger.warning("%s", self.message)


def _is_generic(labels):
    return all(label == f"LABEL_{i}" for i, label in enumerate(labels))


def _matching_head(task_cls, checkpoint, units, labels, problem_type, units_arg):
    """The plan for a checkpoint whose head is the task's own: its size and labels, checked
    against what the caller asked for."""
    prefix = task_cls.hf_head_prefix
    weight = checkpoint.tensors[f"{prefix}.weight"]
    found = weight.shape[0]
    what = f"{prefix}.weight in {checkpoint.source} has shape {tuple(weight.shape)}"
    advice = (f"leave it out to use the checkpoint's head, or pass head='new' (kbk: --head new) to start a new one")
    if task_cls.hf_head_units is not None and found != task_cls.hf_head_units:
        raise UserError(f"{what}, but a {task_cls.__name__} head has {task_cls.hf_head_units} "
                        "outputs; this is not a checkpoint of that task")
    if task_cls.hf_head_units is None and units is not None and units != found:
        raise UserError(f"{units_arg}={units} disagrees with the checkpoint's head: {what} "
                        f"({found} outputs); {advice}")
    theirs = checkpoint.head.labels if checkpoint.head.labels and len(
        checkpoint.head.labels) == found else None
    if labels is not None:
        labels = list(labels)
        if len(labels) != found:
            raise UserError(f"label_vocabulary has {len(labels)} labels but the checkpoint's "
                            f"head has {found}: {what}; {advice}")
        if theirs is not None and not _is_generic(theirs) and labels != theirs:
            raise UserError(f"label_vocabulary={labels} disagrees with the checkpoint's labels "
                            f"{theirs} (id2label in {checkpoint.config_source}); {advice}")
    stated = checkpoint.head.problem_type
    if problem_type is not None and stated is not None and problem_type != stated:
        raise UserError(f"problem_type={problem_type!r} disagrees with the checkpoint's "
                        f"problem_type {stated!r} ({checkpoint.config_source}); {advice}")
    return HeadPlan(found, labels if labels is not None else theirs, problem_type or stated,
                    checkpoint)


def plan_head(task_cls, checkpoint, *, source, head="auto", units=None, labels=None,
              problem_type=None, units_arg="num_classes", default_units=2):
    """Decides the head of a task model built from `checkpoint` (None: a `.keras` backbone).

    Args:
        task_cls: the `BertTask` subclass (`hf_architecture`, `hf_head_prefix`, `hf_head_units`).
        checkpoint: the `Checkpoint`, or None.
        source: the path the user gave (named in messages).
        head: `"auto"` (load the checkpoint's head when it is this task's) or `"new"`.
        units: the head size the caller asked for (None: the checkpoint's, else `default_units`).
        labels: the labels the caller asked for (None: the checkpoint's `id2label`).
        problem_type: the caller's problem type (None: the checkpoint's).
        units_arg: the argument name of `units`, for messages.
        default_units: the size of a new head when neither the caller nor `labels` give one
            (None: the caller must).
    """
    if head not in HEAD_OPTIONS:
        raise UserError(f"head={head!r}: expected 'auto' (load the checkpoint's head when it has "
                        "one) or 'new' (start a new head)")
    found = checkpoint.head_architecture() if checkpoint is not None else None
    task, wanted = task_cls.__name__, task_cls.hf_architecture
    if found == wanted and head == "auto":
        return _matching_head(task_cls, checkpoint, units, labels, problem_type, units_arg)
    if task_cls.hf_head_units is not None:
        units = task_cls.hf_head_units
    elif units is None:
        units = len(labels) if labels is not None else default_units
    if units is None:
        raise UserError(f"{source} holds no {wanted} head, so its labels are unknown: give "
                        "label_vocabulary")
    if found == wanted:
        shape = tuple(checkpoint.tensors[f"{task_cls.hf_head_prefix}.weight"].shape)
        why = (f"head='new': the checkpoint's own {found} head ({task_cls.hf_head_prefix}.weight "
               f"{shape} in {checkpoint.source}) is not loaded")
    elif found in HEAD_PREFIXES:
        why = (f"{checkpoint.source} holds a {found} head ({HEAD_PREFIXES[found]}.*) that {task} "
               "cannot use; it is not loaded")
    elif found is not None:
        why = f"{checkpoint.source} holds {found} heads (cls.*), which {task} does not use"
    else:
        why = f"{source} holds no {wanted} head"
    return HeadPlan(units, labels, problem_type,
                    message=f"{why}; the {task} head starts newly initialised "
                            f"({units} outputs) and needs training")
