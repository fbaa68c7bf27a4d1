"""The Beam runner writes the local runner's records: same shards, same statistics.

Skipped without `apache_beam` (`pip install keras-bert-kit[beam]`).
"""

import os
from pathlib import Path

import pytest
import tensorflow as tf

pytest.importorskip("apache_beam")

from keras_bert_kit.data.pretraining_beam import match_input_files  # noqa: E402
from keras_bert_kit.data.pretraining_data import create_pretraining_data  # noqa: E402
from keras_bert_kit.errors import UserError  # noqa: E402
from tests.conftest import DATA  # noqa: E402

OPTIONS = dict(dupe_factor=2, max_seq_length=64, max_predictions_per_seq=10, progress=False)
IN_MEMORY = ["--direct_num_workers=1", "--direct_running_mode=in_memory"]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Parts of two novels: a dozen documents."""
    folder = tmp_path_factory.mktemp("austen")
    for name, num_lines in (("emma.txt", 1200), ("persuasion.txt", 800)):
        lines = (DATA / "austen" / name).read_text(encoding="utf-8").split("\n")[:num_lines]
        (folder / name).write_text("\n".join(lines), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def vocab_file(minilm_path):
    return minilm_path / "vocab.txt"


@pytest.fixture(scope="module")
def local(corpus, vocab_file, tmp_path_factory):
    return create_pretraining_data(corpus / "*.txt", vocab_file, tmp_path_factory.mktemp("local"),
                                   num_shards=3, **OPTIONS)


@pytest.fixture
def prism_runs(monkeypatch):
    """Calls of Beam's Prism runner (which Beam's own DirectRunner tries first, downloading a Go
    binary); each one fails as it does offline, so Beam would fall back to the FnApiRunner."""
    from apache_beam.runners.portability import prism_runner

    calls = []

    def run_pipeline(self, pipeline, options):
        calls.append(pipeline)
        raise RuntimeError("Prism is not available here")

    monkeypatch.setattr(prism_runner.PrismRunner, "run_pipeline", run_pipeline)
    return calls


def records(shards, compression=""):
    return sorted(r.numpy() for r in tf.data.TFRecordDataset(shards, compression))


def assert_same_output(local, beam):
    """Byte-identical shards (so the same multiset of records) and the same statistics."""
    assert [os.path.basename(s) for s in beam.shards] == [
        os.path.basename(s) for s in local.shards]
    for ours, theirs in zip(local.shards, beam.shards):
        assert Path(ours).read_bytes() == Path(theirs).read_bytes()
    assert records(local.shards) == records(beam.shards)
    strip = lambda stats: {k: v for k, v in stats.items() if k != "arguments"}  # noqa: E731
    assert strip(beam.stats) == strip(local.stats)
    assert beam.stats["arguments"]["runner"] == "DirectRunner"
    assert sorted(os.listdir(os.path.dirname(beam.shards[0]))) == sorted(
        [os.path.basename(s) for s in beam.shards] + ["pretraining_stats.json"])


def test_direct_runner_writes_the_local_runners_shards(corpus, vocab_file, local, tmp_path,
                                                       prism_runs):
    beam = create_pretraining_data(corpus / "*.txt", vocab_file, tmp_path, num_shards=3,
                                   runner="DirectRunner", pipeline_options=IN_MEMORY, **OPTIONS)
    assert_same_output(local, beam)
    assert beam.stats["records"] > 500 and beam.stats["documents"] > 5
    assert prism_runs == []  # the FnApiRunner straight away: nothing to download


def test_multi_process_direct_runner_and_file_order_change_nothing(corpus, vocab_file, local,
                                                                   tmp_path, prism_runs):
    files = sorted(map(str, corpus.glob("*.txt")), reverse=True)
    beam = create_pretraining_data(files, vocab_file, tmp_path, num_shards=3,
                                   runner="DirectRunner", num_workers=2, **OPTIONS)
    assert_same_output(local, beam)
    assert prism_runs == []


def test_default_shards_gzip_and_overwrite(corpus, vocab_file, tmp_path):
    options = dict(OPTIONS, gzip=True, whole_word_mask=True)
    ours = create_pretraining_data(corpus / "emma.txt", vocab_file, tmp_path / "local",
                                   num_workers=1, **options)
    theirs = create_pretraining_data(corpus / "emma.txt", vocab_file, tmp_path / "beam",
                                     runner="DirectRunner", pipeline_options=IN_MEMORY, **options)
    assert [os.path.basename(s) for s in theirs.shards] == [
        "pretraining-00000-of-00001.tfrecord.gz"]
    assert Path(ours.shards[0]).read_bytes() == Path(theirs.shards[0]).read_bytes()
    assert len(records(theirs.shards, "GZIP")) == theirs.stats["records"]
    with pytest.raises(FileExistsError, match="overwrite"):
        create_pretraining_data(corpus / "emma.txt", vocab_file, tmp_path / "beam",
                                runner="DirectRunner", pipeline_options=IN_MEMORY, **options)
    again = create_pretraining_data(corpus / "emma.txt", vocab_file, tmp_path / "beam",
                                    runner="DirectRunner", pipeline_options=IN_MEMORY,
                                    overwrite=True, num_shards=2, **OPTIONS)
    assert sorted(os.listdir(tmp_path / "beam")) == sorted(
        [os.path.basename(s) for s in again.shards] + ["pretraining_stats.json"])


def test_input_without_text_fails_and_leaves_nothing(vocab_file, tmp_path):
    (tmp_path / "empty.txt").write_text("\n \n")
    with pytest.raises(Exception, match="No text to create pretraining data"):
        create_pretraining_data(tmp_path / "empty.txt", vocab_file, tmp_path / "out",
                                runner="DirectRunner", pipeline_options=IN_MEMORY, **OPTIONS)
    assert os.listdir(tmp_path / "out") == []


def test_input_patterns_are_matched_like_the_local_runner(corpus, tmp_path):
    assert match_input_files([corpus, str(corpus / "e*.txt")]) == [
        str(corpus / "emma.txt"), str(corpus / "persuasion.txt")]
    with pytest.raises(UserError, match="no file matches .*nothing"):
        match_input_files(str(tmp_path / "nothing*.txt"))
