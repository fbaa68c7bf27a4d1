"""Checkpoints validated up front: config fields vs tensor shapes (the field is named, with the
tensor and both shapes), vocab.txt vs vocab_size, damaged weight files named with their path;
`save_pretrained` writes atomically with ordinary permissions."""

import json
import logging
import os
import shutil

import pytest

from keras_bert_kit import cli
from keras_bert_kit.checkpoints import load_checkpoint
from keras_bert_kit.errors import UserError
from keras_bert_kit.models.bert_classifier import BertClassifier
from tests.checkpoints.google_names import write_google_checkpoint
from tests.conftest import FIXTURES

TASK_HEADS = FIXTURES / "task_heads"


def copy_with_config(tmp_path, source, **changes):
    folder = tmp_path / "ckpt"
    shutil.copytree(source, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(changes)
    (folder / "config.json").write_text(json.dumps(config))
    return folder


@pytest.mark.parametrize("field, value, pattern", [
    ("hidden_size", 20, r"hidden_size=20 disagrees with the weights: tensor "
                        r"'embeddings\.word_embeddings\.weight' .* has shape \(99, 16\), but "
                        r"hidden_size=20 implies \(99, 20\) \(set hidden_size to 16"),
    ("vocab_size", 120, r"vocab_size=120 disagrees.*word_embeddings\.weight.*\(99, 16\).*\(120, 16\)"),
    ("max_position_embeddings", 64, r"max_position_embeddings=64 disagrees.*position_embeddings"),
    ("type_vocab_size", 3, r"type_vocab_size=3 disagrees.*token_type_embeddings.*\(2, 16\)"),
    ("intermediate_size", 30, r"intermediate_size=30 disagrees.*layer\.0\.intermediate\.dense\."
                              r"weight.*\(24, 16\).*\(30, 16\)"),
    ("num_hidden_layers", 3, r"num_hidden_layers=3 disagrees with the weights: .* has 2 layers"),
])
def test_a_wrong_config_field_is_named(tmp_path, field, value, pattern):
    folder = copy_with_config(tmp_path, TASK_HEADS / "safetensors" / "qa", **{field: value})
    with pytest.raises(UserError, match=pattern) as error:
        load_checkpoint(folder)
    assert str(folder / "config.json") in str(error.value)


def test_vocab_txt_longer_than_vocab_size_is_an_error(tmp_path, caplog):
    folder = copy_with_config(tmp_path, TASK_HEADS / "bin" / "sequence")
    vocab = (folder / "vocab.txt").read_text()
    (folder / "vocab.txt").write_text(vocab + "extra1\nextra2\n")
    with pytest.raises(UserError, match=r"vocab\.txt has 101 tokens but .*config\.json says "
                                        r"vocab_size=99: ids 99\.\.100 have no embedding row"):
        BertClassifier.from_pretrained(folder)
    (folder / "vocab.txt").write_text("".join(vocab.splitlines(keepends=True)[:90]))
    with caplog.at_level(logging.WARNING):
        BertClassifier.from_pretrained(folder)
    assert "has 90 tokens, fewer than vocab_size=99" in caplog.text


@pytest.mark.parametrize("fmt, name, kind", [
    ("safetensors", "model.safetensors", "safetensors"),
    ("h5", "tf_model.h5", "HDF5"),
    ("bin", "pytorch_model.bin", "zip archive is truncated|PyTorch"),
])
def test_truncated_weight_files_are_named(tmp_path, fmt, name, kind):
    folder = tmp_path / fmt
    shutil.copytree(TASK_HEADS / fmt / "qa", folder)
    data = (folder / name).read_bytes()
    (folder / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=rf"{folder / name}: .*({kind}).*(corrupt|truncated)"):
        load_checkpoint(folder)


def test_garbage_and_truncated_shards(tmp_path):
    folder = tmp_path / "sharded"
    shutil.copytree(TASK_HEADS / "safetensors" / "sequence", folder)
    shard = sorted(folder.glob("model-*.safetensors"))[1]
    shard.write_bytes(b"\x00" * 100)
    with pytest.raises(UserError, match=rf"{shard}: cannot read this safetensors file"):
        load_checkpoint(folder)
    (folder / "model.safetensors.index.json").write_text("{not json")
    with pytest.raises(UserError, match=r"model\.safetensors\.index\.json: cannot read"):
        load_checkpoint(folder)


def test_damaged_google_checkpoint_is_named(tmp_path):
    from safetensors.numpy import load_file

    state = load_file(TASK_HEADS / "safetensors" / "qa" / "model.safetensors")
    config = json.loads((TASK_HEADS / "safetensors" / "qa" / "config.json").read_text())
    write_google_checkpoint(tmp_path, config, state)
    data = next(tmp_path.glob("bert_model.ckpt.data-*"))
    data.write_bytes(data.read_bytes()[:1000])
    with pytest.raises(UserError, match=r"bert_model\.ckpt: cannot read this TF checkpoint"):
        load_checkpoint(tmp_path)


def test_the_cli_prints_one_line(tmp_path, capsys):
    folder = copy_with_config(tmp_path, TASK_HEADS / "bin" / "qa", hidden_size=20)
    with pytest.raises(SystemExit) as exit_info:
        cli.main(["convert", "--input", str(folder), "--output", str(tmp_path / "out")])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("kbk convert: error: ") and "hidden_size=20" in err
    assert len(err.splitlines()) == 1


def test_save_pretrained_is_atomic_and_readable_by_others(tmp_path):
    model = BertClassifier.from_pretrained(TASK_HEADS / "bin" / "sequence")
    old = os.umask(0o022)
    try:
        model.save_pretrained(tmp_path / "out")
    finally:
        os.umask(old)
    out = tmp_path / "out"
    assert os.stat(out).st_mode & 0o777 == 0o755
    for name in os.listdir(out):
        assert os.stat(out / name).st_mode & 0o777 == 0o644, name
    assert os.listdir(tmp_path) == ["out"]  # no staging folder left behind
    # Saving over an existing folder replaces its files and keeps the others.
    (out / "README.md").write_text("mine")
    model.save_pretrained(out)
    assert (out / "README.md").read_text() == "mine"
    assert os.listdir(tmp_path) == ["out"]
