"""A tiny classification task for runner and command-line tests: a random 1-layer BERT in a
Hugging Face folder with a 12-word vocabulary, and train / dev TSV files of 3-word reviews."""

import pathlib

import keras

from keras_bert_kit.models.bert_backbone import BertBackbone

WORDS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "good", "bad", "film", "movie",
         "great", "dull"]
POSITIONS = 16
# Settings shared by `run(...)` and `kbk finetune classify` in the tests.
TINY_FLAGS = ["--epochs", "1", "--batch-size", "8", "--sequence-length", "8",
              "--learning-rate", "1e-3", "--no-jit-compile", "--verbose", "0"]


def make_tiny_classification(folder):
    """Writes `init/` (weights + vocab.txt), `train.tsv` and `dev.tsv` under `folder`."""
    folder = pathlib.Path(folder)
    init = folder / "init"
    keras.utils.set_random_seed(1)
    BertBackbone(vocabulary_size=len(WORDS), num_layers=1, num_heads=2, hidden_dim=16,
                 intermediate_dim=32, max_sequence_length=POSITIONS).save_pretrained(str(init))
    (init / "vocab.txt").write_text("\n".join(WORDS) + "\n")
    reviews = [(f"a {adjective} {noun}", label) for adjective, label in
               (("good", "pos"), ("bad", "neg"), ("great", "pos"), ("dull", "neg"))
               for noun in ("film", "movie")]
    for name, count in (("train", 3), ("dev", 1)):
        rows = "".join(f"{text}\t{label}\n" for text, label in reviews * count)
        (folder / f"{name}.tsv").write_text("text\tlabel\n" + rows)
    return {"init": init, "train": folder / "train.tsv", "dev": folder / "dev.tsv"}
