"""Hugging Face BERT folders: read `model.safetensors` / `tf_model.h5` / `pytorch_model.bin`, write
safetensors with `config.json` and the tokenizer files.

A weight file that cannot be read (truncated, corrupt, not what its name says) is a `UserError`
naming its path. Folders are written atomically with the permissions of ordinary files.
"""

import json
import os
import shutil

import numpy as np

from keras_bert_kit.checkpoints.checkpoint import Checkpoint
from keras_bert_kit.checkpoints.names import canonical_name
from keras_bert_kit.errors import UserError
from keras_bert_kit.files import merge_folder_into_place, staging_folder, sweep_leftovers


def _unreadable(path, kind, error):
    return UserError(f"{path}: cannot read this {kind} file ({type(error).__name__}: "
                     f"{str(error).strip() or 'no details'}); it is truncated or corrupt, "
                     "download or save it again")


def _load_safetensors_file(path):
    from safetensors import SafetensorError
    from safetensors.numpy import load_file

    try:
        return load_file(path)
    except FileNotFoundError:
        raise
    except (SafetensorError, OSError, ValueError, TypeError) as e:
        raise _unreadable(path, "safetensors", e) from None


def _read_safetensors(path):
    if path.endswith(".index.json"):
        try:
            with open(path, encoding="utf-8") as f:
                shards = sorted(set(json.load(f)["weight_map"].values()))
        except (json.JSONDecodeError, KeyError, AttributeError, UnicodeDecodeError) as e:
            raise _unreadable(path, "safetensors index", e) from None
        tensors = {}
        for shard in shards:
            tensors.update(_load_safetensors_file(os.path.join(os.path.dirname(path), shard)))
        return tensors
    return _load_safetensors_file(path)


def _read_h5(path):
    import h5py

    tensors = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            tensors[name] = np.asarray(item)

    try:
        with h5py.File(path, "r") as f:
            f.visititems(visit)
    except FileNotFoundError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as e:
        raise _unreadable(path, "HDF5", e) from None
    return tensors


def _read_torch(path):
    import pickle
    import zipfile
    import zlib

    from keras_bert_kit.checkpoints.torch_pickle import load_torch_state_dict

    try:
        return load_torch_state_dict(path)
    except (FileNotFoundError, UserError):
        raise
    except pickle.UnpicklingError as e:
        message = str(e)
        raise UserError(message if message.startswith(path) else f"{path}: {message}") from None
    except (zipfile.BadZipFile, EOFError, KeyError, zlib.error, OSError, ValueError) as e:
        raise _unreadable(path, "PyTorch", e) from None


def canonicalize(raw, source):
    """Renames and re-lays-out raw checkpoint tensors into canonical names."""
    tensors = {}
    for name, value in raw.items():
        mapped = canonical_name(name)
        if mapped is None:
            continue
        canonical, transpose = mapped
        value = np.asarray(value)
        if value.dtype.kind == "V" or str(value.dtype) == "bfloat16":
            value = value.astype(np.float32)
        tensors[canonical] = value.T if transpose else value
    if not any(name.startswith("encoder.") for name in tensors):
        raise UserError(
            f"{source}: no BERT encoder tensors found (is this a BERT checkpoint? saw e.g. "
            f"{sorted(raw)[:3]})")
    return tensors


def read_hf_weights(path, config, **checkpoint_fields):
    """Reads one Hugging Face weight file into a `Checkpoint` with the given config.

    Args:
        path: `model.safetensors`, `model.safetensors.index.json` (sharded), `tf_model.h5` or
            `pytorch_model.bin`.
        config: the `BertConfig`.
        **checkpoint_fields: more `Checkpoint` fields (`head`, `config_source`).
    """
    if path.endswith((".safetensors", ".safetensors.index.json")):
        raw = _read_safetensors(path)
    elif path.endswith((".h5", ".hdf5")):
        raw = _read_h5(path)
    elif path.endswith((".bin", ".pt", ".pth")):
        raw = _read_torch(path)
    else:
        raise UserError(f"{path}: unknown weight file type (expected .safetensors, .h5 or .bin)")
    return Checkpoint(config=config, tensors=canonicalize(raw, path), source=path,
                      **checkpoint_fields)


def tokenizer_files(tokenizer, model_max_length=None):
    """`{file name: text}` of a Hugging Face BERT tokenizer: `vocab.txt` and
    `tokenizer_config.json` (`do_lower_case`, `strip_accents`, `tokenize_chinese_chars`).

    Args:
        tokenizer: a `BertTokenizer` (anything with `vocabulary`, `lowercase`,
            `strip_accents`, `tokenize_chinese_chars`).
        model_max_length: written as `model_max_length` when given.
    """
    vocabulary = list(tokenizer.vocabulary)
    bad = [t for t in vocabulary if "\n" in t or "\r" in t]
    if bad:
        raise UserError(f"token {bad[0]!r} holds a line break; vocab.txt has one token per line")
    config = {"tokenizer_class": "BertTokenizer", "do_lower_case": bool(tokenizer.lowercase),
              "strip_accents": tokenizer.strip_accents,
              "tokenize_chinese_chars": bool(tokenizer.tokenize_chinese_chars),
              "unk_token": "[UNK]", "sep_token": "[SEP]", "pad_token": "[PAD]",
              "cls_token": "[CLS]", "mask_token": "[MASK]"}
    if model_max_length:
        config["model_max_length"] = int(model_max_length)
    return {"vocab.txt": "".join(t + "\n" for t in vocabulary),
            "tokenizer_config.json": json.dumps(config, indent=2, sort_keys=True) + "\n"}


def _write_file(path, text):
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


def save_hf_folder(path, config, state_dict, architecture="BertModel", extra_config=None,
                   files=None):
    """Writes `config.json` + `model.safetensors` (+ `files`) atomically.

    Everything is written and synced in a staging folder beside `path` first; a new `path` is
    that folder renamed, an existing one gets each file replaced atomically
    (`keras_bert_kit.files`); the staging folders of killed saves are removed first.
    Files and the folder get ordinary permissions (0666 / 0777 less the umask), so another user
    (a TF Serving process) can read them.

    Args:
        path: the output folder (existing files of the same names are replaced).
        config: the `BertConfig`.
        state_dict: Hugging Face PyTorch name → numpy array.
        architecture: the `architectures` entry transformers will instantiate.
        extra_config: more `config.json` fields (`id2label`, `problem_type`, ...).
        files: more files, `{name: text}` (e.g. `tokenizer_files(tokenizer)`).
    """
    from safetensors.numpy import save_file

    path = os.path.abspath(os.fspath(path))
    sweep_leftovers(os.path.dirname(path), os.path.basename(path))
    staging = staging_folder(path)
    try:
        hf_config = config.to_hf_dict()
        hf_config["architectures"] = [architecture]
        hf_config.update(extra_config or {})
        _write_file(os.path.join(staging, "config.json"),
                    json.dumps(hf_config, indent=2, sort_keys=True) + "\n")
        for name, text in (files or {}).items():
            _write_file(os.path.join(staging, name), text)
        tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state_dict.items()}
        save_file(tensors, os.path.join(staging, "model.safetensors"), metadata={"format": "pt"})
        merge_folder_into_place(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
