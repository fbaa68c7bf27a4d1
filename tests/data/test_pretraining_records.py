"""Reading pretraining TFRecords into (x, y, sample_weight) batches, static or dynamic masks."""

import shutil
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.data.masking import DynamicMasker
from keras_bert_kit.data.pretraining_data import create_pretraining_data
from keras_bert_kit.data.pretraining_records import (
    count_records,
    google_feature_spec,
    read_pretraining_records,
    read_stats,
)
from keras_bert_kit.data.pretraining_sequences import dynamic_pretraining_dataset
from keras_bert_kit.errors import UserError
from keras_bert_kit.text.bert_tokenizer import BertTokenizer
from tests.conftest import DATA

SEQ, PREDICTIONS = 64, 10


@pytest.fixture(scope="module")
def tokenizer(minilm_path):
    return BertTokenizer.from_vocabulary(minilm_path / "vocab.txt", lowercase=True)


@pytest.fixture(scope="module")
def records(minilm_path, tmp_path_factory):
    """One plain and one GZIP shard made from the start of Persuasion."""
    folder = tmp_path_factory.mktemp("records")
    text = folder / "persuasion.txt"
    lines = (DATA / "austen" / "persuasion.txt").read_text(encoding="utf-8").split("\n")[:600]
    text.write_text("\n".join(lines), encoding="utf-8")
    kwargs = dict(max_seq_length=SEQ, max_predictions_per_seq=PREDICTIONS, dupe_factor=1,
                  progress=False, num_workers=1)
    plain = create_pretraining_data(text, minilm_path / "vocab.txt", folder / "plain", **kwargs)
    gzipped = create_pretraining_data(text, minilm_path / "vocab.txt", folder / "gzip", gzip=True,
                                      seed=1, **kwargs)
    return plain.shards[0], gzipped.shards[0]


def parsed(path, compression=""):
    dataset = tf.data.TFRecordDataset(path, compression_type=compression).batch(10_000)
    return {k: v.numpy() for k, v in
            tf.io.parse_example(next(iter(dataset)), google_feature_spec(SEQ, PREDICTIONS)).items()}


def collect(dataset):
    batches = list(dataset)
    return tuple({k: np.concatenate([b[i][k].numpy() for b in batches]) for k in batches[0][i]}
                 for i in range(3))


def test_static_batches_hold_the_records(records):
    dataset = read_pretraining_records(records[0], batch_size=16, shuffle=False,
                                       drop_remainder=False)
    x, y, w = collect(dataset)
    expected = parsed(records[0])
    np.testing.assert_array_equal(x["token_ids"], expected["input_ids"])
    np.testing.assert_array_equal(x["segment_ids"], expected["segment_ids"])
    np.testing.assert_array_equal(x["padding_mask"], expected["input_mask"])
    np.testing.assert_array_equal(x["mask_positions"], expected["masked_lm_positions"])
    np.testing.assert_array_equal(y["mlm"], expected["masked_lm_ids"])
    np.testing.assert_array_equal(y["nsp"], expected["next_sentence_labels"][:, 0])
    np.testing.assert_array_equal(w["mlm"], expected["masked_lm_weights"])
    assert (w["nsp"] == 1).all()
    spec = dataset.element_spec
    assert {k: (s.shape.as_list(), s.dtype) for k, s in spec[0].items()} == {
        "token_ids": ([None, SEQ], tf.int32), "segment_ids": ([None, SEQ], tf.int32),
        "padding_mask": ([None, SEQ], tf.int32), "mask_positions": ([None, PREDICTIONS], tf.int32)}
    assert (spec[1]["mlm"].dtype, spec[1]["nsp"].shape.as_list()) == (tf.int32, [None])
    assert (spec[2]["mlm"].dtype, spec[2]["nsp"].shape.as_list()) == (tf.float32, [None])


def test_dynamic_masks_restore_the_text_and_change_each_epoch(records, tokenizer):
    masker = DynamicMasker.from_tokenizer(tokenizer, max_predictions_per_seq=PREDICTIONS)
    dataset = read_pretraining_records(records[0], batch_size=16, shuffle=False, masker=masker,
                                       seed=5, drop_remainder=False)
    first, second = collect(dataset), collect(dataset)
    expected = parsed(records[0])
    text = expected["input_ids"].copy()
    rows, cols = np.nonzero(expected["masked_lm_weights"])
    text[rows, expected["masked_lm_positions"][rows, cols]] = expected["masked_lm_ids"][rows, cols]
    for x, y, w in (first, second):
        restored = x["token_ids"].copy()
        rows, cols = np.nonzero(w["mlm"])
        restored[rows, x["mask_positions"][rows, cols]] = y["mlm"][rows, cols]
        np.testing.assert_array_equal(restored, text)
        np.testing.assert_array_equal(y["nsp"], expected["next_sentence_labels"][:, 0])
        assert (w["nsp"] == 1).all()
    changed = (first[0]["mask_positions"] != second[0]["mask_positions"]).any(axis=1).mean()
    assert changed > 0.95
    assert (first[0]["mask_positions"] != expected["masked_lm_positions"]).any(axis=1).mean() > 0.95


def test_gzip_is_detected_per_file_and_sizes_are_read(records):
    dataset = read_pretraining_records(list(records), batch_size=8, seed=1)
    x, y, w = collect(dataset)
    total = len(parsed(records[0])["input_ids"]) + len(parsed(records[1], "GZIP")["input_ids"])
    assert len(x["token_ids"]) == total // 8 * 8
    assert x["token_ids"].shape[1] == SEQ and y["mlm"].shape[1] == PREDICTIONS


def test_corrupt_or_missing_file_is_named(records, tmp_path):
    data = Path(records[0]).read_bytes()
    shutil.copy(records[0], tmp_path / "good.tfrecord")
    for name, content in (("truncated", data[: len(data) // 2]),
                          ("flipped", data[:1000] + bytes([data[1000] ^ 0xFF]) + data[1001:])):
        bad = tmp_path / f"{name}.tfrecord"
        bad.write_bytes(content)
        with pytest.raises(tf.errors.DataLossError, match=str(bad)) as error:
            read_pretraining_records(str(tmp_path / "*.tfrecord"), batch_size=8)
        assert "good.tfrecord" not in str(error.value)
        bad.unlink()
    with pytest.raises(UserError, match="file_pattern: no file matches .*nothing"):
        read_pretraining_records(str(tmp_path / "nothing*.tfrecord"), batch_size=8)


def test_stats_give_the_record_counts_without_reading_the_shards(records, tmp_path):
    for shard in records:
        folder = Path(shard).parent
        stats = read_stats(folder)
        assert stats == read_stats(folder / "pretraining_stats.json")
        assert dict(zip(stats["shards"], stats["shard_records"])) == {
            Path(shard).name: count_records(shard)}
        assert stats["records"] == count_records(shard)
    with pytest.raises(FileNotFoundError, match="count_records"):
        read_stats(tmp_path)
    (tmp_path / "pretraining_stats.json").write_text('{"instances": 3}')
    with pytest.raises(ValueError, match="no records, shards, shard_records"):
        read_stats(tmp_path)


def tiny_pretrainer(vocabulary_size):
    """A minimal model with BertPretrainer's inputs and outputs (`mlm` logits, `nsp` logits)."""
    inputs = {name: keras.Input((length,), dtype="int32", name=name) for name, length in
              (("token_ids", SEQ), ("segment_ids", SEQ), ("padding_mask", SEQ),
               ("mask_positions", PREDICTIONS))}
    hidden = keras.layers.Embedding(vocabulary_size, 8)(inputs["token_ids"])
    gather = keras.layers.Lambda(lambda t: tf.gather(t[0], t[1], batch_dims=1),
                                 output_shape=(PREDICTIONS, 8))
    at_masks = gather([hidden, inputs["mask_positions"]])
    outputs = {
        "mlm": keras.layers.Dense(vocabulary_size, name="mlm")(at_masks),
        "nsp": keras.layers.Dense(2, name="nsp")(keras.layers.GlobalAveragePooling1D()(hidden)),
    }
    model = keras.Model(inputs, outputs)
    loss = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    model.compile("adam", loss={"mlm": loss, "nsp": loss}, weighted_metrics={"mlm": ["accuracy"]})
    return model


def test_model_fit_takes_static_and_dynamic_batches(records, tokenizer):
    model = tiny_pretrainer(tokenizer.vocabulary_size())
    masker = DynamicMasker.from_tokenizer(tokenizer, max_predictions_per_seq=PREDICTIONS)
    lines = tf.data.TextLineDataset([str(DATA / "austen" / "persuasion.txt")]).take(200)
    datasets = [
        read_pretraining_records(records[0], batch_size=8),
        read_pretraining_records(records[0], batch_size=8, masker=masker),
        dynamic_pretraining_dataset(lines, tokenizer, batch_size=8, max_seq_length=SEQ,
                                    max_predictions_per_seq=PREDICTIONS),
        dynamic_pretraining_dataset(lines, tokenizer, batch_size=8, max_seq_length=SEQ,
                                    max_predictions_per_seq=PREDICTIONS, next_sentence=False),
    ]
    for dataset in datasets:
        assert dataset.element_spec == datasets[0].element_spec
    for dataset in datasets[1:3]:  # records with dynamic masks, sentence pairs from raw text
        history = model.fit(dataset, steps_per_epoch=2, verbose=0, shuffle=False)
        assert np.isfinite(history.history["loss"]).all()
