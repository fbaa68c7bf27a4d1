"""Task models ↔ checkpoints: what every task's `from_pretrained` starts from and what its
`save_pretrained` writes.

`load_pretrained_parts` reads a Hugging Face / Google checkpoint (or a `.keras` file) into a
backbone and a preprocessor; `save_task_pretrained` writes a task model as the Hugging Face
folder of its `BertFor…` class. The head each task loads is decided in `pretrained_heads.py`;
which task a checkpoint folder is for, in `pretrained_task.py`.
"""

import logging
import os

import keras

from keras_bert_kit.text.bert_preprocessor import BertPreprocessor

logger = logging.getLogger(__name__)


def load_pretrained_parts(path, sequence_length, preprocessor="auto", backbone_kwargs=None,
                          preprocessor_cls=BertPreprocessor):
    """What a task model's `from_pretrained` starts from: `(loaded, backbone, preprocessor,
    checkpoint)`.

    Args:
        path: a Hugging Face / Google BERT folder or file, or a `.keras` file holding a backbone
            or a model with one (then `loaded` is that model and `checkpoint` None).
        sequence_length: packer length of the automatic preprocessor.
        preprocessor: `"auto"` (a `preprocessor_cls` from the `vocab.txt` beside the weights, or
            None without one), a `BertPreprocessor`, or None.
        backbone_kwargs: passed to `BertBackbone.from_checkpoint` (e.g. `dtype`).
        preprocessor_cls: the task's preprocessor class (`BertTask.preprocessor_cls`).

    A `vocab.txt` with more tokens than the weights' `vocab_size` is a `UserError`; a
    `sequence_length` beyond the checkpoint's positions is cut to them (with a warning).

    Example:
    >>> BertBackbone.from_preset("bert_tiny_uncased").save("tiny.keras")
    >>> loaded, backbone, preprocessor, checkpoint = load_pretrained_parts("tiny.keras", 128)
    >>> loaded is backbone, preprocessor, checkpoint
    (True, None, None)
    """
    from keras_bert_kit.checkpoints import load_checkpoint
    from keras_bert_kit.checkpoints.validation import check_vocabulary_size
    from keras_bert_kit.config import checkpoint_folder
    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.text.bert_tokenizer import BertTokenizer

    path = os.fspath(path)
    loaded = checkpoint = None
    if path.endswith(".keras"):
        loaded = keras.saving.load_model(path)
        backbone = loaded if isinstance(loaded, BertBackbone) else loaded.backbone
    else:
        checkpoint = load_checkpoint(path)
        backbone = BertBackbone.from_checkpoint(checkpoint, **(backbone_kwargs or {}))
    if preprocessor == "auto":
        folder = checkpoint_folder(path)
        preprocessor = None
        if sequence_length is not None and sequence_length > backbone.max_sequence_length:
            logger.warning(
                "sequence_length=%d is longer than the %d positions of %s "
                "(max_position_embeddings); packing to %d", sequence_length,
                backbone.max_sequence_length, path, backbone.max_sequence_length)
            sequence_length = backbone.max_sequence_length
        vocab = os.path.join(folder, "vocab.txt")
        if os.path.exists(vocab):
            preprocessor = preprocessor_cls(BertTokenizer.from_pretrained(folder),
                                            sequence_length=sequence_length)
            if checkpoint is None:  # `load_checkpoint` checked a checkpoint's own vocab.txt
                check_vocabulary_size(vocab, preprocessor.tokenizer.vocabulary_size(), backbone,
                                      path)
    elif preprocessor is not None:
        check_vocabulary_size("the given preprocessor's vocabulary",
                              preprocessor.tokenizer.vocabulary_size(), *(
                                  (checkpoint.config, checkpoint.config_source) if checkpoint
                                  else (backbone, path)))
    return loaded, backbone, preprocessor, checkpoint


def save_task_pretrained(task, path):
    """Writes `task` as a Hugging Face folder that transformers loads into its `hf_architecture`
    (see `BertTask.save_pretrained`).

    Args:
        task: a `BertTask` (its `backbone`, `output_dense`, `hf_head_config()`,
            `hf_head_prefix`, `hf_has_pooler` and `preprocessor`).
        path: the folder to write.
    """
    from keras_bert_kit.checkpoints.hf_checkpoint import save_hf_folder, tokenizer_files
    from keras_bert_kit.checkpoints.weight_mapping import (backbone_state_dict, state_dict,
                                                           task_head_entries)

    head = task.hf_head_config()
    tensors = backbone_state_dict(task.backbone, prefix="bert.")
    if not task.hf_has_pooler:
        tensors = {k: v for k, v in tensors.items() if not k.startswith("bert.pooler.")}
    tensors.update(state_dict(task_head_entries(task.output_dense, task.hf_head_prefix)))
    files = None
    if task.preprocessor is not None:
        files = tokenizer_files(task.preprocessor.tokenizer, task.backbone.max_sequence_length)
    save_hf_folder(path, task.backbone.bert_config, tensors, architecture=head.architecture,
                   extra_config=head.to_hf_dict(), files=files)
