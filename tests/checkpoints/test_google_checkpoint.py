"""Google TF1 checkpoints written with the original variable names load into BertBackbone."""

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.checkpoints import load_checkpoint
from keras_bert_kit.checkpoints.weight_mapping import backbone_state_dict
from keras_bert_kit.models.bert_backbone import BertBackbone
from tests.helpers import TINY, max_abs_diff_valid, random_inputs


def google_name(hf_name, value):
    """HF PyTorch name → Google's original name (and whether the value must be transposed)."""
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
    graph = tf.Graph()
    with graph.as_default():
        variables = []
        for hf_name, value in state.items():
            name, transpose = google_name(hf_name, value)
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


@pytest.fixture
def source_backbone():
    return BertBackbone(**TINY)


def test_google_checkpoint_loads_with_equal_outputs(source_backbone, tmp_path):
    write_google_checkpoint(tmp_path, source_backbone.bert_config.to_hf_dict(),
                            backbone_state_dict(source_backbone))
    reader = tf.train.load_checkpoint(str(tmp_path / "bert_model.ckpt"))
    assert "bert/encoder/layer_0/attention/self/query/kernel" in reader.get_variable_to_shape_map()

    loaded = BertBackbone.from_pretrained(str(tmp_path), dropout=0.0, attention_dropout=0.0)
    inputs = random_inputs()
    expected, actual = source_backbone(inputs), loaded(inputs)
    assert max_abs_diff_valid(actual["sequence_output"], expected["sequence_output"],
                              inputs["padding_mask"]) <= 1e-6
    # The checkpoint prefix works as well as its folder.
    assert load_checkpoint(str(tmp_path / "bert_model.ckpt")).config.num_layers == 2


def test_missing_tensor_is_named(source_backbone, tmp_path):
    state = backbone_state_dict(source_backbone)
    del state["encoder.layer.1.output.dense.weight"]
    write_google_checkpoint(tmp_path, source_backbone.bert_config.to_hf_dict(), state)
    with pytest.raises(KeyError, match=r"bert_model\.ckpt.*encoder\.layer\.1\.output\.dense\.weight"):
        BertBackbone.from_pretrained(str(tmp_path))


def test_shape_mismatch_names_tensor_and_both_shapes(source_backbone, tmp_path):
    config = source_backbone.bert_config.to_hf_dict()
    config["intermediate_size"] = 40
    write_google_checkpoint(tmp_path, config, backbone_state_dict(source_backbone))
    with pytest.raises(ValueError, match=r"intermediate\.dense\.weight.*\(37, 32\).*\(32, 40\)"):
        BertBackbone.from_pretrained(str(tmp_path))


def test_vocab_size_disagreeing_with_config(source_backbone, tmp_path):
    config = source_backbone.bert_config.to_hf_dict()
    config["vocab_size"] = 120
    write_google_checkpoint(tmp_path, config, backbone_state_dict(source_backbone))
    with pytest.raises(ValueError, match=r"vocabulary size disagrees.*99 rows.*vocab_size=120"):
        BertBackbone.from_pretrained(str(tmp_path))


def test_non_bert_architecture_is_refused(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "gpt2", "vocab_size": 10}))
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(ValueError, match=r"config\.json: model_type is 'gpt2', not 'bert'"):
        BertBackbone.from_pretrained(str(tmp_path))


def test_folder_without_weights(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps(BertBackbone(**TINY).bert_config.to_hf_dict()))
    with pytest.raises(FileNotFoundError, match="no BERT weights found"):
        BertBackbone.from_pretrained(str(tmp_path))
