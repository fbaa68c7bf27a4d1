"""Hugging Face BERT folders: read `model.safetensors` / `tf_model.h5` / `pytorch_model.bin`, write safetensors."""

import json
import os
import shutil
import tempfile

import numpy as np

from keras_bert_kit.checkpoints.checkpoint import Checkpoint
from keras_bert_kit.checkpoints.names import canonical_name


def _read_safetensors(path):
    from safetensors.numpy import load_file

    if path.endswith(".index.json"):
        with open(path, encoding="utf-8") as f:
            shards = sorted(set(json.load(f)["weight_map"].values()))
        tensors = {}
        for shard in shards:
            tensors.update(load_file(os.path.join(os.path.dirname(path), shard)))
        return tensors
    return load_file(path)


def _read_h5(path):
    import h5py

    tensors = {}

    def visit(name, item):
        if isinstance(item, h5py.Dataset):
            tensors[name] = np.asarray(item)

    with h5py.File(path, "r") as f:
        f.visititems(visit)
    return tensors


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
        raise ValueError(
            f"{source}: no BERT encoder tensors found (is this a BERT checkpoint? saw e.g. "
            f"{sorted(raw)[:3]})")
    return tensors


def read_hf_weights(path, config):
    """Reads one Hugging Face weight file into a `Checkpoint` with the given config."""
    from keras_bert_kit.checkpoints.torch_pickle import load_torch_state_dict

    if path.endswith((".safetensors", ".safetensors.index.json")):
        raw = _read_safetensors(path)
    elif path.endswith((".h5", ".hdf5")):
        raw = _read_h5(path)
    elif path.endswith((".bin", ".pt", ".pth")):
        raw = load_torch_state_dict(path)
    else:
        raise ValueError(f"{path}: unknown weight file type (expected .safetensors, .h5 or .bin)")
    return Checkpoint(config=config, tensors=canonicalize(raw, path), source=path)


def save_hf_folder(path, config, state_dict, architecture="BertModel", extra_config=None):
    """Writes `config.json` + `model.safetensors` atomically (a temp folder renamed into place).

    Args:
        path: the output folder (created; existing files of the same names are replaced).
        config: the `BertConfig`.
        state_dict: Hugging Face PyTorch name → numpy array.
        architecture: the `architectures` entry transformers will instantiate.
        extra_config: more `config.json` fields.
    """
    from safetensors.numpy import save_file

    path = os.fspath(path)
    os.makedirs(path, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=".staging-", dir=path)
    try:
        hf_config = config.to_hf_dict()
        hf_config["architectures"] = [architecture]
        hf_config.update(extra_config or {})
        with open(os.path.join(staging, "config.json"), "w", encoding="utf-8") as f:
            json.dump(hf_config, f, indent=2, sort_keys=True)
        tensors = {k: np.ascontiguousarray(v, dtype=np.float32) for k, v in state_dict.items()}
        save_file(tensors, os.path.join(staging, "model.safetensors"), metadata={"format": "pt"})
        for name in os.listdir(staging):
            os.replace(os.path.join(staging, name), os.path.join(path, name))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
