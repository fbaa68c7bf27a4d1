"""BertTokenizer behaviour: API, errors, robustness, serialization, tf.data and SavedModels."""

import json
import os
import subprocess
import sys
import textwrap
import zipfile

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
from keras_bert_kit.text.bert_tokenizer import BertTokenizer


def test_special_tokens_and_vocabulary(uncased_tokenizer, minilm_vocab):
    tokens = minilm_vocab.read_text(encoding="utf-8").split("\n")[:-1]
    assert uncased_tokenizer.vocabulary_size() == len(tokens) == 30522
    assert uncased_tokenizer.get_vocabulary() == tokens
    assert (
        uncased_tokenizer.pad_token_id,
        uncased_tokenizer.unk_token_id,
        uncased_tokenizer.cls_token_id,
        uncased_tokenizer.sep_token_id,
        uncased_tokenizer.mask_token_id,
    ) == tuple(tokens.index(t) for t in ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    assert uncased_tokenizer.token_to_id("hello") == tokens.index("hello")
    assert uncased_tokenizer.id_to_token(tokens.index("##ing")) == "##ing"
    with pytest.raises(KeyError, match="'zzzqqq' is not in the vocabulary"):
        uncased_tokenizer.token_to_id("zzzqqq")
    with pytest.raises(IndexError, match="30522 is outside the vocabulary"):
        uncased_tokenizer.id_to_token(30522)


def test_scalar_batch_and_python_inputs(uncased_tokenizer, hf_uncased):
    text = "Hello, World! Héllo again."
    expected = hf_uncased(text, add_special_tokens=False)["input_ids"]
    scalar = uncased_tokenizer(text)
    assert isinstance(scalar, tf.Tensor) and scalar.dtype == tf.int32 and scalar.shape.rank == 1
    assert scalar.numpy().tolist() == expected
    batch = uncased_tokenizer(tf.constant([text, "", "ok"]))
    assert isinstance(batch, tf.RaggedTensor) and batch.dtype == tf.int32
    ok = hf_uncased("ok", add_special_tokens=False)["input_ids"]
    assert batch.to_list() == [expected, [], ok]
    assert uncased_tokenizer([text.encode("utf-8")]).to_list() == [expected]
    assert uncased_tokenizer.tokenize(np.array([text])).to_list() == [expected]
    empty = uncased_tokenizer(tf.constant([], tf.string))
    assert empty.shape[0] == 0 and empty.flat_values.shape[0] == 0


def test_vocabulary_errors(tmp_path, tiny_vocab):
    missing = tmp_path / "nowhere" / "vocab.txt"
    with pytest.raises(FileNotFoundError, match="nowhere/vocab.txt"):
        BertTokenizer.from_vocabulary(missing)
    no_mask = tmp_path / "vocab.txt"
    no_mask.write_text("\n".join(t for t in tiny_vocab if t != "[MASK]") + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"vocab.txt.*lacks the BERT special tokens \['\[MASK\]"):
        BertTokenizer.from_vocabulary(no_mask)
    with pytest.raises(ValueError, match="'cat' twice, at lines 7 and 12"):
        BertTokenizer(tiny_vocab + ["cat"])
    with pytest.raises(TypeError, match="list of str tokens"):
        BertTokenizer("vocab.txt")
    with pytest.raises(FileNotFoundError, match="model folder not found"):
        BertTokenizer.from_pretrained(tmp_path / "no_model")


def test_input_errors(tiny_vocab):
    tokenizer = BertTokenizer(tiny_vocab)
    with pytest.raises(ValueError, match=r"scalar string or a 1-D batch.*\(2, 1\)"):
        tokenizer(tf.constant([["a"], ["b"]]))
    with pytest.raises(TypeError, match="expects tf.string inputs, got <dtype: 'int32'>"):
        tokenizer(tf.constant([1, 2]))


def test_from_pretrained_reads_do_lower_case(tmp_path, tiny_vocab, minilm_path):
    (tmp_path / "vocab.txt").write_text("\n".join(tiny_vocab + ["The"]) + "\n", encoding="utf-8")
    (tmp_path / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": False}))
    cased = BertTokenizer.from_pretrained(tmp_path)
    assert not cased.lowercase
    assert cased("The the").numpy().tolist() == [11, 5]
    assert BertTokenizer.from_pretrained(tmp_path, lowercase=True)("The").numpy().tolist() == [5]
    assert BertTokenizer.from_pretrained(minilm_path).lowercase


def test_from_vocabulary_list_and_file_agree(tmp_path, tiny_vocab):
    path = tmp_path / "vocab.txt"
    path.write_text("\n".join(tiny_vocab) + "\n", encoding="utf-8")
    from_file = BertTokenizer.from_vocabulary(str(path))
    from_list = BertTokenizer.from_vocabulary(tiny_vocab)
    texts = ["The cat sat on the mat.", "THE CAT!"]
    expected = [[5, 6, 7, 8, 5, 9, 10], [5, 6, 1]]
    assert from_file(texts).to_list() == from_list(texts).to_list() == expected


def test_invalid_utf8_reads_as_replacement_characters(uncased_tokenizer, hf_uncased):
    raw = [b"caf\xc3 ok", b"\xff\xfe", b"ab\xe2\x82cd \xed\xa0\x80x", b"ok \xf0\x9f\x98", b"\x80"]
    ids, starts, ends = uncased_tokenizer.tokenize_with_offsets(tf.constant(raw))
    decoded = [r.decode("utf-8", errors="replace") for r in raw]
    assert ids.to_list() == hf_uncased(decoded, add_special_tokens=False)["input_ids"]
    for text, row_starts, row_ends in zip(raw, starts.to_list(), ends.to_list()):
        assert all(0 <= s < e <= len(text) for s, e in zip(row_starts, row_ends))
    reference = hf_uncased(decoded, add_special_tokens=False, return_offsets_mapping=True)
    for text, s, e, offsets in zip(raw, starts, ends, reference["offset_mapping"]):
        assert BertTokenizer.char_offsets(text, s, e) == [tuple(o) for o in offsets]


def test_empty_and_whitespace_only_texts(uncased_tokenizer):
    ids, starts, ends = uncased_tokenizer.tokenize_with_offsets(["", " \t\n", "\x00\u200b"])
    assert ids.to_list() == starts.to_list() == ends.to_list() == [[], [], []]
    assert uncased_tokenizer("").numpy().tolist() == []


def test_one_megabyte_strings(uncased_tokenizer, hf_uncased, corpora):
    prose = " ".join(corpora["sentiment"])
    prose = (prose * (1_000_000 // len(prose) + 1))[:1_000_000]
    one_word = "x" * 1_000_000
    one_cyrillic_word = "ж" * 500_000
    mixed = ("naïve 北京 " * 80_000)[:1_000_000]
    ids = uncased_tokenizer([prose, one_word, one_cyrillic_word, mixed])
    assert ids[0].numpy().tolist() == hf_uncased(prose, add_special_tokens=False)["input_ids"]
    assert ids[1].numpy().tolist() == ids[2].numpy().tolist() == [uncased_tokenizer.unk_token_id]
    assert ids[3].numpy().tolist() == hf_uncased(mixed, add_special_tokens=False)["input_ids"]


def test_long_words_become_unk_at_101_characters(uncased_tokenizer, hf_uncased):
    texts = ["a" * 100, "a" * 101, "ж" * 100, "ж" * 101, "é" * 101 + " ok", "日" * 150]
    ids, starts, ends = uncased_tokenizer.tokenize_with_offsets(texts)
    assert ids.to_list() == hf_uncased(texts, add_special_tokens=False)["input_ids"]
    unk = uncased_tokenizer.unk_token_id
    assert ids.to_list()[1] == ids.to_list()[3] == [unk]
    assert (starts.to_list()[3], ends.to_list()[3]) == ([0], [202])  # the whole word, in bytes


def test_offsets_slice_the_original_bytes(uncased_tokenizer):
    text = "Ünïcödé  CAFÉ, 北京!"
    ids, starts, ends = uncased_tokenizer.tokenize_with_offsets(text)
    data = text.encode("utf-8")
    pieces = [data[s:e].decode("utf-8") for s, e in zip(starts.numpy(), ends.numpy())]
    assert "".join(pieces) == "ÜnïcödéCAFÉ,北京!"
    assert starts.dtype == ends.dtype == tf.int64 and ids.shape == starts.shape
    spans = BertTokenizer.char_offsets(text, starts, ends)
    assert "".join(text[s:e] for s, e in spans) == "ÜnïcödéCAFÉ,北京!"


def test_detokenize_shapes_and_special_tokens(tiny_vocab):
    tokenizer = BertTokenizer(tiny_vocab)
    assert tokenizer.detokenize([5, 6]).numpy() == b"the cat"
    padded = tf.constant([[2, 5, 6, 3, 0, 0], [2, 1, 3, 0, 0, 0]])
    assert tokenizer.detokenize(padded).numpy().tolist() == [
        b"[CLS] the cat [SEP] [PAD] [PAD]",
        b"[CLS] [UNK] [SEP] [PAD] [PAD] [PAD]",
    ]
    skipped = tokenizer.detokenize(padded, skip_special_tokens=True)
    assert skipped.numpy().tolist() == [b"the cat", b""]
    ragged = tf.ragged.constant([[5, 7], []])
    assert tokenizer.detokenize(ragged).numpy().tolist() == [b"the sat", b""]


@pytest.mark.filterwarnings("ignore:You are saving a model that has not yet been built")
def test_get_config_from_config_and_keras_file(tmp_path, cased_tokenizer, corpora):
    config = cased_tokenizer.get_config()
    # The vocabulary is an asset of the .keras file, not part of the config.
    assert config["vocabulary"] is None
    assert (config["lowercase"], config["strip_accents"], config["max_chars_per_word"]) == (
        False,
        None,
        100,
    )
    texts = corpora["stress"]
    clone = BertTokenizer.from_config(config)
    with pytest.raises(ValueError, match="has no vocabulary yet"):
        clone(texts)
    assets = tmp_path / "assets"
    assets.mkdir()
    cased_tokenizer.save_assets(str(assets))
    clone.load_assets(str(assets))
    assert clone.get_vocabulary() == cased_tokenizer.get_vocabulary()
    assert clone(texts).to_list() == cased_tokenizer(texts).to_list()
    path = tmp_path / "tokenizer.keras"
    keras.Sequential([cased_tokenizer]).save(path)
    reloaded = keras.saving.load_model(path).layers[0]
    assert isinstance(reloaded, BertTokenizer) and not reloaded.lowercase
    assert reloaded(texts).to_list() == cased_tokenizer(texts).to_list()


@pytest.mark.filterwarnings("ignore:You are saving a model that has not yet been built")
def test_keras_file_keeps_the_vocabulary_as_an_asset_not_in_the_config(tmp_path, corpora):
    # Tokens a vocab.txt could not hold exactly (a trailing "\r", a line break) survive too.
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "##s", "odd\r", "a\nb"]
    tokenizer = BertTokenizer(vocab)
    path = tmp_path / "tokenizer.keras"
    keras.Sequential([tokenizer]).save(path)
    with zipfile.ZipFile(path) as archive:
        config = archive.read("config.json").decode("utf-8")
        assets = [n for n in archive.namelist() if n.startswith("assets/")]
    assert '"vocabulary": null' in config and "[MASK]" not in config
    assert [n for n in assets if n.endswith("vocabulary.json")], assets
    reloaded = keras.saving.load_model(path).layers[0]
    assert reloaded.get_vocabulary() == vocab
    texts = corpora["stress"] + ["the cats"]
    assert reloaded(texts).to_list() == tokenizer(texts).to_list()


def test_config_with_an_inline_vocabulary_still_loads(tiny_vocab):
    # What .keras files saved before the vocabulary became an asset hold.
    config = {**BertTokenizer(tiny_vocab).get_config(), "vocabulary": list(tiny_vocab)}
    tokenizer = BertTokenizer.from_config(config)
    assert tokenizer.get_vocabulary() == tiny_vocab
    tokenizer.load_assets(None)  # no asset to read: the inline vocabulary stays


def test_tf_data_map_on_batches(uncased_tokenizer, corpora):
    texts = corpora["stress"] + corpora["sentiment"][:100]
    dataset = tf.data.Dataset.from_tensor_slices(texts).batch(16).map(uncased_tokenizer)
    got = [row for batch in dataset for row in batch.to_list()]
    assert got == uncased_tokenizer(texts).to_list()


class _TokenizerModule(tf.Module):
    def __init__(self, tokenizer, preprocessor):
        super().__init__()
        self.tokenizer = tokenizer
        self.preprocessor = preprocessor

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
    def tokenize(self, texts):
        ids, starts, ends = self.tokenizer.tokenize_with_offsets(texts)
        return {k: v.to_tensor(-1) for k, v in zip(["ids", "starts", "ends"], [ids, starts, ends])}

    @tf.function(input_signature=[tf.TensorSpec([None], tf.string)] * 2)
    def pack_pairs(self, first, second):
        return self.preprocessor((first, second))


def test_saved_model_loads_with_only_tensorflow_and_tensorflow_text(
    tmp_path, uncased_tokenizer, corpora
):
    preprocessor = BertPreprocessor(uncased_tokenizer, sequence_length=24)
    module = _TokenizerModule(uncased_tokenizer, preprocessor)
    export_dir = str(tmp_path / "saved_model")
    tf.saved_model.save(
        module,
        export_dir,
        signatures={"tokenize": module.tokenize, "serving_default": module.pack_pairs},
    )
    texts = corpora["stress"] + corpora["sentiment"][:20]
    (tmp_path / "texts.json").write_text(json.dumps(texts))
    script = textwrap.dedent(
        """
        import json, sys
        import tensorflow as tf
        import tensorflow_text  # registers the tf-text ops
        assert not any(m.startswith("keras_bert_kit") for m in sys.modules)
        loaded = tf.saved_model.load(sys.argv[1])
        texts = tf.constant(json.load(open(sys.argv[2])))
        out = loaded.signatures["tokenize"](texts)
        pairs = loaded.signatures["serving_default"](first=texts, second=tf.reverse(texts, [0]))
        print(json.dumps({k: v.numpy().tolist() for k, v in {**out, **pairs}.items()}))
        """
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    result = subprocess.run(
        [sys.executable, "-c", script, export_dir, str(tmp_path / "texts.json")],
        capture_output=True,
        text=True,
        env=env,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = json.loads(result.stdout.strip().splitlines()[-1])
    expected_ids, expected_starts, expected_ends = uncased_tokenizer.tokenize_with_offsets(texts)
    assert [[i for i in row if i >= 0] for row in loaded["ids"]] == expected_ids.to_list()
    assert [[i for i in row if i >= 0] for row in loaded["starts"]] == expected_starts.to_list()
    assert [[i for i in row if i >= 0] for row in loaded["ends"]] == expected_ends.to_list()
    expected_pairs = module.preprocessor((texts, texts[::-1]))
    for key in ("token_ids", "segment_ids", "padding_mask"):
        np.testing.assert_array_equal(np.array(loaded[key]), expected_pairs[key].numpy())
