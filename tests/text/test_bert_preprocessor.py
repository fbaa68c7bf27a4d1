"""BertPreprocessor behaviour: packing, truncation rule, shapes, errors, serialization, tf.data."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.text.bert_preprocessor import (
    BertPreprocessor,
    longest_first_lengths,
    trim_padding,
)
from keras_bert_kit.text.bert_tokenizer import BertTokenizer


@pytest.fixture()
def preprocessor(tiny_vocab):
    return BertPreprocessor(BertTokenizer(tiny_vocab), sequence_length=10)


def test_single_and_pair_packing(preprocessor):
    single = preprocessor(["The cat sat.", "mat"])
    assert set(single) == {"token_ids", "segment_ids", "padding_mask"}
    assert all(v.dtype == tf.int32 and v.shape == (2, 10) for v in single.values())
    assert single["token_ids"].numpy().tolist() == [
        [2, 5, 6, 7, 10, 3, 0, 0, 0, 0],
        [2, 9, 3, 0, 0, 0, 0, 0, 0, 0],
    ]
    assert single["segment_ids"].numpy().sum() == 0
    assert single["padding_mask"].numpy().tolist()[1] == [1, 1, 1, 0, 0, 0, 0, 0, 0, 0]
    pair = preprocessor((["the cat", "cat"], ["sat on the mat", ""]))
    assert pair["token_ids"].numpy().tolist() == [
        [2, 5, 6, 3, 7, 8, 5, 9, 3, 0],
        [2, 6, 3, 3, 0, 0, 0, 0, 0, 0],
    ]
    assert pair["segment_ids"].numpy().tolist() == [
        [0, 0, 0, 0, 1, 1, 1, 1, 1, 0],
        [0, 0, 0, 1, 0, 0, 0, 0, 0, 0],
    ]


def test_scalar_inputs_give_unbatched_outputs(preprocessor):
    single = preprocessor("the cat")
    assert single["token_ids"].shape == (10,)
    assert single["token_ids"].numpy().tolist() == [2, 5, 6, 3, 0, 0, 0, 0, 0, 0]
    pair = preprocessor(("the", "cat"))
    assert pair["segment_ids"].numpy().tolist() == [0, 0, 0, 1, 1, 0, 0, 0, 0, 0]


def test_lists_of_tensors_are_segments(preprocessor):
    as_tuple = preprocessor((tf.constant(["the cat"]), tf.constant(["mat"])))
    as_list = preprocessor([tf.constant(["the cat"]), tf.constant(["mat"])])
    np.testing.assert_array_equal(as_tuple["token_ids"], as_list["token_ids"])
    assert preprocessor(["the cat", "mat"])["token_ids"].shape == (2, 10)  # a list of str: a batch


def test_longest_first_lengths_follow_tokenizers_rule():
    a = tf.constant([3, 10, 10, 6, 7, 0, 30, 4], tf.int64)
    b = tf.constant([20, 10, 9, 5, 5, 30, 0, 4], tf.int64)
    kept_a, kept_b = longest_first_lengths(a, b, tf.constant(9, tf.int64))
    # shorter fits in half: kept whole; both long: 4 + 5, the second keeping the odd token on ties
    assert kept_a.numpy().tolist() == [3, 4, 5, 5, 5, 0, 9, 4]
    assert kept_b.numpy().tolist() == [6, 5, 4, 4, 4, 9, 0, 4]


def test_dynamic_padding(tiny_vocab):
    tokenizer = BertTokenizer(tiny_vocab)
    dynamic = BertPreprocessor(tokenizer, sequence_length=None)
    out = dynamic(["the cat sat on the mat", "cat"])
    assert out["token_ids"].shape == (2, 8)
    rounded = BertPreprocessor(tokenizer, sequence_length=None, pad_to_multiple_of=16)
    assert rounded(["the cat sat on the mat", "cat"])["token_ids"].shape == (2, 16)
    assert rounded(["the"] * 3 + ["cat " * 40])["token_ids"].shape == (4, 48)
    assert rounded(tf.constant([], tf.string))["token_ids"].shape == (0, 0)


def test_argument_and_input_errors(tiny_vocab):
    tokenizer = BertTokenizer(tiny_vocab)
    with pytest.raises(ValueError, match="sequence_length must be >= 3"):
        BertPreprocessor(tokenizer, sequence_length=2)
    with pytest.raises(ValueError, match="pad_to_multiple_of only applies with sequence_length="):
        BertPreprocessor(tokenizer, sequence_length=16, pad_to_multiple_of=8)
    with pytest.raises(TypeError, match="tokenizer must be a BertTokenizer"):
        BertPreprocessor("vocab.txt")
    preprocessor = BertPreprocessor(tokenizer, sequence_length=8)
    with pytest.raises(ValueError, match="one text batch or a pair"):
        preprocessor((["a"], ["b"], ["c"]))
    with pytest.raises(ValueError, match="same rank"):
        preprocessor((tf.constant("a"), tf.constant(["b"])))


def test_config_round_trip(tmp_path, tiny_vocab):
    preprocessor = BertPreprocessor(
        BertTokenizer(tiny_vocab, lowercase=False), sequence_length=None, pad_to_multiple_of=4
    )
    config = preprocessor.get_config()
    # The vocabulary is the tokenizer's asset (saved beside the config in a .keras file).
    assert config["tokenizer"]["config"]["vocabulary"] is None
    assert (config["sequence_length"], config["pad_to_multiple_of"]) == (None, 4)
    clone = keras.saving.deserialize_keras_object(keras.saving.serialize_keras_object(preprocessor))
    assert isinstance(clone, BertPreprocessor) and not clone.tokenizer.lowercase
    preprocessor.tokenizer.save_assets(str(tmp_path))
    clone.tokenizer.load_assets(str(tmp_path))
    assert clone.tokenizer.get_vocabulary() == tiny_vocab
    texts = (["the cat", "The Cat sat"], ["mat", "on the mat"])
    for key, value in preprocessor(texts).items():
        np.testing.assert_array_equal(clone(texts)[key], value)


def test_functional_model_and_keras_file(tmp_path, uncased_tokenizer, corpora):
    texts = tf.constant(corpora["stress"])
    preprocessor = BertPreprocessor(uncased_tokenizer, sequence_length=16)
    first = keras.Input(shape=(), dtype="string")
    second = keras.Input(shape=(), dtype="string")
    model = keras.Model([first, second], preprocessor((first, second)))
    expected = preprocessor((texts, texts[::-1]))
    for key, value in model([texts, texts[::-1]]).items():
        np.testing.assert_array_equal(value, expected[key])
    path = tmp_path / "preprocessor.keras"
    model.save(path)
    reloaded = keras.saving.load_model(path)
    for key, value in reloaded([texts, texts[::-1]]).items():
        np.testing.assert_array_equal(value, expected[key])


def test_tf_data_map_single_and_pairs(uncased_tokenizer, corpora):
    preprocessor = BertPreprocessor(uncased_tokenizer, sequence_length=32)
    texts = corpora["sentiment"][:50]
    others = corpora["austen"][:50]
    singles = tf.data.Dataset.from_tensor_slices(texts).batch(8).map(preprocessor)
    pairs = tf.data.Dataset.from_tensor_slices((texts, others)).batch(8).map(
        lambda a, b: preprocessor((a, b))
    )
    cases = [(singles, preprocessor(texts)), (pairs, preprocessor((texts, others)))]
    for dataset, expected in cases:
        batches = list(dataset)
        assert batches[0]["token_ids"].shape.as_list() == [8, 32]
        for key in expected:
            np.testing.assert_array_equal(np.concatenate([b[key] for b in batches]), expected[key])


def test_trim_padding_cuts_to_the_longest_row_rounded_up(preprocessor):
    packed = preprocessor(tf.constant(["the cat sat.", "the cat"]))
    assert packed["token_ids"].shape[1] == 10
    assert packed["padding_mask"].numpy().sum(1).tolist() == [6, 4]
    for multiple, expected in ((1, 6), (4, 8), (3, 6), (100, 10)):
        trimmed = trim_padding(packed, multiple)
        assert {k: v.shape[1] for k, v in trimmed.items()} == dict.fromkeys(packed, expected)
        for name in packed:
            np.testing.assert_array_equal(trimmed[name], packed[name][:, :expected])
            # only padding was cut
            assert packed["padding_mask"][:, expected:].numpy().sum() == 0
    empty = {k: v[:0] for k, v in packed.items()}
    assert trim_padding(empty, 4)["token_ids"].shape == (0, 4)
    graph = tf.function(lambda t: trim_padding(preprocessor(t), 4),
                        input_signature=[tf.TensorSpec([None], tf.string)])
    assert graph(tf.constant(["mat"]))["token_ids"].shape == (1, 4)
    with pytest.raises(ValueError, match="pad_to_multiple_of must be >= 1, got 0"):
        trim_padding(packed, 0)
