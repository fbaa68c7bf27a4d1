"""`Checkpoint`: a BERT checkpoint in canonical form, what every reader returns.

It lives in its own module so the readers (`hf_checkpoint`, `google_checkpoint`) import it without
importing the package `__init__`, which imports them to dispatch `load_checkpoint`.
"""

import dataclasses

from keras_bert_kit.config import BertConfig, HeadConfig

# Canonical prefix of each task head's tensors (PyTorch `[out, in]` kernels), by the Hugging
# Face class that carries it. Google's `run_classifier.py` head (`output_weights`) reads as
# `classifier.*`, `run_squad.py`'s (`cls/squad/output_weights`) as `qa_outputs.*`.
HEAD_PREFIXES = {
    "BertForSequenceClassification": "classifier",
    "BertForTokenClassification": "classifier",
    "BertForMultipleChoice": "classifier",
    "BertForQuestionAnswering": "qa_outputs",
}


@dataclasses.dataclass
class Checkpoint:
    """A BERT checkpoint in canonical form.

    Args:
        config: the architecture.
        tensors: canonical name → numpy array.
        source: the file or folder it came from (named in errors).
        head: what `config.json` says about the task head (architecture, labels, problem type).
        config_source: the config file the architecture was read from (named in errors).

    Example:
    >>> import numpy as np
    >>> Checkpoint(BertConfig(), {"cls.predictions.bias": np.zeros(3)}, "mem").has_pretraining_heads()
    True
    >>> Checkpoint(BertConfig(), {"qa_outputs.weight": np.zeros((2, 768))}, "mem").head_architecture()
    'BertForQuestionAnswering'
    """

    config: BertConfig
    tensors: dict
    source: str
    head: HeadConfig = dataclasses.field(default_factory=HeadConfig)
    config_source: str = "config.json"

    def has_pretraining_heads(self):
        return any(name.startswith("cls.") for name in self.tensors)

    def head_architecture(self):
        """The Hugging Face class of the task head the tensors hold, or None.

        `qa_outputs.*` is a question-answering head; `classifier.*` is the head of the class
        `config.json` names (sequence / token classification, multiple choice), a sequence
        classifier when it names none (Google `run_classifier.py`); `cls.*` alone is
        `BertForPreTraining` (`BertForMaskedLM` without the NSP head).
        """
        if "qa_outputs.weight" in self.tensors:
            return "BertForQuestionAnswering"
        if "classifier.weight" in self.tensors:
            if HEAD_PREFIXES.get(self.head.architecture) == "classifier":
                return self.head.architecture
            return "BertForSequenceClassification"
        if "cls.seq_relationship.weight" in self.tensors:
            return "BertForPreTraining"
        if self.has_pretraining_heads():
            return "BertForMaskedLM"
        return None
