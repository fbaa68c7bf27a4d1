"""Tiny pretraining data for the pretraining tests: a word-level vocabulary and TFRecords from Austen.

The vocabulary is made in plain Python (special tokens, characters, `##` characters and the most
frequent words of the slice) so that the tests do not spend time in the WordPiece learner.
"""

import collections
import pathlib
import re

import yaml

from keras_bert_kit.data.pretraining_data import create_pretraining_data
from keras_bert_kit.text.bert_tokenizer import SPECIAL_TOKENS
from tests.conftest import DATA, REPO

SEQ, PREDICTIONS = 64, 10
# A one-layer, 32-wide BERT: a training step takes milliseconds.
TINY_MODEL = dict(num_layers=1, hidden_dim=32, num_heads=2, intermediate_dim=64,
                  max_sequence_length=SEQ)
RECIPE = REPO / "recipes" / "pretrain.py"


def write_vocabulary(text, path, num_words=300):
    words = re.findall(r"\w+|[^\w\s]", text.lower())
    chars = sorted({c for w in words for c in w})
    common = [w for w, _ in collections.Counter(words).most_common(num_words) if w not in chars]
    tokens = list(SPECIAL_TOKENS) + chars + ["##" + c for c in chars] + common
    path.write_text("".join(t + "\n" for t in tokens), encoding="utf-8")
    return tokens


def make_tiny_data(folder, train_lines=1500, eval_lines=300, num_shards=2):
    """Writes `vocab.txt`, `train/` (`num_shards` shards) and `eval/` records under `folder`."""
    folder = pathlib.Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    lines = (DATA / "austen" / "persuasion.txt").read_text(encoding="utf-8").split("\n")
    train_text = "\n".join(lines[:train_lines])
    (folder / "train.txt").write_text(train_text, encoding="utf-8")
    (folder / "eval.txt").write_text("\n".join(lines[train_lines:train_lines + eval_lines]),
                                     encoding="utf-8")
    write_vocabulary(train_text, folder / "vocab.txt")
    kwargs = dict(max_seq_length=SEQ, max_predictions_per_seq=PREDICTIONS, dupe_factor=1,
                  progress=False, num_workers=1)
    train = create_pretraining_data(folder / "train.txt", folder / "vocab.txt", folder / "train",
                                    num_shards=num_shards, **kwargs)
    evaluation = create_pretraining_data(folder / "eval.txt", folder / "vocab.txt", folder / "eval",
                                         seed=1, **kwargs)
    return {"vocab": folder / "vocab.txt", "train": train.shards, "eval": evaluation.shards}


def write_config(path, data, output, **settings):
    """Writes a `--config` YAML for `recipes/pretrain.py` training the tiny model on `data`."""
    config = dict(train_files=[str(f) for f in data["train"]], vocab=str(data["vocab"]),
                  output=str(output), preset="bert_tiny_uncased", config_overrides=TINY_MODEL,
                  batch_size=16, learning_rate=2e-3, mixed_precision="none", jit_compile=False,
                  verbose=0)
    config.update(settings)
    path.write_text(yaml.safe_dump(config), encoding="utf-8")
    return path
