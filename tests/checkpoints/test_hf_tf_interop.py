"""Interop with Hugging Face TF (transformers 4.57.x): tf_model.h5 / safetensors in, safetensors out."""

import numpy as np
import pytest

from keras_bert_kit.checkpoints import load_checkpoint
from keras_bert_kit.checkpoints.weight_mapping import assign_weights, head_entries
from keras_bert_kit.layers import MaskedLMHead, NextSentenceHead
from keras_bert_kit.models.bert_backbone import BertBackbone
from tests.helpers import max_abs_diff_valid, random_inputs

pytestmark = pytest.mark.numerics  # compared with transformers' TF classes

transformers = pytest.importorskip("transformers")
pytest.importorskip("tf_keras")

HF_TINY = dict(vocab_size=99, hidden_size=32, num_hidden_layers=2, num_attention_heads=4,
               intermediate_size=37, max_position_embeddings=64, type_vocab_size=2,
               hidden_act="gelu", hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0)


def hf_inputs(inputs):
    return dict(input_ids=inputs["token_ids"], token_type_ids=inputs["segment_ids"],
                attention_mask=inputs["padding_mask"])


@pytest.fixture(scope="module")
def tf_bert_model():
    config = transformers.BertConfig(**HF_TINY)
    model = transformers.TFBertModel(config)
    model(hf_inputs(random_inputs()))
    return model


@pytest.fixture(scope="module")
def tf_bert_pretraining():
    config = transformers.BertConfig(**HF_TINY)
    model = transformers.TFBertForPreTraining(config)
    model(hf_inputs(random_inputs()))
    return model


@pytest.mark.parametrize("safe", [False, True], ids=["tf_model.h5", "safetensors"])
def test_tf_bert_model_loads_with_equal_outputs(tf_bert_model, tmp_path, safe):
    tf_bert_model.save_pretrained(tmp_path, safe_serialization=safe)
    inputs = random_inputs()
    expected = tf_bert_model(hf_inputs(inputs))
    ours = BertBackbone.from_pretrained(str(tmp_path))(inputs)
    assert max_abs_diff_valid(ours["sequence_output"], expected.last_hidden_state,
                              inputs["padding_mask"]) <= 1e-5
    np.testing.assert_allclose(ours["pooled_output"], expected.pooler_output, atol=1e-5, rtol=0)


@pytest.mark.parametrize("safe", [False, True], ids=["tf_model.h5", "safetensors"])
def test_tf_bert_for_pretraining_heads_load(tf_bert_pretraining, tmp_path, safe):
    tf_bert_pretraining.save_pretrained(tmp_path, safe_serialization=safe)
    inputs = random_inputs()
    expected = tf_bert_pretraining(hf_inputs(inputs))
    checkpoint = load_checkpoint(str(tmp_path))
    assert checkpoint.has_pretraining_heads()

    backbone = BertBackbone.from_pretrained(str(tmp_path))
    mlm = MaskedLMHead(99, 32, token_embedding=backbone.token_embedding)
    nsp = NextSentenceHead(32)
    mlm.build()
    nsp.build()
    assign_weights(head_entries(mlm, nsp), checkpoint)

    out = backbone(inputs)
    seq = inputs["token_ids"].shape[1]
    positions = np.tile(np.arange(seq), (len(inputs["token_ids"]), 1))
    mlm_logits = mlm(out["sequence_output"], positions)
    assert max_abs_diff_valid(mlm_logits, expected.prediction_logits, inputs["padding_mask"]) <= 1e-5
    np.testing.assert_allclose(nsp(out["pooled_output"]), expected.seq_relationship_logits,
                               atol=1e-5, rtol=0)


def test_save_pretrained_loads_into_tf_bert_model(tmp_path):
    backbone = BertBackbone(vocabulary_size=99, num_layers=2, num_heads=4, hidden_dim=32,
                            intermediate_dim=37, max_sequence_length=64)
    backbone.save_pretrained(tmp_path)
    # transformers 4.57's TF `from_pretrained` iterates a `safe_open` handle, which no safetensors
    # release supports, so PyTorch-format safetensors cannot reach it that way. Feed the same file
    # through the cross-loading function `from_pretrained` would call.
    from safetensors.numpy import load_file
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    hf = transformers.TFBertModel(transformers.BertConfig.from_pretrained(str(tmp_path)))
    load_pytorch_state_dict_in_tf2_model(hf, load_file(str(tmp_path / "model.safetensors")))
    inputs = random_inputs()
    expected = backbone(inputs)
    theirs = hf(hf_inputs(inputs))
    assert max_abs_diff_valid(theirs.last_hidden_state, expected["sequence_output"],
                              inputs["padding_mask"]) <= 1e-5
    np.testing.assert_allclose(theirs.pooler_output, expected["pooled_output"], atol=1e-5, rtol=0)
