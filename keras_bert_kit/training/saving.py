"""`load_model`: `keras.saving.load_model` with every keras-bert-kit class registered first."""

import importlib

# Modules of the Keras-serializable classes a compiled model's config names besides the models
# (losses, metrics, optimizers); the models register as `import_model_modules` imports them.
TRAINING_MODULES = (
    "keras_bert_kit.training.losses",
    "keras_bert_kit.training.metrics",
    "keras_bert_kit.training.optimization",
)


def load_model(path, **kwargs):
    """Loads a `.keras` file of this package (task model, backbone, pretrainer) with its classes.

    A `BertTask` subclass defined outside the package loads too once its class is defined
    (defining it registers it).

    Args:
        path: the `.keras` file.
        **kwargs: passed to `keras.saving.load_model` (e.g. `compile=False`).

    Example:
    >>> backbone = BertBackbone.from_preset("bert_tiny_uncased")
    >>> backbone.save("tiny.keras")
    >>> load_model("tiny.keras").num_layers
    2
    """
    import keras

    from keras_bert_kit.models.task_registry import import_model_modules

    import_model_modules()
    for module in TRAINING_MODULES:
        importlib.import_module(module)
    return keras.saving.load_model(path, **kwargs)
