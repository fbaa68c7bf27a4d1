"""keras-bert-kit: BERT for TensorFlow + Keras 3, from raw text to TF Serving.

Public names are imported lazily so that `import keras_bert_kit` stays cheap and
a submodule's heavy imports (tensorflow-text, h5py) happen only when used.
"""

import importlib

__version__ = "0.1.0"

_EXPORTS = {
    # text
    "BertTokenizer": "keras_bert_kit.text.bert_tokenizer",
    "BertPreprocessor": "keras_bert_kit.text.bert_preprocessor",
    "build_vocabulary": "keras_bert_kit.text.vocabulary",
    # models
    "BertConfig": "keras_bert_kit.models.bert_config",
    "BertBackbone": "keras_bert_kit.models.bert_backbone",
    "BertPretrainer": "keras_bert_kit.models.bert_pretrainer",
    "BertClassifier": "keras_bert_kit.models.bert_classifier",
    "BertMultipleChoice": "keras_bert_kit.models.bert_multiple_choice",
    "BertTokenClassifier": "keras_bert_kit.models.bert_token_classifier",
    "BertQuestionAnswerer": "keras_bert_kit.models.bert_question_answerer",
    # export
    "export_saved_model": "keras_bert_kit.export.saved_model",
}

# Modules defining every Keras-serializable class of the package.
_SERIALIZABLE_MODULES = (
    "keras_bert_kit.models.bert_classifier",
    "keras_bert_kit.models.bert_multiple_choice",
    "keras_bert_kit.models.bert_pretrainer",
    "keras_bert_kit.models.bert_token_classifier",
    "keras_bert_kit.models.bert_question_answerer",
    "keras_bert_kit.training.metrics",
    "keras_bert_kit.training.optimization",
)


def load_model(path, **kwargs):
    """`keras.saving.load_model` with every keras-bert-kit class registered first.

    Example:
    >>> classifier = keras_bert_kit.load_model("runs/sentiment/model.keras")  # doctest: +SKIP
    """
    import keras

    for module in _SERIALIZABLE_MODULES:
        importlib.import_module(module)
    return keras.saving.load_model(path, **kwargs)

__all__ = sorted(_EXPORTS) + ["load_model"]


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'keras_bert_kit' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
