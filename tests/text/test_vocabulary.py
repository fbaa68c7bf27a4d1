"""build_vocabulary: learned vocabularies load into BertTokenizer and tokenize like HF with them."""

import pathlib

import pytest

from keras_bert_kit.text.bert_tokenizer import BertTokenizer, read_vocabulary
from keras_bert_kit.text.vocabulary import build_vocabulary

from .conftest import CASED_VOCAB

CHINESE = [
    "我爱北京天安门。",
    "今天天气很好，我们去公园散步吧！",
    "北京是中国的首都，也是一座历史悠久的城市。",
    "机器学习是人工智能的一个分支。",
]


def test_vocabulary_file_loads_and_matches_hf(tmp_path, corpora):
    transformers = pytest.importorskip("transformers")
    lines = corpora["sentiment"][:600]
    path = tmp_path / "corpus.txt"
    path.write_text("\n".join(lines), encoding="utf-8")
    output = tmp_path / "vocab.txt"
    vocabulary = build_vocabulary(path, vocab_size=1000, lowercase=True, output=output)
    assert read_vocabulary(output) == vocabulary
    assert vocabulary[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert 300 <= len(vocabulary) <= 1000 and "the" in vocabulary and "##s" in vocabulary
    assert not any(t != t.lower() for t in vocabulary[5:])
    tokenizer = BertTokenizer.from_vocabulary(output, lowercase=True)
    hf = transformers.BertTokenizerFast(vocab_file=str(output), do_lower_case=True)
    texts = corpora["sentiment"][600:1600]
    assert tokenizer(texts).to_list() == hf(texts, add_special_tokens=False)["input_ids"]
    assert tokenizer.pad_token_id == 0


def test_chinese_corpus_gives_cjk_tokens():
    vocabulary = build_vocabulary(CHINESE * 5, vocab_size=300, lowercase=False, min_count=1)
    assert {"北", "京", "机", "器"} <= set(vocabulary)
    tokenizer = BertTokenizer(vocabulary, lowercase=False)
    ids = tokenizer(CHINESE).to_list()
    assert tokenizer.unk_token_id not in sum(ids, [])
    assert [tokenizer.id_to_token(i) for i in ids[0]] == list("我爱北京天安门。")


def test_cased_vocabulary_keeps_case(corpora):
    vocabulary = build_vocabulary(corpora["austen"][:1000], vocab_size=400, lowercase=False)
    assert {"Emma", "Mr", "the", "The"} <= set(vocabulary)


def test_several_files_and_paths(tmp_path):
    files = []
    for i, line in enumerate(["the cat sat", "the dog sat"]):
        files.append(tmp_path / f"part{i}.txt")
        files[-1].write_text((line + "\n") * 20, encoding="utf-8")
    vocabulary = build_vocabulary(files, vocab_size=60)
    assert {"the", "cat", "dog", "sat"} <= set(vocabulary)


def test_committed_cased_fixture_is_a_build_vocabulary_output():
    vocabulary = read_vocabulary(CASED_VOCAB)
    assert vocabulary[:5] == ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    assert 7000 <= len(vocabulary) <= 8000 and "Darcy" in vocabulary and "北" in vocabulary


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="missing.txt"):
        build_vocabulary(pathlib.Path(tmp_path / "missing.txt"))
    with pytest.raises(ValueError, match=r"must start with '\[PAD\]'"):
        build_vocabulary(["text"], reserved_tokens=["[UNK]", "[PAD]", "[CLS]", "[SEP]", "[MASK]"])
    with pytest.raises(ValueError, match="contain"):
        build_vocabulary(["text"], reserved_tokens=["[PAD]", "[UNK]"])
    with pytest.raises(ValueError, match="no text"):
        build_vocabulary([])
    with pytest.raises(TypeError, match="not a mix"):
        build_vocabulary([tmp_path / "a.txt", "a line"])
