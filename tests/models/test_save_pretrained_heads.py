"""Task models out to Hugging Face: `save_pretrained` folders load into transformers' matching
`BertFor…` class (architectures, id2label, problem_type, tokenizer files) with equal outputs."""

import json
import os
import pathlib
import subprocess
import sys

import numpy as np
import pytest
from safetensors.numpy import load_file

from keras_bert_kit.models.bert_classifier import BertClassifier
from tests.conftest import REPO
from tests.models.task_head_fixtures import (CHOICES, CLASSES, HEADS, HF_CLASSES, LABELS,
                                             TASK_HEADS, max_abs_diff, reference)

pytest.importorskip("transformers")
pytest.importorskip("tf_keras")

SCRIPT = REPO / "tests" / "models" / "transformers_outputs.py"
# A Python with torch + transformers 5 (see tests/fixtures/make_task_heads.py), when present.
TORCH_PYTHON = os.environ.get("KBK_TORCH_PYTHON", "/tmp/ptvenv/bin/python")


def transformers_outputs(framework, python, folders, tmp_path):
    spec = tmp_path / f"spec_{framework}.json"
    spec.write_text(json.dumps({"inputs": str(TASK_HEADS / "pytorch.npz"),
                                "folders": {h: str(f) for h, f in folders.items()}}))
    out = tmp_path / f"out_{framework}.npz"
    env = dict(os.environ, TF_USE_LEGACY_KERAS="1", TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run([python, str(SCRIPT), framework, str(spec), str(out)], env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    arrays = dict(np.load(out))
    return arrays, json.loads(str(arrays.pop("meta")))


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """Each safetensors fixture loaded by us and written back with `save_pretrained`."""
    root = tmp_path_factory.mktemp("saved")
    folders = {}
    for head in HEADS:
        model = CLASSES[head].from_pretrained(TASK_HEADS / "safetensors" / head,
                                              **CHOICES.get(head, {}))
        folders[head] = root / head
        model.save_pretrained(folders[head])
    return folders


def test_folder_layout_and_names(saved):
    for head, folder in saved.items():
        assert sorted(os.listdir(folder)) == ["config.json", "model.safetensors",
                                              "tokenizer_config.json", "vocab.txt"]
        config = json.loads((folder / "config.json").read_text())
        assert config["architectures"] == [HF_CLASSES[head]]
        names = set(load_file(folder / "model.safetensors"))
        assert "bert.embeddings.word_embeddings.weight" in names
        prefix = "qa_outputs" if head == "qa" else "classifier"
        assert {f"{prefix}.weight", f"{prefix}.bias"} <= names
        if head in LABELS:
            assert config["id2label"] == {str(i): v for i, v in enumerate(LABELS[head])}
            assert config["label2id"] == {v: i for i, v in enumerate(LABELS[head])}
    sequence = json.loads((saved["sequence"] / "config.json").read_text())
    assert sequence["problem_type"] == "single_label_classification"
    assert json.loads((saved["token"] / "tokenizer_config.json").read_text())["do_lower_case"]


def check_against(arrays, meta, head):
    ref = reference("safetensors")
    assert max_abs_diff(head, {k: v for k, v in arrays.items() if k in ref and k.startswith(
        head if head != "qa" else "qa_")}, ref) <= 1e-5
    assert meta[head]["class"].endswith(HF_CLASSES[head])
    assert not meta[head]["missing"] and not meta[head]["unexpected"]
    if head in LABELS:
        assert meta[head]["id2label"] == {str(i): v for i, v in enumerate(LABELS[head])}
    assert meta[head]["do_lower_case"] is True and meta[head]["vocab_size"] == 99


@pytest.mark.numerics  # compared with transformers' outputs
def test_transformers_tf_classes_give_equal_outputs(saved, tmp_path):
    arrays, meta = transformers_outputs("tf", sys.executable, saved, tmp_path)
    for head in HEADS:
        check_against(arrays, meta, head)
    assert meta["sequence"]["problem_type"] == "single_label_classification"


@pytest.mark.skipif(not pathlib.Path(TORCH_PYTHON).exists(),
                    reason="no torch venv (KBK_TORCH_PYTHON, see make_task_heads.py)")
@pytest.mark.numerics  # compared with transformers' outputs
def test_transformers_pytorch_classes_give_equal_outputs(saved, tmp_path):
    arrays, meta = transformers_outputs("pt", TORCH_PYTHON, saved, tmp_path)
    for head in HEADS:
        check_against(arrays, meta, head)


def test_mean_pooling_has_no_hugging_face_equivalent(tmp_path):
    model = BertClassifier.from_pretrained(TASK_HEADS / "bin" / "sequence", pooling="mean")
    with pytest.raises(ValueError, match="pooling='mean' has no Hugging Face equivalent"):
        model.save_pretrained(tmp_path / "out")
    assert not (tmp_path / "out").exists()
