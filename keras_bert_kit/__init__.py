"""keras-bert-kit: BERT for TensorFlow + Keras 3, from raw text to TF Serving.

Public names are imported lazily so that `import keras_bert_kit` stays cheap and
a submodule's heavy imports (tensorflow-text, h5py) happen only when used.
"""

import importlib
import os
import pkgutil

__version__ = "0.1.0"


def _model_exports():
    """`{class name: module}` of the models: `models/bert_*.py` each hold one public class named
    after the file (`bert_token_classifier.py`: `BertTokenClassifier`). Read from the folder's
    file names, so nothing is imported and a new model file is exported as it is added."""
    folder = os.path.join(os.path.dirname(__file__), "models")
    return {"".join(word.title() for word in module.name.split("_")):
            f"{__name__}.models.{module.name}"
            for module in pkgutil.iter_modules([folder]) if module.name.startswith("bert_")}


_EXPORTS = {
    # text
    "BertTokenizer": "keras_bert_kit.text.bert_tokenizer",
    "BertPreprocessor": "keras_bert_kit.text.bert_preprocessor",
    "TaggingPreprocessor": "keras_bert_kit.text.tagging_preprocessor",
    "SquadPreprocessor": "keras_bert_kit.text.squad_preprocessor",
    "build_vocabulary": "keras_bert_kit.text.vocabulary",
    # config
    "BertConfig": "keras_bert_kit.config",
    # models: BertBackbone, BertPretrainer, BertTask and the task models
    **_model_exports(),
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
