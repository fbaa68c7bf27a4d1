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
    "TaggingPreprocessor": "keras_bert_kit.text.tagging_preprocessor",
    "SquadPreprocessor": "keras_bert_kit.text.squad_preprocessor",
    "build_vocabulary": "keras_bert_kit.text.vocabulary",
    # config
    "BertConfig": "keras_bert_kit.config",
    # models
    "BertBackbone": "keras_bert_kit.models.bert_backbone",
    "BertPretrainer": "keras_bert_kit.models.bert_pretrainer",
    "BertClassifier": "keras_bert_kit.models.bert_classifier",
    "BertMultipleChoice": "keras_bert_kit.models.bert_multiple_choice",
    "BertTokenClassifier": "keras_bert_kit.models.bert_token_classifier",
    "BertQuestionAnswerer": "keras_bert_kit.models.bert_question_answerer",
    # training
    "load_model": "keras_bert_kit.training.saving",
    # export
    "export_saved_model": "keras_bert_kit.export.saved_model",
    "ExportedModel": "keras_bert_kit.export.predict",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name):
    if name in _EXPORTS:
        return getattr(importlib.import_module(_EXPORTS[name]), name)
    raise AttributeError(f"module 'keras_bert_kit' has no attribute {name!r}")


def __dir__():
    return sorted(list(globals()) + __all__)
