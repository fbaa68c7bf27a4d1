"""The declaration file of an export, `assets.extra/keras_bert_kit.json`: task, decoder,
precision and the inputs of each signature (what `ServingModule.declaration` returns).

JSON only (no TensorFlow or Keras import), so `kbk predict` reads it before loading TensorFlow;
`serving/client.py` keeps its own reader to stay free of this package.
"""

import json
import os

DECLARATION_FILE = os.path.join("assets.extra", "keras_bert_kit.json")


def write_declaration(export_dir, declaration):
    """Writes `declaration` to `export_dir/assets.extra/keras_bert_kit.json`.

    Args:
        export_dir: the SavedModel version folder.
        declaration: a JSON-able dict.

    Example:
    >>> path = write_declaration("export", {"task": "BertClassifier", "decoder": "classes"})
    >>> read_declaration("export")["decoder"], read_declaration("elsewhere")
    ('classes', None)
    """
    path = os.path.join(export_dir, DECLARATION_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(declaration, f, indent=1)
    return path


def read_declaration(export_dir):
    """The export's declaration, or None for exports without one (written before the task
    contract).

    Args:
        export_dir: the SavedModel version folder.
    """
    path = os.path.join(export_dir, DECLARATION_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)
