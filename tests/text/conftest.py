"""Fixtures for the text tests: bundled corpora, the stress set, tokenizers, HF references."""

import csv
import json
import pathlib

import pytest

from keras_bert_kit.text.bert_tokenizer import BertTokenizer

REPO = pathlib.Path(__file__).resolve().parents[2]
DATA = REPO / "recipes" / "data"
TEXT_FIXTURES = REPO / "tests" / "fixtures" / "text"
CASED_VOCAB = TEXT_FIXTURES / "cased_vocab.txt"


def read_sentiment():
    """All sentences of `recipes/data/sentiment/{train,test}.tsv`."""
    texts = []
    for split in ("train", "test"):
        with open(DATA / "sentiment" / f"{split}.tsv", encoding="utf-8", newline="") as f:
            rows = csv.reader(f, delimiter="\t", quoting=csv.QUOTE_NONE)
            next(rows)
            texts.extend(row[2] for row in rows)
    return texts


def read_austen():
    """All non-empty lines of the six Austen novels."""
    lines = []
    for path in sorted((DATA / "austen").glob("*.txt")):
        lines.extend(l for l in path.read_text(encoding="utf-8").split("\n") if l.strip())
    return lines


def read_stress():
    """The hand-written stress set (accents, emoji, CJK, controls, long words, ...)."""
    return json.loads((TEXT_FIXTURES / "stress_texts.json").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def corpora():
    return {"sentiment": read_sentiment(), "austen": read_austen(), "stress": read_stress()}


@pytest.fixture(scope="session")
def minilm_vocab(minilm_path):
    return pathlib.Path(minilm_path) / "vocab.txt"


@pytest.fixture(scope="session")
def uncased_tokenizer(minilm_path):
    return BertTokenizer.from_pretrained(minilm_path)


@pytest.fixture(scope="session")
def cased_tokenizer():
    return BertTokenizer.from_vocabulary(CASED_VOCAB, lowercase=False)


@pytest.fixture(scope="session")
def hf_uncased(minilm_path):
    transformers = pytest.importorskip("transformers")
    return transformers.BertTokenizerFast.from_pretrained(minilm_path, split_special_tokens=True)


@pytest.fixture(scope="session")
def hf_cased():
    transformers = pytest.importorskip("transformers")
    return transformers.BertTokenizerFast(
        vocab_file=str(CASED_VOCAB), do_lower_case=False, split_special_tokens=True
    )


@pytest.fixture(scope="session")
def tiny_vocab():
    return ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "on", "mat", "."]
