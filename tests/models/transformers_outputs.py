"""Loads our `save_pretrained` folders into transformers' own classes and writes their outputs.

Run in a separate process (transformers' TF classes need `TF_USE_LEGACY_KERAS=1`, the package
uses Keras 3; the PyTorch classes need a venv with torch):

    TF_USE_LEGACY_KERAS=1 .venv/bin/python tests/models/transformers_outputs.py tf SPEC OUT
    /tmp/ptvenv/bin/python tests/models/transformers_outputs.py pt SPEC OUT

SPEC is a JSON file `{"inputs": npz path, "folders": {head: folder}}` (heads `sequence`,
`token`, `qa`, `choice`; the npz holds the fixture inputs, see `make_task_heads.py`). OUT (.npz)
gets each head's outputs under the fixture's keys, and `meta` (JSON): per head the class built
from `architectures`, `id2label`, `problem_type`, missing/unexpected weights, and the tokenizer's
`do_lower_case` and vocabulary size.

With `tf`, the PyTorch-named `model.safetensors` goes through transformers' PyTorch→TF loading
function (`load_pytorch_state_dict_in_tf2_model`, what `from_pretrained(from_pt=True)` calls):
transformers 4.57's TF `from_pretrained` cannot open safetensors without torch.
"""

import json
import os
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np  # noqa: E402
import transformers  # noqa: E402


def feed(head, data):
    prefix = "choice_" if head == "choice" else ""
    return dict(input_ids=data[prefix + "token_ids"], token_type_ids=data[prefix + "segment_ids"],
                attention_mask=data[prefix + "padding_mask"])


def outputs_of(head, out):
    if head == "qa":
        return {"qa_start_logits": out.start_logits, "qa_end_logits": out.end_logits}
    return {f"{head}_logits": out.logits}


def run_tf(folder, head, data):
    import tensorflow as tf
    from safetensors.numpy import load_file
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    config = transformers.BertConfig.from_pretrained(folder)
    cls = getattr(transformers, "TF" + config.architectures[0])
    model = cls(config)
    model(model.dummy_inputs)
    model, info = load_pytorch_state_dict_in_tf2_model(
        model, load_file(os.path.join(folder, "model.safetensors")), output_loading_info=True)
    out = model({k: tf.constant(v) for k, v in feed(head, data).items()}, training=False)
    return config, cls.__name__, info, {k: np.asarray(v) for k, v in outputs_of(head, out).items()}


def run_pt(folder, head, data):
    import torch

    config = transformers.BertConfig.from_pretrained(folder)
    cls = getattr(transformers, config.architectures[0])
    model, info = cls.from_pretrained(folder, attn_implementation="eager",
                                      output_loading_info=True)
    model.eval()
    with torch.no_grad():
        out = model(**{k: torch.from_numpy(v).long() for k, v in feed(head, data).items()})
    return config, cls.__name__, info, {k: v.numpy() for k, v in outputs_of(head, out).items()}


def main(framework, spec_path, out_path):
    with open(spec_path) as f:
        spec = json.load(f)
    data = dict(np.load(spec["inputs"]))
    arrays, meta = {}, {}
    for head, folder in spec["folders"].items():
        config, name, info, outputs = {"tf": run_tf, "pt": run_pt}[framework](folder, head, data)
        arrays.update(outputs)
        tokenizer = transformers.BertTokenizer.from_pretrained(folder)
        meta[head] = {"class": name, "id2label": {str(k): v for k, v in config.id2label.items()},
                      "problem_type": config.problem_type,
                      "missing": sorted(info.get("missing_keys", [])),
                      "unexpected": sorted(info.get("unexpected_keys", [])),
                      "do_lower_case": tokenizer.do_lower_case,
                      "vocab_size": len(tokenizer.vocab)}
    np.savez(out_path, meta=np.array(json.dumps(meta)), **arrays)


if __name__ == "__main__":
    main(*sys.argv[1:4])
