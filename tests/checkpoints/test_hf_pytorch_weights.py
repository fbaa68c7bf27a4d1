"""PyTorch-written weights: real MiniLM safetensors vs HF BertModel, and pytorch_model.bin via the restricted reader."""

import pickle
import zipfile

import numpy as np
import pytest

from keras_bert_kit.checkpoints import load_checkpoint
from keras_bert_kit.checkpoints.torch_pickle import load_torch_state_dict
from keras_bert_kit.checkpoints.weight_mapping import assign_weights, head_entries
from keras_bert_kit.layers import MaskedLMHead, NextSentenceHead
from keras_bert_kit.models.bert_backbone import BertBackbone
from tests.conftest import FIXTURES
from tests.helpers import max_abs_diff_valid

pytestmark = pytest.mark.numerics  # compared with outputs PyTorch / transformers computed


@pytest.fixture(scope="module")
def minilm_reference():
    return np.load(FIXTURES / "minilm_reference.npz", allow_pickle=False)


@pytest.mark.parametrize("kind", ["single", "pair"])
def test_minilm_matches_hf_bert_model(minilm_path, minilm_reference, kind):
    ref = minilm_reference
    backbone = BertBackbone.from_pretrained(minilm_path)
    inputs = {name: ref[f"{kind}_{name}"] for name in ("token_ids", "segment_ids", "padding_mask")}
    assert inputs["token_ids"].shape == (8, 128)
    out = backbone(inputs)
    valid = inputs["padding_mask"].astype(bool)
    sequence = np.asarray(out["sequence_output"])[valid]
    assert np.abs(sequence - ref[f"{kind}_sequence_valid"]).max() <= 1e-5
    assert np.abs(np.asarray(out["pooled_output"]) - ref[f"{kind}_pooled"]).max() <= 1e-5


@pytest.mark.parametrize("folder", ["tiny_bert_pytorch", "tiny_bert_pytorch_oldnames"])
def test_pytorch_model_bin_loads_backbone_and_heads(folder):
    ref = np.load(FIXTURES / "tiny_bert_pytorch_reference.npz", allow_pickle=False)
    checkpoint = load_checkpoint(str(FIXTURES / folder))
    assert checkpoint.source.endswith("pytorch_model.bin") and checkpoint.has_pretraining_heads()
    backbone = BertBackbone.from_pretrained(str(FIXTURES / folder))
    inputs = {name: ref[name] for name in ("token_ids", "segment_ids", "padding_mask")}
    out = backbone(inputs)
    assert max_abs_diff_valid(out["sequence_output"], ref["sequence_output"], inputs["padding_mask"]) <= 1e-5
    np.testing.assert_allclose(out["pooled_output"], ref["pooled_output"], atol=1e-5, rtol=0)

    mlm = MaskedLMHead(99, 32, token_embedding=backbone.token_embedding)
    nsp = NextSentenceHead(32)
    mlm.build()
    nsp.build()
    assign_weights(head_entries(mlm, nsp), checkpoint)
    positions = np.tile(np.arange(16), (2, 1))
    logits = mlm(out["sequence_output"], positions)
    assert max_abs_diff_valid(logits, ref["mlm_logits"], inputs["padding_mask"]) <= 1e-4
    np.testing.assert_allclose(nsp(out["pooled_output"]), ref["nsp_logits"], atol=1e-5, rtol=0)


class _Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("echo pwned",))


def test_restricted_reader_refuses_code_in_pickle(tmp_path):
    path = tmp_path / "pytorch_model.bin"
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("archive/data.pkl", pickle.dumps({"x": _Exploit()}, protocol=2))
    with pytest.raises(pickle.UnpicklingError, match=r"refusing to load global .*system"):
        load_torch_state_dict(str(path))


def test_legacy_non_zip_bin_is_a_clear_error(tmp_path):
    path = tmp_path / "pytorch_model.bin"
    path.write_bytes(b"\x80\x02not a zip")
    with pytest.raises(ValueError, match="not a torch zip checkpoint"):
        load_torch_state_dict(str(path))
