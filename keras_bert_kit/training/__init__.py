"""Training: the config dataclasses, one `Runner` for every task, task hooks, optimizers, metrics.

`run(task, model=ModelConfig(...), data=DataConfig(...), optimizer=OptimizerConfig(...),
run=RunConfig(...), options=...)` trains `"classify"`, `"tag"`, `"squad"` or `"pretrain"`
(`training/runner.py`); `finetune_classifier`, `finetune_tagger`, `finetune_squad` and
`pretrain` (in their modules) are the same runs as one call with keyword arguments. Names are
imported lazily, so `import keras_bert_kit.training` does not import TensorFlow.

Example:
>>> from keras_bert_kit.training import DataConfig, run
>>> DataConfig(train="train.tsv", dev="test.tsv").batch_size
32
"""

import importlib

_EXPORTS = {
    "run": "keras_bert_kit.training.runner",
    "Runner": "keras_bert_kit.training.runner",
    "TaskHooks": "keras_bert_kit.training.hooks",
    "TASKS": "keras_bert_kit.training.tasks",
    **{name: "keras_bert_kit.training.config" for name in (
        "ModelConfig", "DataConfig", "OptimizerConfig", "RunConfig", "TrainingConfig",
        "ClassifyOptions", "TagOptions", "SquadOptions", "PretrainOptions")},
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'keras_bert_kit.training' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
