"""Checkpoints: read and write Hugging Face BERT folders and Google TF1 BERT checkpoints.

Every reader returns a `Checkpoint`: the architecture as a `BertConfig` and the tensors as numpy
arrays under one canonical naming, the Hugging Face PyTorch `BertForPreTraining` names without the
`bert.` prefix (`embeddings.word_embeddings.weight`, `encoder.layer.0.attention.self.query.weight`
with `[out, in]` kernels, `cls.predictions.bias`, ...). `weight_mapping` moves them in and out of
our layers. Neither transformers nor torch is needed; `pytorch_model.bin` is read by a restricted
unpickler that constructs nothing but arrays.

`load_checkpoint` also reads the task head fields of `config.json` (`architectures`, `id2label`,
`problem_type`) and validates every tensor's shape against the config fields that fix it
(`validation`), so a mistake is reported as the field it is, before any weight is assigned.

The readers import `Checkpoint` from `checkpoints.checkpoint`, never this package, so the
dispatch below imports them without an import cycle.
"""

import glob
import os

from keras_bert_kit.checkpoints.checkpoint import Checkpoint
from keras_bert_kit.checkpoints.validation import check_vocabulary_file, validate_checkpoint
from keras_bert_kit.config import (BertConfig, HeadConfig, checkpoint_folder, find_config_file,
                                   read_json)

__all__ = ["Checkpoint", "load_checkpoint"]

_WEIGHT_FILES = ("model.safetensors", "model.safetensors.index.json", "tf_model.h5",
                 "pytorch_model.bin")


def _find_google_checkpoint(folder):
    index_files = sorted(glob.glob(os.path.join(folder, "*.ckpt*.index")))
    if not index_files:
        return None
    preferred = [f for f in index_files if os.path.basename(f).startswith("bert_model.ckpt")]
    return (preferred or index_files)[0][: -len(".index")]


def load_checkpoint(path):
    """Reads any supported BERT checkpoint into a `Checkpoint`.

    Args:
        path: a Hugging Face folder (`config.json` plus `model.safetensors`, a sharded
            `model.safetensors.index.json`, `tf_model.h5` or `pytorch_model.bin`), a Google folder
            (`bert_config.json` plus `bert_model.ckpt.*`), or one weight file / checkpoint prefix
            with its config in the same folder.
    """
    # Imported here: the Google reader imports TensorFlow, which `import checkpoints` should not.
    from keras_bert_kit.checkpoints import google_checkpoint, hf_checkpoint

    path = os.fspath(path)
    if os.path.isdir(path):
        folder = path
        for name in _WEIGHT_FILES:
            if os.path.exists(os.path.join(path, name)):
                reader, weights = hf_checkpoint.read_hf_weights, os.path.join(path, name)
                break
        else:
            weights = _find_google_checkpoint(path)
            reader = google_checkpoint.read_google_checkpoint
            if weights is None:
                raise FileNotFoundError(
                    f"{path}: no BERT weights found (looked for {', '.join(_WEIGHT_FILES)} and "
                    "a Google *.ckpt.index)")
    else:
        folder, weights = checkpoint_folder(path), path
        if os.path.exists(path + ".index"):
            reader = google_checkpoint.read_google_checkpoint
        elif os.path.exists(path):
            reader = hf_checkpoint.read_hf_weights
        else:
            raise FileNotFoundError(f"{path}: no such file or folder")
    config_path = find_config_file(folder)
    hf = read_json(config_path)
    checkpoint = reader(weights, BertConfig.from_hf_dict(hf, source=config_path),
                        head=HeadConfig.from_hf_dict(hf, source=config_path),
                        config_source=config_path)
    validate_checkpoint(checkpoint)
    vocab = os.path.join(folder, "vocab.txt")
    if os.path.exists(vocab):  # every path that loads weights has their vocabulary checked here
        check_vocabulary_file(vocab, checkpoint.config, config_path)
    return checkpoint
