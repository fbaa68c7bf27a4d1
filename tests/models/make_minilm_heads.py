"""Writes all-MiniLM-L6-v2 with a non-trivial classifier / tagger head as transformers' TF classes
save them (`tf_model.h5` + `config.json` with `id2label`), and transformers' logits on texts.

Run in its own process (transformers' TF classes need tf-keras):

    TF_USE_LEGACY_KERAS=1 .venv/bin/python tests/models/make_minilm_heads.py MINILM OUT

OUT gets `classifier/` (`TFBertForSequenceClassification`, 4 labels) and `tagger/`
(`TFBertForTokenClassification`, 5 tags), each with MiniLM's `vocab.txt` and
`tokenizer_config.json`, and `reference.npz`: the texts, transformers' tokenization of them
(`input_ids`, `attention_mask`, `token_type_ids`, padded) and `classifier_logits`,
`tagger_logits`. The encoder weights come from MiniLM's `model.safetensors` through
transformers' PyTorch→TF loader; the heads are drawn from N(0, 0.5) with seed 0 (a trained head's
scale, so the labels differ between texts).
"""

import json
import os
import pathlib
import shutil
import sys

os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

import numpy as np  # noqa: E402
import transformers  # noqa: E402

TEXTS = ["The movie was wonderful and the actors were great.",
         "I hated every minute of this boring film.",
         "Jane Austen lived in Bath and later in Chawton.",
         "The weather in Paris is mild today.",
         "Is this the right way to the station?",
         "Stock prices fell sharply after the announcement."]
HEADS = {"classifier": ("TFBertForSequenceClassification", ["world", "sports", "business", "science"]),
         "tagger": ("TFBertForTokenClassification", ["O", "B-PER", "I-PER", "B-LOC", "I-LOC"])}


def build(minilm, class_name, labels, rng):
    from safetensors.numpy import load_file
    from transformers.modeling_tf_pytorch_utils import load_pytorch_state_dict_in_tf2_model

    config = transformers.BertConfig.from_pretrained(
        minilm, id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)})
    model = getattr(transformers, class_name)(config)
    model(model.dummy_inputs)
    state = {("bert." + k if not k.startswith("bert.") else k): v
             for k, v in load_file(os.path.join(minilm, "model.safetensors")).items()}
    load_pytorch_state_dict_in_tf2_model(model, state, allow_missing_keys=True)
    for weight in model.classifier.weights:
        weight.assign(rng.normal(0.0, 0.5, weight.shape).astype(np.float32))
    return model


def main(minilm, out):
    out = pathlib.Path(out)
    tokenizer = transformers.BertTokenizer.from_pretrained(minilm)
    encoded = tokenizer(TEXTS, padding=True, return_tensors="np")
    reference = {"texts": np.array(TEXTS), **{k: encoded[k] for k in
                                               ("input_ids", "attention_mask", "token_type_ids")}}
    rng = np.random.default_rng(0)
    for name, (class_name, labels) in HEADS.items():
        model = build(minilm, class_name, labels, rng)
        folder = out / name
        model.save_pretrained(folder, safe_serialization=False)
        for file in ("vocab.txt", "tokenizer_config.json"):
            shutil.copy(os.path.join(minilm, file), folder / file)
        logits = model(dict(encoded), training=False).logits
        reference[f"{name}_logits"] = np.asarray(logits, np.float32)
        print(json.dumps({name: sorted(os.listdir(folder))}))
    np.savez(out / "reference.npz", **reference)


if __name__ == "__main__":
    main(*sys.argv[1:3])
