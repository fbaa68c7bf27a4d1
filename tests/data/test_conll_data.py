"""CoNLL reading, word → WordPiece alignment, windows over long sentences, tagging datasets."""

import gzip
import shutil

import numpy as np
import pytest

from keras_bert_kit.data.conll_data import (IGNORE_LABEL, ConllDataError, align_words,
                                            build_tag_vocabulary, make_tagging_dataset,
                                            read_conll, split_words)
from keras_bert_kit.text.bert_tokenizer import BertTokenizer
from tests.conftest import DATA, FIXTURES

NER = FIXTURES / "ner"
SPECIAL = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
VOCAB = SPECIAL + ["jane", "austen", "wrote", "un", "##believ", "##able", "novel", "##s", "in",
                   "bath", ".", "北", "京", "张", "三"]


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(VOCAB)


def test_reads_conll2003_columns_and_skips_docstart():
    sentences = read_conll(NER / "conll2003_like.txt")
    assert len(sentences) == 3
    assert sentences.words[1] == ["Peter", "Blackburn"]
    assert sentences.tags[0][:3] == ["B-ORG", "O", "B-MISC"]
    assert sentences.scheme == "BIO"
    assert sentences.lines == [3, 13, 18]
    assert sentences.tag_vocabulary() == ["O", "B-LOC", "I-LOC", "B-MISC", "I-MISC", "B-ORG",
                                          "I-ORG", "B-PER", "I-PER"]


def test_reads_bioes_chinese_and_gzip(tmp_path):
    bioes = read_conll(NER / "bioes.conll")
    assert bioes.scheme == "BIOES" and bioes.tags[0] == ["B-PER", "E-PER", "O", "O", "S-LOC", "O"]
    assert build_tag_vocabulary(bioes.tags, "BIOES")[:5] == ["O", "B-LOC", "I-LOC", "E-LOC", "S-LOC"]
    packed = tmp_path / "chinese.conll.gz"
    with open(NER / "chinese_chars.conll", "rb") as source, gzip.open(packed, "wb") as target:
        shutil.copyfileobj(source, target)
    chinese = read_conll(packed)
    assert chinese.words[0] == list("张三在北京工作。") and chinese.tags[1][:3] == ["B-ORG", "I-ORG", "I-ORG"]


def test_bundled_peoples_daily_dev_reads():
    dev = read_conll(DATA / "peoples_daily" / "dev.conll.gz")
    assert len(dev) == 1500 and dev.scheme == "BIO"
    assert set(dev.tag_vocabulary()) == {"O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"}


@pytest.mark.parametrize("name,scheme,message", [
    ("bad_tag.conll", "auto", r"bad_tag.conll:4: tag 'B-PLACE'|bad_tag.conll:5: tag 'X-LOC'"),
    ("missing_tag.conll", "auto", r"missing_tag.conll:4: no tag column in 'Rome'"),
    ("bioes.conll", "BIO", r"bioes.conll:2: tag 'E-PER' is not a BIO tag"),
])
def test_malformed_files_name_file_and_line(name, scheme, message):
    with pytest.raises(ConllDataError, match=message):
        read_conll(NER / name, scheme=scheme)


@pytest.mark.parametrize("content, message", [
    ("EU NNP B-NP B-ORG\nrejects VBZ B-VP O\nGerman JJ B-NP\n",
     r"x\.conll:3: 3 columns, fewer than the 4 of line 1 \(the tag is the last column, so its "
     r"tag would be 'B-NP'"),
    ("Jane B-PER\nleft NN O\n", r"x\.conll:2: 3 columns, more than the 2 of line 1"),
    (b"Jane B-PER\n\nZo\xeb B-PER\n", r"x\.conll:3: not utf-8 text"),
])
def test_the_column_layout_holds_for_the_whole_file(tmp_path, content, message):
    path = tmp_path / "x.conll"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(ConllDataError, match=message):
        read_conll(path)


def test_unknown_dev_tag_and_empty_file(tmp_path):
    dev = read_conll(NER / "bioes.conll")
    with pytest.raises(ConllDataError, match=r"bioes.conll:2: tag 'E-PER' is not in the label"):
        dev.check_tags(["O", "B-PER", "I-PER", "S-LOC", "B-ORG", "E-ORG"])
    empty = tmp_path / "empty.conll"
    empty.write_text("-DOCSTART- O\n\n\n")
    with pytest.raises(ConllDataError, match="empty.conll: no sentences"):
        read_conll(empty)


def test_split_words_keeps_exact_offsets():
    text = "Zoë  visited\t北京 (again)."
    spans = split_words(text)
    assert [text[s:e] for s, e in spans] == ["Zoë", "visited", "北", "京", "(again)."]
    text = "IBM 在京"
    assert [text[s:e] for s, e in split_words(text, "character")] == ["I", "B", "M", "在", "京"]


def test_first_piece_labelled_rest_ignored(tokenizer):
    vocabulary = ["O", "B-PER", "I-PER", "B-MISC", "I-MISC"]
    windows = align_words(tokenizer, [["Jane", "Austen", "unbelievable", "novels"]], 16,
                          tags=[["B-PER", "I-PER", "B-MISC", "O"]], label_vocabulary=vocabulary)
    assert windows.token_ids[0].tolist() == [2, 5, 6, 8, 9, 10, 11, 12, 3]
    assert windows.labels[0].tolist() == [IGNORE_LABEL, 1, 2, 3, IGNORE_LABEL, IGNORE_LABEL, 0,
                                          IGNORE_LABEL, IGNORE_LABEL]
    assert windows.word_ids[0].tolist() == [-1, 0, 1, 2, 2, 2, 3, 3, -1]
    all_pieces = align_words(tokenizer, [["unbelievable", "novels"]], 16,
                             tags=[["B-MISC", "O"]], label_vocabulary=vocabulary,
                             label_all_subtokens=True)
    assert all_pieces.labels[0].tolist() == [IGNORE_LABEL, 3, 4, 4, 0, 0, IGNORE_LABEL]


def test_cjk_characters_are_words(tokenizer):
    windows = align_words(tokenizer, [list("张三在北京")], 16, tags=[["B-PER", "I-PER", "O", "B-LOC", "I-LOC"]],
                          label_vocabulary=["O", "B-LOC", "I-LOC", "B-PER", "I-PER"])
    assert windows.token_ids[0].tolist() == [2, 18, 19, 1, 16, 17, 3]  # 在 is [UNK]
    assert windows.labels[0].tolist() == [IGNORE_LABEL, 3, 4, 0, 1, 2, IGNORE_LABEL]


def test_long_sentences_are_covered_by_windows_and_decode_each_word_once(tokenizer):
    rng = np.random.default_rng(0)
    words_pool = ["Jane", "Austen", "unbelievable", "novels", "in", "Bath", "."]
    sentences = [[words_pool[i] for i in rng.integers(0, 7, n)] for n in (3, 40, 97)]
    vocabulary = ["O", "B-X", "I-X"]
    tags = [[vocabulary[i] for i in rng.integers(0, 3, len(s))] for s in sentences]
    windows = align_words(tokenizer, sentences, 12, tags=tags, label_vocabulary=vocabulary, stride=4)
    assert len(windows) > 20 and max(len(t) for t in windows.token_ids) <= 12
    for s, sentence in enumerate(sentences):
        mine = np.flatnonzero(windows.sentence_index == s)
        seen = np.concatenate([windows.word_ids[i][1:-1] for i in mine])
        assert set(seen.tolist()) == set(range(len(sentence)))          # every word in a window
        decoded = np.concatenate([windows.word_ids[i][windows.decode_mask[i]] for i in mine])
        assert sorted(decoded.tolist()) == list(range(len(sentence)))  # each decoded once
        for i in mine:                             # windows start on a word's first piece
            assert windows.labels[i][1] != IGNORE_LABEL
    # Perfect per-piece logits decode back to the word tags.
    logits = [np.eye(3)[np.maximum(labels, 0)] for labels in windows.labels]
    assert windows.word_tags(logits, vocabulary) == tags


def test_tagging_dataset_buckets_and_weights(tokenizer):
    sentences = [["Jane"] * n for n in (1, 2, 5, 9, 14)]
    tags = [["B-PER"] * len(s) for s in sentences]
    windows = align_words(tokenizer, sentences, 16, tags=tags, label_vocabulary=["O", "B-PER", "I-PER"])
    batches = list(make_tagging_dataset(windows, batch_size=2, shuffle=False))
    assert {x["token_ids"].shape[1] for x, _, _ in batches} <= {8, 16}
    total = 0
    for x, y, weight in batches:
        assert np.array_equal(weight.numpy() > 0, y.numpy() != IGNORE_LABEL)
        assert np.all(x["padding_mask"].numpy().sum(1) >= (weight.numpy() > 0).sum(1) + 2)
        total += int(weight.numpy().sum())
    assert total == sum(len(s) for s in sentences)
    assert len(batches) == int(make_tagging_dataset(windows, 2, shuffle=True, seed=0).cardinality())
