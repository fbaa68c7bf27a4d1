"""One table between our variables and canonical checkpoint names, used in both directions.

Each entry is `(variable, canonical names, kind)`; `kind` says how the checkpoint layout maps
onto ours: `copy`, `dense` (PyTorch `[out, in]` ↔ Keras `[in, out]`), or `qkv_kernel` /
`qkv_bias` (separate query/key/value ↔ our fused projection).
"""

import logging

import numpy as np

from keras_bert_kit.errors import UserError

logger = logging.getLogger(__name__)


def _dense_entries(dense_layer, prefix):
    return [(dense_layer.kernel, [f"{prefix}.weight"], "dense"),
            (dense_layer.bias, [f"{prefix}.bias"], "copy")]


def _layer_norm_entries(layer_norm, prefix):
    return [(layer_norm.gamma, [f"{prefix}.weight"], "copy"),
            (layer_norm.beta, [f"{prefix}.bias"], "copy")]


def _attention_entries(attention, prefix):
    """Q/K/V and output projection of a `BertSelfAttention` (or a subclass keeping its layers)."""
    if not all(hasattr(attention, name) for name in ("qkv_dense", "output_dense")):
        raise UserError(
            f"{type(attention).__name__} (attention of block {prefix!r}) has no qkv_dense / "
            "output_dense layers; BERT checkpoints map onto BertSelfAttention's layout only")
    qkv = [f"{prefix}.attention.self.{part}" for part in ("query", "key", "value")]
    return [(attention.qkv_dense.kernel, [f"{n}.weight" for n in qkv], "qkv_kernel"),
            (attention.qkv_dense.bias, [f"{n}.bias" for n in qkv], "qkv_bias"),
            *_dense_entries(attention.output_dense, f"{prefix}.attention.output.dense")]


def backbone_entries(backbone):
    """The mapping table for a `BertBackbone`."""
    emb = backbone.embeddings
    entries = [
        (emb.token_embedding.embeddings, ["embeddings.word_embeddings.weight"], "copy"),
        (emb.position_embeddings, ["embeddings.position_embeddings.weight"], "copy"),
        (emb.segment_embedding.embeddings, ["embeddings.token_type_embeddings.weight"], "copy"),
        *_layer_norm_entries(emb.layer_norm, "embeddings.LayerNorm"),
    ]
    for i, block in enumerate(backbone.transformer_layers):
        p = f"encoder.layer.{i}"
        entries += [
            *_attention_entries(block.attention, p),
            *_layer_norm_entries(block.attention_layer_norm, f"{p}.attention.output.LayerNorm"),
            *_dense_entries(block.intermediate_dense, f"{p}.intermediate.dense"),
            *_dense_entries(block.output_dense, f"{p}.output.dense"),
            *_layer_norm_entries(block.output_layer_norm, f"{p}.output.LayerNorm"),
        ]
    entries += _dense_entries(backbone.pooler.dense, "pooler.dense")
    return entries


def task_head_entries(dense_layer, prefix):
    """The mapping table of a task head: one `Dense` layer ↔ `{prefix}.weight` / `{prefix}.bias`
    (`classifier`, `qa_outputs`; PyTorch `[out, in]` kernels)."""
    return _dense_entries(dense_layer, prefix)


def head_entries(mlm_head, nsp_head):
    """The mapping table for the pretraining heads (the MLM decoder is tied, so not listed)."""
    entries = [
        *_dense_entries(mlm_head.transform_dense, "cls.predictions.transform.dense"),
        *_layer_norm_entries(mlm_head.layer_norm, "cls.predictions.transform.LayerNorm"),
        (mlm_head.output_bias, ["cls.predictions.bias"], "copy"),
    ]
    entries += _dense_entries(nsp_head.dense, "cls.seq_relationship")
    return entries


def _to_ours(values, kind):
    if kind == "copy":
        return values[0]
    if kind == "dense":
        return values[0].T
    if kind == "qkv_kernel":
        return np.concatenate([v.T for v in values], axis=1)
    return np.concatenate(values, axis=0)  # qkv_bias


def _from_ours(value, kind):
    if kind == "copy":
        return [value]
    if kind == "dense":
        return [value.T]
    if kind == "qkv_kernel":
        return [part.T for part in np.split(value, 3, axis=1)]
    return np.split(value, 3, axis=0)


def assign_weights(entries, checkpoint, optional_prefixes=()):
    """Copies checkpoint tensors into the variables of `entries`, checking names and shapes.

    Entries whose names start with one of `optional_prefixes` and are absent are left as
    initialised (with a log line); any other absent tensor is an error.
    """
    tensors = checkpoint.tensors
    for variable, names, kind in entries:
        missing = [n for n in names if n not in tensors]
        if missing:
            if all(n.startswith(optional_prefixes) for n in missing) and optional_prefixes:
                logger.warning("%s: no %s; keeping it initialised", checkpoint.source, missing[0])
                continue
            raise UserError(f"{checkpoint.source}: missing tensor {missing[0]!r} (the file is "
                            "incomplete, or not a checkpoint of this architecture)")
        value = _to_ours([tensors[n] for n in names], kind)
        if tuple(value.shape) != tuple(variable.shape):
            if names[0] == "embeddings.word_embeddings.weight":
                raise UserError(
                    f"{checkpoint.source}: vocabulary size disagrees with the config: tensor "
                    f"{names[0]!r} has {value.shape[0]} rows, config says "
                    f"vocab_size={variable.shape[0]}")
            shapes = [tuple(tensors[n].shape) for n in names]
            raise UserError(
                f"{checkpoint.source}: shape mismatch for tensor {names[0]!r}: checkpoint "
                f"{shapes[0] if len(shapes) == 1 else shapes}, model expects "
                f"{tuple(variable.shape)} (as {variable.path})")
        variable.assign(value.astype(variable.dtype))


def state_dict(entries, prefix=""):
    """Canonical name → numpy array for the variables in `entries` (Hugging Face layout)."""
    out = {}
    for variable, names, kind in entries:
        for name, value in zip(names, _from_ours(np.asarray(variable.numpy(), np.float32), kind)):
            out[prefix + name if not name.startswith("cls.") else name] = value
    return out


def assign_backbone_weights(backbone, checkpoint):
    """Loads a `Checkpoint` into a `BertBackbone` (a checkpoint without a pooler keeps it initialised)."""
    assign_weights(backbone_entries(backbone), checkpoint, optional_prefixes=("pooler.",))


def backbone_state_dict(backbone, prefix=""):
    """The backbone's weights under Hugging Face `BertModel` names (optionally `bert.`-prefixed)."""
    return state_dict(backbone_entries(backbone), prefix=prefix)
