"""The fine-tuned task-head fixtures (`tests/fixtures/make_task_heads.py`): their folders, inputs,
transformers' reference outputs, and our models' outputs on the same inputs."""

import numpy as np

from keras_bert_kit.models.bert_classifier import BertClassifier
from keras_bert_kit.models.bert_multiple_choice import BertMultipleChoice
from keras_bert_kit.models.bert_question_answerer import BertQuestionAnswerer
from keras_bert_kit.models.bert_token_classifier import BertTokenClassifier
from tests.conftest import FIXTURES

TASK_HEADS = FIXTURES / "task_heads"
HEADS = ("sequence", "token", "qa", "choice")
FORMATS = ("safetensors", "bin", "h5")
CLASSES = {"sequence": BertClassifier, "token": BertTokenClassifier, "qa": BertQuestionAnswerer,
           "choice": BertMultipleChoice}
LABELS = {"sequence": ["negative", "neutral", "positive"],
          "token": ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"]}
# The fixtures' multiple-choice inputs have 3 choices (our graph fixes the number).
CHOICES = {"choice": {"num_choices": 3}}
HF_CLASSES = {"sequence": "BertForSequenceClassification", "token": "BertForTokenClassification",
              "qa": "BertForQuestionAnswering", "choice": "BertForMultipleChoice"}


def reference(fmt):
    """transformers' inputs and outputs: TF 4.57 for `h5`, PyTorch 5 for the other formats."""
    return dict(np.load(TASK_HEADS / ("h5.npz" if fmt == "h5" else "pytorch.npz")))


def inputs_of(head, ref):
    prefix = "choice_" if head == "choice" else ""
    return {k: ref[prefix + k] for k in ("token_ids", "segment_ids", "padding_mask")}


def outputs_of(model, head, ref):
    """`{reference key: our output}` for the fixture inputs."""
    out = model(inputs_of(head, ref), training=False)
    if head == "qa":
        return {"qa_start_logits": np.asarray(out["start_logits"]),
                "qa_end_logits": np.asarray(out["end_logits"])}
    return {f"{head}_logits": np.asarray(out)}


def max_abs_diff(head, ours, ref):
    """max |ours - reference| over every output, at valid (unpadded) positions."""
    worst = 0.0
    for key, value in ours.items():
        expected = ref[key]
        if head in ("token", "qa"):
            mask = ref["padding_mask"].astype(bool)
            value, expected = value[mask], expected[mask]
        worst = max(worst, float(np.abs(value - expected).max()))
    return worst
