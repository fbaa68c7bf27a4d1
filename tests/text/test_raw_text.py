"""Raw texts as numpy arrays (`text/raw_text.py`), and the promise that makes it its own module:
`kbk predict`'s `ExportedModel` imports without TensorFlow or Keras."""

import pathlib
import subprocess
import sys

import numpy as np

from keras_bert_kit.text.raw_text import count_texts, is_raw_text, raw_text_features, text_array

REPO = pathlib.Path(__file__).resolve().parents[2]


def test_importing_predict_loads_neither_tensorflow_nor_keras():
    code = ("import sys\nimport keras_bert_kit.export.predict\nimport keras_bert_kit.text.raw_text\n"
            "print(sorted(m for m in sys.modules if m.partition('.')[0] in "
            "('tensorflow', 'keras', 'tf_keras', 'tensorflow_text')))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[-1] == "[]"


def test_texts_pairs_and_what_is_not_text():
    assert text_array("one").tolist() == [b"one"]
    assert text_array(np.array([["a", "b"]])).shape == (1, 2)
    assert text_array([["a"], ["b", "c"]]) is None              # ragged
    assert text_array(np.array([1.0])) is None and text_array(3) is None
    pair = raw_text_features((["q1", "q2"], np.array([b"c1", b"c2"], dtype=object)))
    assert [p.tolist() for p in pair] == [[b"q1", b"q2"], [b"c1", b"c2"]]
    assert count_texts(pair) == 2 and count_texts(text_array(["a", "b", "c"])) == 3
    assert is_raw_text(["a"]) and not is_raw_text({"token_ids": np.zeros((1, 2))})


def test_tensorflow_strings_are_read_once_tensorflow_is_loaded():
    import tensorflow as tf

    assert text_array(tf.constant(["é", "b"])).tolist() == ["é".encode(), b"b"]
    assert text_array(tf.constant([1, 2])) is None
