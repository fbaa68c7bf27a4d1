"""Writes Google TF1 BERT checkpoints (`bert_model.ckpt.*`, Google's variable names) from Hugging
Face PyTorch-named weights, for tests: the encoder as `bert/...`, the `run_classifier.py` head as
`output_weights`/`output_bias`, the `run_squad.py` head as `cls/squad/output_weights`/`output_bias`
(both `[out, in]`, as Google stores them), each with Adam slots and a `global_step`."""

import json
import re

import numpy as np
import tensorflow as tf

_HEADS = {"classifier.weight": "output_weights", "classifier.bias": "output_bias",
          "qa_outputs.weight": "cls/squad/output_weights", "qa_outputs.bias": "cls/squad/output_bias"}


def google_name(hf_name, value):
    """HF PyTorch name (without `bert.`) → Google's name, and whether the value is transposed."""
    if hf_name in _HEADS:
        return _HEADS[hf_name], False
    name = re.sub(r"encoder\.layer\.(\d+)", r"encoder.layer_\1", hf_name)
    parts = name.split(".")
    transpose = False
    if parts[-2] == "LayerNorm":
        parts[-1] = {"weight": "gamma", "bias": "beta"}[parts[-1]]
    elif parts[-1] == "weight" and "embeddings" in parts[-2]:
        parts = parts[:-1]
    elif parts[-1] == "weight" and value.ndim == 2:
        parts[-1], transpose = "kernel", True
    return "bert/" + "/".join(parts), transpose


def write_google_checkpoint(folder, config, state):
    """Writes `folder/bert_model.ckpt.*` and `folder/bert_config.json`.

    Args:
        folder: a `pathlib.Path`.
        config: the `bert_config.json` content.
        state: HF PyTorch name (with or without `bert.`) → numpy array.
    """
    graph = tf.Graph()
    with graph.as_default():
        variables = []
        for hf_name, value in state.items():
            name, transpose = google_name(hf_name.removeprefix("bert."), value)
            value = value.T if transpose else value
            variables.append(tf.compat.v1.Variable(value, name=name))
            variables.append(tf.compat.v1.Variable(np.zeros_like(value), name=name + "/adam_m"))
        variables.append(tf.compat.v1.Variable(7, name="global_step", dtype=tf.int64))
        saver = tf.compat.v1.train.Saver(variables)
        with tf.compat.v1.Session(graph=graph) as session:
            session.run(tf.compat.v1.global_variables_initializer())
            saver.save(session, str(folder / "bert_model.ckpt"))
    with open(folder / "bert_config.json", "w") as f:
        json.dump(config, f)
