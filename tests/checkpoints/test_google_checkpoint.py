"""Google TF1 checkpoints written with the original variable names load into BertBackbone."""

import json

import pytest
import tensorflow as tf

from keras_bert_kit.checkpoints import load_checkpoint
from keras_bert_kit.checkpoints.weight_mapping import backbone_state_dict
from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.errors import UserError
from tests.checkpoints.google_names import write_google_checkpoint
from tests.helpers import TINY, max_abs_diff_valid, random_inputs


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
    with pytest.raises(UserError, match=r"bert_model\.ckpt.*encoder\.layer\.1\.output\.dense\.weight"):
        BertBackbone.from_pretrained(str(tmp_path))


def test_shape_mismatch_names_field_tensor_and_both_shapes(source_backbone, tmp_path):
    config = source_backbone.bert_config.to_hf_dict()
    config["intermediate_size"] = 40
    write_google_checkpoint(tmp_path, config, backbone_state_dict(source_backbone))
    with pytest.raises(UserError, match=r"bert_config\.json: intermediate_size=40 disagrees.*"
                                        r"intermediate\.dense\.weight.*\(37, 32\).*\(40, 32\)"):
        BertBackbone.from_pretrained(str(tmp_path))


def test_vocab_size_disagreeing_with_config(source_backbone, tmp_path):
    config = source_backbone.bert_config.to_hf_dict()
    config["vocab_size"] = 120
    write_google_checkpoint(tmp_path, config, backbone_state_dict(source_backbone))
    with pytest.raises(UserError, match=r"vocab_size=120 disagrees.*word_embeddings.*\(99, 32\)"
                                        r".*\(120, 32\).*set vocab_size to 99"):
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
