"""Fine-tuned checkpoints in, with their heads and labels: every head type from every format
(safetensors incl. sharded, pytorch_model.bin, tf_model.h5, Google TF1) gives transformers'
logits within 1e-5; explicit arguments that disagree are errors; a new head is always said."""

import json
import logging
import shutil

import numpy as np
import pytest
from safetensors.numpy import load_file

from keras_bert_kit.config import BertConfig
from keras_bert_kit.errors import UserError
from keras_bert_kit.models.bert_classifier import BertClassifier
from keras_bert_kit.models.bert_question_answerer import BertQuestionAnswerer
from keras_bert_kit.models.bert_token_classifier import BertTokenClassifier
from keras_bert_kit.models.pretrained_task import checkpoint_task, load_task_model
from tests.checkpoints.google_names import write_google_checkpoint
from tests.conftest import FIXTURES
from tests.models.task_head_fixtures import (CHOICES, CLASSES, FORMATS, HEADS, LABELS, TASK_HEADS,
                                             inputs_of, max_abs_diff, outputs_of, reference)

CASES = [(fmt, head) for fmt in FORMATS for head in HEADS] + [("google", "sequence"),
                                                              ("google", "qa")]


@pytest.fixture(scope="module")
def google_folders(tmp_path_factory):
    """Google TF1 checkpoints of the PyTorch classifier and QA fixtures, under Google's names."""
    folders = {}
    for head in ("sequence", "qa"):
        source = TASK_HEADS / "safetensors" / head
        state = {}
        for shard in sorted(source.glob("*.safetensors")):
            state.update(load_file(shard))
        folder = tmp_path_factory.mktemp(f"google_{head}")
        config = BertConfig.from_hf_config(source).to_hf_dict()
        del config["architectures"]
        write_google_checkpoint(folder, config, state)
        shutil.copy(source / "vocab.txt", folder / "vocab.txt")
        folders[head] = folder
    return folders


def fixture_folder(fmt, head, google_folders):
    return google_folders[head] if fmt == "google" else TASK_HEADS / fmt / head


@pytest.mark.numerics  # compared with transformers' logits
@pytest.mark.parametrize("fmt, head", CASES, ids=[f"{f}-{h}" for f, h in CASES])
def test_head_loads_with_transformers_logits(fmt, head, google_folders, caplog):
    ref = reference(fmt)
    with caplog.at_level(logging.WARNING):
        model = CLASSES[head].from_pretrained(fixture_folder(fmt, head, google_folders),
                                              **CHOICES.get(head, {}))
    assert not [r for r in caplog.records if "newly initialised" in r.getMessage()]
    assert max_abs_diff(head, outputs_of(model, head, ref), ref) <= 1e-5
    if head in LABELS:
        assert model.label_vocabulary == LABELS[head] or fmt == "google"
    if head == "sequence":
        assert model.num_classes == 3 and model.problem_type == "classification"


def test_checkpoint_task_reads_architectures_or_the_head(google_folders):
    assert [checkpoint_task(TASK_HEADS / "h5" / h) for h in HEADS] == [
        "classify", "tag", "squad", "multiple-choice"]
    assert checkpoint_task(google_folders["qa"]) == "squad"
    assert checkpoint_task(FIXTURES / "tiny_bert_pytorch") is None
    with pytest.raises(UserError, match="holds no task head.*pass --task"):
        load_task_model(FIXTURES / "tiny_bert_pytorch")


def test_explicit_arguments_that_disagree_are_one_error_naming_both():
    folder = TASK_HEADS / "bin" / "sequence"
    with pytest.raises(UserError, match=r"num_classes=2 disagrees.*classifier\.weight.*\(3, 16\)"
                                        r".*head='new'"):
        BertClassifier.from_pretrained(folder, num_classes=2)
    with pytest.raises(UserError, match=r"label_vocabulary=\['bad', 'ok', 'good'\] disagrees.*"
                                        r"\['negative', 'neutral', 'positive'\].*id2label"):
        BertClassifier.from_pretrained(folder, label_vocabulary=["bad", "ok", "good"])
    with pytest.raises(UserError, match=r"problem_type='multilabel' disagrees.*'classification'"):
        BertClassifier.from_pretrained(folder, problem_type="multilabel")
    with pytest.raises(UserError, match=r"label_vocabulary has 2 labels but the checkpoint's "
                                        r"head has 5"):
        BertTokenClassifier.from_pretrained(TASK_HEADS / "h5" / "token", ["O", "X"])
    # Agreeing arguments are fine.
    model = BertClassifier.from_pretrained(folder, num_classes=3, label_vocabulary=LABELS["sequence"])
    assert model.label_vocabulary == LABELS["sequence"]


def test_a_new_head_is_always_said(caplog):
    folder = TASK_HEADS / "safetensors" / "sequence"
    with caplog.at_level(logging.WARNING):
        model = BertClassifier.from_pretrained(folder, num_classes=2, head="new")
    assert model.num_classes == 2
    assert ("head='new': the checkpoint's own BertForSequenceClassification head "
            "(classifier.weight (3, 16)") in caplog.text
    assert "starts newly initialised (2 outputs)" in caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        BertClassifier.from_pretrained(TASK_HEADS / "bin" / "qa")
    assert ("holds a BertForQuestionAnswering head (qa_outputs.*) that BertClassifier cannot "
            "use; it is not loaded") in caplog.text

    caplog.clear()
    with caplog.at_level(logging.WARNING):
        BertQuestionAnswerer.from_pretrained(FIXTURES / "tiny_bert_pytorch")
    assert "holds BertForPreTraining heads (cls.*), which BertQuestionAnswerer does not use" in (
        caplog.text)
    assert "BertQuestionAnswerer head starts newly initialised" in caplog.text


def test_tagger_without_a_head_needs_labels():
    with pytest.raises(UserError, match="holds no BertForTokenClassification head.*give "
                                        "label_vocabulary"):
        BertTokenClassifier.from_pretrained(FIXTURES / "tiny_bert_pytorch")
    with pytest.raises(UserError, match="head='x': expected 'auto'"):
        BertClassifier.from_pretrained(TASK_HEADS / "bin" / "sequence", head="x")


def test_regression_and_multilabel_come_from_config(tmp_path):
    for problem, expected in (("regression", "regression"),
                              ("multi_label_classification", "multilabel")):
        folder = tmp_path / problem
        shutil.copytree(TASK_HEADS / "bin" / "sequence", folder)
        config = json.loads((folder / "config.json").read_text())
        config["problem_type"] = problem
        (folder / "config.json").write_text(json.dumps(config))
        model = BertClassifier.from_pretrained(folder)
        assert model.problem_type == expected and model.num_classes == 3


def test_token_classifier_serves_checkpoint_labels():
    tagger = BertTokenClassifier.from_pretrained(TASK_HEADS / "safetensors" / "token",
                                                 sequence_length=12)
    ref = reference("safetensors")
    out = tagger.serving_outputs({k: v for k, v in inputs_of("token", ref).items()})
    expected = np.array(LABELS["token"])[ref["token_logits"].argmax(-1)]
    mask = ref["padding_mask"].astype(bool)
    assert [s.decode() for s in np.asarray(out["label"])[mask]] == list(expected[mask])
