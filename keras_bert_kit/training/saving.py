"""`load_model`: `keras.saving.load_model` with every keras-bert-kit class registered first."""

import importlib

# Modules defining every Keras-serializable class of the package (models, their preprocessors,
# the losses, metrics and optimizers a compiled model's config names).
SERIALIZABLE_MODULES = (
    "keras_bert_kit.models.bert_classifier",
    "keras_bert_kit.models.bert_multiple_choice",
    "keras_bert_kit.models.bert_pretrainer",
    "keras_bert_kit.models.bert_token_classifier",
    "keras_bert_kit.models.bert_question_answerer",
    "keras_bert_kit.training.losses",
    "keras_bert_kit.training.metrics",
    "keras_bert_kit.training.optimization",
)


def load_model(path, **kwargs):
    """Loads a `.keras` file of this package (task model, backbone, pretrainer) with its classes.

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

    for module in SERIALIZABLE_MODULES:
        importlib.import_module(module)
    return keras.saving.load_model(path, **kwargs)
