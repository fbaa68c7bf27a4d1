"""`pretrain`: a short end-to-end run, its outputs and bad inputs (the command lines: tests/cli)."""

import csv
import json

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.data.pretraining_data import create_pretraining_data
from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.text.bert_tokenizer import BertTokenizer
from keras_bert_kit.training.pretrain import pretrain
from tests.conftest import DATA
from tests.training.pretrain_fixtures import PREDICTIONS, SEQ, TINY_MODEL, make_tiny_data

TINY_RUN = dict(preset="bert_tiny_uncased", config_overrides=TINY_MODEL, batch_size=16,
                learning_rate=2e-3, mixed_precision="none", jit_compile=False, verbose=0)


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return make_tiny_data(tmp_path_factory.mktemp("pretraining_data"))


@pytest.fixture(scope="module")
def run(data, tmp_path_factory):
    output = tmp_path_factory.mktemp("run")
    result = pretrain(data["train"], output, vocab_file=data["vocab"], dev=data["eval"],
                      total_steps=30, save_every_steps=10, **TINY_RUN)
    return output, result


def test_short_run_learns_and_writes_its_outputs(run, data):
    output, result = run
    with open(output / "history.csv", newline="") as f:
        history = list(csv.DictReader(f))
    assert len(history) == 3
    assert float(history[-1]["loss"]) < float(history[0]["loss"]) - 0.3
    assert result["optimizer_steps"] == 30 and result["resumed_from_step"] == 0
    assert set(result["eval"]) >= {"loss", "mlm_accuracy", "nsp_accuracy"}
    assert json.loads((output / "metrics.json").read_text())["eval"] == result["eval"]
    for name in ("pretrainer.keras", "model.keras", "backup/latest.weights.h5",
                 "backup/seed_generators-3.npz"):
        assert (output / name).exists(), name


def test_backbone_folder_loads_as_model_and_tokenizer(run, data):
    import keras

    output, _ = run
    backbone = BertBackbone.from_pretrained(output / "backbone")
    pretrainer = keras.saving.load_model(output / "pretrainer.keras")
    for loaded, trained in zip(backbone.weights, pretrainer.backbone.weights):
        # The same float32 values written in two formats: bitwise by design.
        np.testing.assert_array_equal(loaded.numpy(), trained.numpy())
    tokenizer = BertTokenizer.from_pretrained(output / "backbone")
    assert tokenizer.vocabulary_size() == backbone.vocabulary_size
    assert tokenizer.lowercase
    ids = tokenizer(["Anne Elliot"])
    backbone({"token_ids": ids.to_tensor(), "segment_ids": tf.zeros_like(ids.to_tensor()),
              "padding_mask": tf.ones_like(ids.to_tensor())})


def test_rerunning_a_finished_run_trains_no_further(run, data):
    output, result = run
    again = pretrain(data["train"], output, vocab_file=data["vocab"], dev=data["eval"],
                     total_steps=30, save_every_steps=10, **TINY_RUN)
    assert again["optimizer_steps"] == 30 and again["resumed_from_step"] == 30
    assert again["eval"] == pytest.approx(result["eval"], rel=1e-6)


def test_resuming_with_other_settings_is_refused(run, data):
    output, _ = run
    with pytest.raises(ValueError, match="run_settings.json.*batch_size=16 now 8"):
        pretrain(data["train"], output, vocab_file=data["vocab"], total_steps=30,
                 save_every_steps=10, **{**TINY_RUN, "batch_size": 8})


def test_vocabulary_of_another_size_names_the_file(run, data, tmp_path):
    output, _ = run
    vocab = tmp_path / "bigger_vocab.txt"
    vocab.write_text(data["vocab"].read_text() + "extra1\nextra2\n")
    with pytest.raises(ValueError, match=r"bigger_vocab\.txt: \d+ tokens, but the model"):
        pretrain(data["train"], tmp_path / "out", vocab_file=vocab, init=output / "backbone",
                 total_steps=2, verbose=0)


def test_record_ids_beyond_the_vocabulary_name_the_record_file(data, tmp_path):
    vocab = tmp_path / "small_vocab.txt"
    vocab.write_text("".join(line + "\n" for line in data["vocab"].read_text().split("\n")[:40]))
    with pytest.raises(ValueError, match=rf"{data['train'][0]}: token id \d+ is out of range"):
        pretrain(data["train"], tmp_path / "out", vocab_file=vocab, total_steps=2, **TINY_RUN)


def test_corrupt_record_file_is_named(data, tmp_path):
    corrupt = tmp_path / "corrupt.tfrecord"
    payload = open(data["train"][1], "rb").read()
    corrupt.write_bytes(payload[: len(payload) // 2])
    with pytest.raises(tf.errors.DataLossError, match=r"corrupt\.tfrecord: corrupt or truncated"):
        pretrain([data["train"][0], corrupt], tmp_path / "out", vocab_file=data["vocab"],
                 total_steps=2, **TINY_RUN)


def test_needs_exactly_one_of_preset_and_init(data, tmp_path):
    with pytest.raises(ValueError, match="exactly one of preset"):
        pretrain(data["train"], tmp_path, vocab_file=data["vocab"], total_steps=2)


def test_steps_must_divide_into_virtual_epochs(data, tmp_path):
    with pytest.raises(ValueError, match="save_every_steps=4 must .* divide total_steps=10"):
        pretrain(data["train"], tmp_path, vocab_file=data["vocab"], total_steps=10,
                 save_every_steps=4, **TINY_RUN)


def test_text_files_are_masked_on_the_fly(data, tmp_path):
    train_text = data["vocab"].parent / "train.txt"
    result = pretrain(train_text, tmp_path / "out", vocab_file=data["vocab"],
                      dev=data["eval"], total_steps=4, save_every_steps=2,
                      max_seq_length=SEQ, max_predictions_per_seq=PREDICTIONS, **TINY_RUN)
    assert result["optimizer_steps"] == 4
    assert np.isfinite(result["train"]["loss"])


def test_records_can_be_masked_anew(data, tmp_path):
    result = pretrain(data["train"], tmp_path / "out", vocab_file=data["vocab"],
                      dynamic_masking=True, total_steps=2, max_predictions_per_seq=PREDICTIONS,
                      **TINY_RUN)
    assert result["optimizer_steps"] == 2 and np.isfinite(result["train"]["loss"])


@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_minilm_continues_pretraining_with_tied_new_heads(minilm_path, tmp_path):
    import keras

    text = tmp_path / "emma.txt"
    text.write_text("\n".join((DATA / "austen" / "emma.txt").read_text().split("\n")[:200]))
    records = create_pretraining_data(text, minilm_path / "vocab.txt", tmp_path / "records",
                                      max_seq_length=32, max_predictions_per_seq=5, dupe_factor=1,
                                      progress=False, num_workers=1)
    result = pretrain(records.shards, tmp_path / "out", vocab_file=minilm_path / "vocab.txt",
                      init=minilm_path, batch_size=4, total_steps=2, learning_rate=1e-5,
                      mixed_precision="none", jit_compile=False, verbose=0)
    assert result["optimizer_steps"] == 2 and np.isfinite(result["train"]["loss"])
    assert result["settings"]["do_lower_case"] is True  # from MiniLM's tokenizer_config.json
    pretrainer = keras.saving.load_model(tmp_path / "out" / "pretrainer.keras")
    head = pretrainer.masked_lm_head
    assert head.token_embedding is pretrainer.backbone.token_embedding  # tied, no own kernel
    assert not hasattr(head, "output_kernel")
    original = BertBackbone.from_pretrained(minilm_path).token_embedding.embeddings.numpy()
    trained = BertBackbone.from_pretrained(tmp_path / "out" / "backbone")
    difference = np.abs(trained.token_embedding.embeddings.numpy() - original).max()
    assert 0 < difference < 1e-3
