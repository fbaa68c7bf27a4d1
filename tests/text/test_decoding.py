"""Decoders of served outputs (`text/decoding.py`): the row functions exports declare by name."""

import json

import numpy as np
import pytest

from keras_bert_kit.text.decoding import DECODERS, decode_classes, plain

TAGGER = {"label": np.array([b"O", b"B-PER", b"I-PER", b"O", b"O"]),
          "word_start": np.array([0, 1, 0, 1, 0]), "token_start": np.array([-1, 0, 2, 5, -1]),
          "token_end": np.array([-1, 2, 4, 9, -1]), "score": np.array([.5, .9, .8, .7, .5], "f4")}


def test_every_decoder_takes_text_outputs_and_pair():
    assert sorted(DECODERS) == ["answer", "choices", "classes", "entities", "words"]
    classes = {"probabilities": np.array([0.25, 0.75], "float32"), "label_id": np.int32(1),
               "label": b"yes"}
    assert DECODERS["classes"]("a", classes) == {"text": "a", "probabilities": [0.25, 0.75],
                                                 "label_id": 1, "label": "yes"}
    assert DECODERS["classes"]("a", classes, "b")["text_pair"] == "b"
    assert DECODERS["choices"]("ctx", classes, ["x", "y"])["choices"] == ["x", "y"]
    row = DECODERS["entities"]("Zoë went", TAGGER)
    assert [(e["text"], e["type"]) for e in row["entities"]] == [("Zoë", "PER")]
    assert [w["text"] for w in DECODERS["words"]("Zoë went", TAGGER)["words"]] == ["Zoë", "went"]
    answer = {"answer": b"Bob", "answer_start": np.int64(4), "answer_end": np.int64(7),
              "score": np.float32(2.0), "null_score": np.float32(0.5)}
    row = DECODERS["answer"]("Who?", answer, "and Bob")
    assert (row["question"], row["context"], row["answer"], row["start"]) == (
        "Who?", "and Bob", "Bob", 4)
    with pytest.raises(ValueError, match="needs the context"):
        DECODERS["answer"]("Who?", answer)
    for row in (DECODERS["entities"]("Zoë went", TAGGER), DECODERS["answer"]("q", answer, "c")):
        assert json.loads(json.dumps(row)) == row


def test_entities_fall_back_to_words_for_tags_that_are_not_bio():
    pos = {**TAGGER, "label": np.array([b"X", b"NNP", b"NNP", b"VBD", b"X"])}
    row = DECODERS["entities"]("Zoë went", pos)
    assert "entities" not in row and [w["tag"] for w in row["words"]] == ["NNP", "VBD"]


def test_plain_values():
    assert plain(np.array([[b"a"], [b"b"]])) == [["a"], ["b"]]
    assert plain((np.int64(3), "x")) == [3, "x"]
    assert decode_classes({"score": np.float32(1.5)}) == {"score": 1.5}
