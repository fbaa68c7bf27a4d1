"""Maps tensor names of every BERT checkpoint flavour onto the canonical (HF PyTorch) names.

Flavours: HF PyTorch (`bert.encoder.layer.0...weight`, old `LayerNorm.gamma/beta`), HF TF
(`tf_bert_model/bert/encoder/layer_._0/.../kernel:0`, heads under `mlm___cls` / `nsp___cls`) and
Google TF1 (`bert/encoder/layer_0/.../kernel`, `cls/predictions/output_bias`).

Task heads keep Hugging Face's names: `classifier.*` (sequence / token classification, multiple
choice; TF `classifier/.../kernel:0`; Google `run_classifier.py`'s top-level `output_weights` /
`output_bias`) and `qa_outputs.*` (TF `qa_outputs/...`; Google `run_squad.py`'s
`cls/squad/output_weights`). Google stores both head kernels as `[out, in]` already.
"""

import re

# Tensors that are derived, tied or training state rather than weights.
_IGNORED = re.compile(
    r"(position_ids$|cls\.predictions\.decoder\.|adam_[mv]$|global_step$|_CHECKPOINTABLE_OBJECT_GRAPH$)")
_BACKBONE_ROOTS = ("embeddings", "encoder", "pooler")
_HEAD_ROOTS = {"predictions": "cls.predictions", "seq_relationship": "cls.seq_relationship"}
_TASK_HEADS = ("classifier", "qa_outputs")


def _task_head_name(parts):
    """`(canonical name, transpose)` of a task-head tensor, or None for any other tensor."""
    if parts[-1] in ("output_weights", "output_bias") and (
            len(parts) == 1 or parts[-2:-1] == ["squad"]):
        head = "classifier" if len(parts) == 1 else "qa_outputs"
        return f"{head}.{'weight' if parts[-1] == 'output_weights' else 'bias'}", False
    for part in parts:
        if part in _BACKBONE_ROOTS or part in _HEAD_ROOTS:
            return None
        if part in _TASK_HEADS:
            if parts[-1] == "kernel":
                return f"{part}.weight", True
            return f"{part}.{parts[-1]}", False
    return None


def canonical_name(name):
    """Returns `(canonical_name, transpose)` for a checkpoint tensor name, or `None` to skip it.

    `transpose` is True for TF-layout dense kernels (`[in, out]`), which are stored canonically
    as PyTorch `[out, in]`.
    """
    name = re.sub(r"layer_\._(\d+)", r"layer_\1", name.split(":")[0])
    parts = re.split(r"[/.]", name)
    if _IGNORED.search(".".join(parts)):
        return None
    head = _task_head_name(parts)
    if head is not None:
        return head
    for i, part in enumerate(parts):
        if part in _BACKBONE_ROOTS:
            parts = parts[i:]
            break
        if part in _HEAD_ROOTS:
            parts = _HEAD_ROOTS[part].split(".")[:1] + parts[i:]
            break
    else:
        return None

    out = []
    transpose = False
    for i, part in enumerate(parts):
        layer = re.fullmatch(r"layer_(\d+)", part)
        if layer:  # TF `layer_._3` and Google `layer_3`
            out += ["layer", layer.group(1)]
        elif part == "kernel":
            out.append("weight")
            transpose = True
        elif part in ("gamma", "embeddings") and i == len(parts) - 1:
            out.append("weight")
        elif part == "beta":
            out.append("bias")
        elif part == "output_weights" and out[-1] == "seq_relationship":
            out.append("weight")  # Google keeps this one as [2, hidden] already
        elif part == "output_bias":
            out.append("bias")
        elif part:
            out.append(part)
    if out[-1] not in ("weight", "bias"):
        out.append("weight")  # Google embeddings: `bert/embeddings/word_embeddings`
    return ".".join(out), transpose
