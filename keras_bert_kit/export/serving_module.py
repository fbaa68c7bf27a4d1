"""`ServingModule`: what an export saves — a task model, its preprocessor and its signatures.

The signatures are the model's own declaration (`BertTask.serving_signatures`): this module
adds each one to a `keras.export.ExportArchive` as it is, with no knowledge of task classes.
What each task serves is documented on its `serving_outputs`; the served outputs are turned
into Python by the decoder the task names (`keras_bert_kit.text.decoding`).
"""

import json
import os

import keras

from keras_bert_kit.export.precision import precision_name

DECLARATION_FILE = os.path.join("assets.extra", "keras_bert_kit.json")


class ServingModule:
    """Builds the export of a task model as a `keras.export.ExportArchive`.

    Keras' archive tracks the variables the way TF Serving's TF1 session loader can restore them
    (a `tf.Module` holding the Keras model directly cannot be restored by that loader).

    Args:
        model: a task model declaring the task contract (`serving_signatures`, `decoder`; see
            `keras_bert_kit.models.bert_task`), with a `preprocessor`.
        pad_to_multiple_of: passed to `model.serving_signatures` (requests run at their longest
            text rounded up to a multiple of this where the task allows; None: full length).
    """

    def __init__(self, model, pad_to_multiple_of=8):
        self.model = model
        self.signatures = model.serving_signatures(pad_to_multiple_of=pad_to_multiple_of)
        self.archive = keras.export.ExportArchive()
        self.archive.track(model)
        self.endpoints = {
            name: self.archive.add_endpoint(name, signature.fn,
                                            input_signature=signature.input_signature())
            for name, signature in self.signatures.items()}

    def declaration(self):
        """What `assets.extra/keras_bert_kit.json` holds: task, decoder, precision and signature
        inputs."""
        return {"task": type(self.model).__name__, "decoder": self.model.decoder,
                "precision": precision_name(self.model),
                "signatures": {name: signature.input_names
                               for name, signature in self.signatures.items()}}

    def write(self, path):
        """Writes the SavedModel and its declaration to `path`."""
        self.archive.write_out(path, verbose=False)
        write_declaration(path, self.declaration())


def write_declaration(export_dir, declaration):
    """Writes `declaration` to `export_dir/assets.extra/keras_bert_kit.json`."""
    path = os.path.join(export_dir, DECLARATION_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(declaration, f, indent=1)
    return path


def read_declaration(export_dir):
    """The export's declaration (see `ServingModule.declaration`), or None for exports without
    one (written before the task contract)."""
    path = os.path.join(export_dir, DECLARATION_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)
