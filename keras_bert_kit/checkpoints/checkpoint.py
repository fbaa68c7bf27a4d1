"""`Checkpoint`: a BERT checkpoint in canonical form, what every reader returns.

It lives in its own module so the readers (`hf_checkpoint`, `google_checkpoint`) import it without
importing the package `__init__`, which imports them to dispatch `load_checkpoint`.
"""

import dataclasses

from keras_bert_kit.config import BertConfig


@dataclasses.dataclass
class Checkpoint:
    """A BERT checkpoint in canonical form.

    Args:
        config: the architecture.
        tensors: canonical name → numpy array.
        source: the file or folder it came from (named in errors).

    Example:
    >>> import numpy as np
    >>> Checkpoint(BertConfig(), {"cls.predictions.bias": np.zeros(3)}, "mem").has_pretraining_heads()
    True
    """

    config: BertConfig
    tensors: dict
    source: str

    def has_pretraining_heads(self):
        return any(name.startswith("cls.") for name in self.tensors)
