"""`ServingModule`: what an export saves — a task model, its preprocessor and its signatures.

The signatures are the model's own declaration (`BertTask.serving_signatures`): this module
adds each one to a `keras.export.ExportArchive` as it is, with no knowledge of task classes.
What each task serves is documented on its `serving_outputs`; the served outputs are turned
into Python by the decoder the task names (`keras_bert_kit.text.decoding`).
"""

import keras

from keras_bert_kit.export.declaration import write_declaration
from keras_bert_kit.export.precision import precision_name


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

