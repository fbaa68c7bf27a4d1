"""Token ids, offsets, word splits and packed pairs equal HF's BertTokenizerFast / tokenizers.

Corpora: every sentence of the sentiment set, every non-empty Austen line and the stress set
(`tests/fixtures/text/stress_texts.json`); uncased with the real MiniLM vocabulary, cased with the
vocabulary learned by `build_vocabulary` (`tests/fixtures/text/cased_vocab.txt`).
"""

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
from keras_bert_kit.text.bert_tokenizer import BertTokenizer
from keras_bert_kit.text.word_splitter import WordSplitter

normalizers = pytest.importorskip("tokenizers.normalizers")
pre_tokenizers = pytest.importorskip("tokenizers.pre_tokenizers")

CORPORA = ("sentiment", "austen", "stress")


def _pick(request, casing):
    if casing == "uncased":
        return request.getfixturevalue("uncased_tokenizer"), request.getfixturevalue("hf_uncased")
    return request.getfixturevalue("cased_tokenizer"), request.getfixturevalue("hf_cased")


def _mismatches(texts, ours, reference):
    bad = [i for i, (a, b) in enumerate(zip(ours, reference)) if list(a) != list(b)]
    return len(bad), [(texts[i][:80], list(ours[i])[:12], list(reference[i])[:12]) for i in bad[:3]]


@pytest.mark.parametrize("casing", ["uncased", "cased"])
@pytest.mark.parametrize("corpus", CORPORA)
def test_token_ids_equal_hf(request, corpora, casing, corpus):
    tokenizer, hf = _pick(request, casing)
    texts = corpora[corpus]
    ours = tokenizer(tf.constant(texts)).to_list()
    reference = hf(texts, add_special_tokens=False)["input_ids"]
    count, examples = _mismatches(texts, ours, reference)
    assert count == 0, f"{count}/{len(texts)} {corpus} texts differ, e.g. {examples}"


@pytest.mark.parametrize("casing", ["uncased", "cased"])
def test_table_path_equals_hf_on_ascii_texts(request, corpora, casing):
    # Plain-ASCII texts normally take tensorflow-text's FastBertTokenizer path; the general
    # code-point path must give the same ids on them too.
    tokenizer, hf = _pick(request, casing)
    texts = [t for t in corpora["sentiment"] if t.isascii()][:3000]
    ours, _, _ = tokenizer._tokenize_general(tf.constant(texts), with_offsets=False)
    reference = hf(texts, add_special_tokens=False)["input_ids"]
    count, examples = _mismatches(texts, ours.to_list(), reference)
    assert count == 0, f"{count} texts differ, e.g. {examples}"


@pytest.mark.parametrize("casing", ["uncased", "cased"])
def test_ascii_path_equals_hf_for_every_ascii_character(request, casing):
    tokenizer, hf = _pick(request, casing)
    characters = ["\t", "\n", "\r"] + [chr(c) for c in range(0x20, 0x7F)]
    texts = [f"{left}{c}{right}" for c in characters for left, right in [("a", "b"), ("Q", "Z2")]]
    texts += ["".join(characters), "  ".join(characters), "x" * 100 + "!" + "Y" * 101]
    ids, starts, ends = tokenizer.tokenize_with_offsets(texts)
    reference = hf(texts, add_special_tokens=False, return_offsets_mapping=True)
    assert ids.to_list() == reference["input_ids"]
    assert [list(zip(s, e)) for s, e in zip(starts.to_list(), ends.to_list())] == [
        [tuple(o) for o in row] for row in reference["offset_mapping"]
    ]


@pytest.mark.parametrize("casing", ["uncased", "cased"])
@pytest.mark.parametrize("corpus", ["sentiment", "stress"])
def test_char_offsets_equal_hf(request, corpora, casing, corpus):
    tokenizer, hf = _pick(request, casing)
    texts = corpora[corpus]
    _, starts, ends = tokenizer.tokenize_with_offsets(tf.constant(texts))
    starts, ends = starts.to_list(), ends.to_list()
    reference = hf(texts, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
    ours = [BertTokenizer.char_offsets(t, s, e) for t, s, e in zip(texts, starts, ends)]
    count, examples = _mismatches(texts, ours, [[tuple(o) for o in r] for r in reference])
    assert count == 0, f"{count}/{len(texts)} {corpus} texts have other offsets, e.g. {examples}"


def _hf_words(texts, lowercase, strip_accents):
    normalizer = normalizers.BertNormalizer(
        clean_text=True, handle_chinese_chars=True, strip_accents=strip_accents, lowercase=lowercase
    )
    splitter = pre_tokenizers.BertPreTokenizer()
    return [[w for w, _ in splitter.pre_tokenize_str(normalizer.normalize_str(t))] for t in texts]


def _code_point_texts():
    # "a<c>b" for every code point c of planes 0-3 (all assigned characters but tags) and 14,
    # and every 61st (plus the last two) of the unassigned planes 4-13 and private-use planes
    # 15-16; surrogates excepted. The context shows whether c was dropped ("ab"), separated
    # ("a", "b"), isolated ("a", c, "b") or kept inside the word.
    code_points = [c for c in range(0x40000) if not 0xD800 <= c <= 0xDFFF]
    code_points += range(0xE0000, 0xF0000)
    for first, last in ((0x40000, 0xDFFFF), (0xF0000, 0x10FFFF)):
        code_points += [*range(first, last - 1, 61), last - 1, last]
    chunk = 4096
    return [
        " ".join("a" + chr(c) + "b" for c in code_points[i : i + chunk])
        for i in range(0, len(code_points), chunk)
    ]


@pytest.mark.parametrize(
    "lowercase, strip_accents",
    [
        (True, None),
        (False, None),
        pytest.param(False, True, marks=pytest.mark.slow),
        pytest.param(True, False, marks=pytest.mark.slow),
    ],
)
def test_word_split_equals_hf_on_all_assigned_code_points(lowercase, strip_accents):
    texts = _code_point_texts()
    splitter = WordSplitter(lowercase=lowercase, strip_accents=strip_accents)
    ours = [[w.decode("utf-8") for w in row] for row in splitter.split(texts).to_list()]
    reference = _hf_words(texts, lowercase, strip_accents)
    bad = [i for i in range(len(texts)) if ours[i] != reference[i]]
    first = None
    if bad:
        i = bad[0]
        j = next(k for k, (a, b) in enumerate(zip(ours[i], reference[i])) if a != b)
        first = (ours[i][j - 2 : j + 3], reference[i][j - 2 : j + 3])
    assert not bad, f"{len(bad)} chunks of 4096 code points differ; first difference {first}"


def _equal_length_text(n):
    return " ".join(["cat"] * n)


@pytest.mark.parametrize("sequence_length", [8, 9, 16, 33, 64])
def test_packed_pairs_equal_hf_longest_first(
    uncased_tokenizer, hf_uncased, corpora, sequence_length
):
    texts = corpora["sentiment"]
    rng = np.random.default_rng(sequence_length)
    first = [texts[i] for i in rng.integers(0, len(texts), 600)]
    second = [" ".join(texts[i] for i in rng.integers(0, len(texts), 3)) for _ in range(600)]
    # Equal lengths (the tie rule), one side empty, and both sides shorter than half the budget.
    for n in range(0, 12):
        for m in (n, n + 1, max(n - 1, 0), 0, 1):
            first.append(_equal_length_text(n))
            second.append(_equal_length_text(m))
    preprocessor = BertPreprocessor(uncased_tokenizer, sequence_length=sequence_length)
    ours = preprocessor((first, second))
    reference = hf_uncased(
        first,
        second,
        truncation="longest_first",
        max_length=sequence_length,
        padding="max_length",
        return_tensors="np",
    )
    assert int(np.sum(reference["attention_mask"][:600].sum(1) == sequence_length)) > 100
    np.testing.assert_array_equal(ours["token_ids"].numpy(), reference["input_ids"])
    np.testing.assert_array_equal(ours["segment_ids"].numpy(), reference["token_type_ids"])
    np.testing.assert_array_equal(ours["padding_mask"].numpy(), reference["attention_mask"])


@pytest.mark.parametrize("sequence_length", [8, 64])
def test_packed_single_texts_equal_hf(cased_tokenizer, hf_cased, corpora, sequence_length):
    texts = corpora["stress"] + corpora["sentiment"][:500]
    ours = BertPreprocessor(cased_tokenizer, sequence_length=sequence_length)(texts)
    reference = hf_cased(
        texts,
        truncation=True,
        max_length=sequence_length,
        padding="max_length",
        return_tensors="np",
    )
    np.testing.assert_array_equal(ours["token_ids"].numpy(), reference["input_ids"])
    np.testing.assert_array_equal(ours["segment_ids"].numpy(), reference["token_type_ids"])
    np.testing.assert_array_equal(ours["padding_mask"].numpy(), reference["attention_mask"])


def test_dynamic_padding_equals_hf_longest(uncased_tokenizer, hf_uncased, corpora):
    first, second = corpora["sentiment"][:37], corpora["austen"][:37]
    ours = BertPreprocessor(uncased_tokenizer, sequence_length=None, pad_to_multiple_of=8)(
        (first, second)
    )
    reference = hf_uncased(
        first, second, padding="longest", pad_to_multiple_of=8, return_tensors="np"
    )
    assert ours["token_ids"].shape[1] % 8 == 0
    np.testing.assert_array_equal(ours["token_ids"].numpy(), reference["input_ids"])
    np.testing.assert_array_equal(ours["segment_ids"].numpy(), reference["token_type_ids"])
    np.testing.assert_array_equal(ours["padding_mask"].numpy(), reference["attention_mask"])


def test_detokenize_equals_hf_wordpiece_decoder(uncased_tokenizer, hf_uncased, corpora):
    decoders = pytest.importorskip("tokenizers.decoders")
    texts = corpora["stress"] + corpora["sentiment"][:200]
    ids = uncased_tokenizer(texts)
    decoder = decoders.WordPiece(prefix="##", cleanup=False)
    reference = [decoder.decode(hf_uncased.convert_ids_to_tokens(row)) for row in ids.to_list()]
    ours = [t.decode("utf-8") for t in uncased_tokenizer.detokenize(ids).numpy()]
    assert ours == reference
    packed = BertPreprocessor(uncased_tokenizer, sequence_length=32)(texts)["token_ids"]
    ours = [t.decode("utf-8") for t in uncased_tokenizer.detokenize(packed, True).numpy()]
    reference = [
        decoder.decode(hf_uncased.convert_ids_to_tokens(row, skip_special_tokens=True))
        for row in packed.numpy().tolist()
    ]
    assert ours == reference
