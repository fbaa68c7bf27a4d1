"""Static pretraining data creation: Google-compatible records, statistics, determinism, errors."""

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.data import pretraining_data
from keras_bert_kit.data.pretraining_data import create_pretraining_data
from keras_bert_kit.data.pretraining_documents import detect_input_format, read_documents
from keras_bert_kit.data.pretraining_output import STATS_FILE
from keras_bert_kit.data.pretraining_records import count_records, read_stats
from keras_bert_kit.errors import UserError
from keras_bert_kit.text.bert_tokenizer import read_vocabulary
from tests.conftest import DATA

MAX_SEQ_LENGTH = 128
MAX_PREDICTIONS = 20
# The parsing spec of google-research/bert's run_pretraining.py (`input_fn_builder`).
GOOGLE_SPEC = {
    "input_ids": tf.io.FixedLenFeature([MAX_SEQ_LENGTH], tf.int64),
    "input_mask": tf.io.FixedLenFeature([MAX_SEQ_LENGTH], tf.int64),
    "segment_ids": tf.io.FixedLenFeature([MAX_SEQ_LENGTH], tf.int64),
    "masked_lm_positions": tf.io.FixedLenFeature([MAX_PREDICTIONS], tf.int64),
    "masked_lm_ids": tf.io.FixedLenFeature([MAX_PREDICTIONS], tf.int64),
    "masked_lm_weights": tf.io.FixedLenFeature([MAX_PREDICTIONS], tf.float32),
    "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
}
SMALL = dict(dupe_factor=3, num_workers=2, progress=False)


@pytest.fixture(scope="module")
def corpus(tmp_path_factory):
    """Parts of two Austen novels: Emma has `CHAPTER I` headings, Persuasion `Chapter 1`."""
    folder = tmp_path_factory.mktemp("austen")
    for name, num_lines in (("emma.txt", 2500), ("persuasion.txt", 1500)):
        lines = (DATA / "austen" / name).read_text(encoding="utf-8").split("\n")[:num_lines]
        (folder / name).write_text("\n".join(lines), encoding="utf-8")
    return folder


@pytest.fixture(scope="module")
def vocab_file(minilm_path):
    return minilm_path / "vocab.txt"


@pytest.fixture(scope="module")
def vocabulary(vocab_file):
    return read_vocabulary(vocab_file)


@pytest.fixture(scope="module")
def created(corpus, vocab_file, tmp_path_factory):
    return create_pretraining_data(corpus / "*.txt", vocab_file, tmp_path_factory.mktemp("out"),
                                   num_shards=2, **SMALL)


def parse(shards, compression=""):
    """All records of `shards`, parsed with Google's spec, as numpy arrays."""
    dataset = tf.data.TFRecordDataset(shards, compression_type=compression).batch(100_000)
    batches = [tf.io.parse_example(b, GOOGLE_SPEC) for b in dataset]
    return {k: np.concatenate([b[k].numpy() for b in batches]) for k in GOOGLE_SPEC}


def original_ids(records):
    """input_ids with the original ids put back at the masked positions."""
    ids = records["input_ids"].copy()
    rows, cols = np.nonzero(records["masked_lm_weights"])
    ids[rows, records["masked_lm_positions"][rows, cols]] = records["masked_lm_ids"][rows, cols]
    return ids


def test_statistics_match_bert(created, vocabulary):
    records = parse(created.shards)
    weights = records["masked_lm_weights"]
    num_masked = int(weights.sum())
    assert num_masked >= 10_000
    lengths = records["input_mask"].sum(1)
    masked_fraction = num_masked / (lengths - 3).sum()
    assert 0.145 < masked_fraction < 0.16  # Google's round(0.15 * length) counts [CLS]/[SEP] too

    rows, cols = np.nonzero(weights)
    positions = records["masked_lm_positions"][rows, cols]
    now = records["input_ids"][rows, positions]
    before = records["masked_lm_ids"][rows, cols]
    mask_id = vocabulary.index("[MASK]")
    to_mask = np.mean(now == mask_id)
    kept = np.mean(now == before)
    to_random = np.mean((now != mask_id) & (now != before))
    assert abs(to_mask - 0.8) < 0.015 and abs(kept - 0.1) < 0.012 and abs(to_random - 0.1) < 0.012

    random_next = records["next_sentence_labels"].mean()
    assert 0.45 < random_next < 0.57  # single-sentence chunks always get a random B, as in Google's

    stats = json.loads(Path(created.stats_file).read_text(encoding="utf-8"))
    assert stats == created.stats
    assert stats["instances"] == len(lengths) and stats["masked_positions"] == num_masked
    assert stats["masked_fraction"] == pytest.approx(masked_fraction)
    assert stats["replacement"]["mask"] == pytest.approx(to_mask, abs=0.01)
    assert stats["next_sentence_random_fraction"] == pytest.approx(random_next)
    assert stats["documents"] == 17  # per novel: title page + chapters (9 Emma, 6 Persuasion)
    print(f"\n{num_masked} masked positions: fraction {masked_fraction:.4f}, [MASK] {to_mask:.4f}, "
          f"kept {kept:.4f}, random {to_random:.4f}; {len(lengths)} instances, random next "
          f"{random_next:.4f}")


def test_records_are_well_formed(created, vocabulary):
    records = parse(created.shards)
    cls_id, sep_id = vocabulary.index("[CLS]"), vocabulary.index("[SEP]")
    ids = original_ids(records)
    for i in range(len(ids)):
        length = records["input_mask"][i].sum()
        assert (records["input_mask"][i, :length] == 1).all() and (ids[i, length:] == 0).all()
        seps = np.flatnonzero(ids[i, :length] == sep_id)
        assert ids[i, 0] == cls_id and len(seps) == 2 and seps[1] == length - 1 and seps[0] > 1
        expected_segments = np.r_[np.zeros(seps[0] + 1), np.ones(length - seps[0] - 1),
                                  np.zeros(MAX_SEQ_LENGTH - length)]
        np.testing.assert_array_equal(records["segment_ids"][i], expected_segments)
        num_masked = int(records["masked_lm_weights"][i].sum())
        assert num_masked == min(MAX_PREDICTIONS, max(1, round(length * 0.15)))
        positions = records["masked_lm_positions"][i, :num_masked]
        assert (np.diff(positions) > 0).all()
        assert (records["masked_lm_positions"][i, num_masked:] == 0).all()
        assert not np.isin(positions, [0, seps[0], seps[1]]).any()
        assert (records["masked_lm_weights"][i, :num_masked] == 1).all()
    assert records["input_mask"].sum(1).max() == MAX_SEQ_LENGTH
    assert (records["input_mask"].sum(1) < MAX_SEQ_LENGTH // 2).mean() > 0.02  # short_seq_prob
    assert [os.path.basename(s) for s in created.shards] == [
        "pretraining-00000-of-00002.tfrecord", "pretraining-00001-of-00002.tfrecord"]


def test_encoding_equals_tensorflow_serialization(created):
    for serialized in tf.data.TFRecordDataset(created.shards).take(20):
        raw = serialized.numpy()
        assert tf.train.Example.FromString(raw).SerializeToString(deterministic=True) == raw
        parsed = tf.io.parse_single_example(raw, GOOGLE_SPEC)
        assert parsed["input_ids"].shape == [MAX_SEQ_LENGTH]


def test_whole_word_masking_never_splits_a_word(corpus, vocab_file, vocabulary, tmp_path):
    result = create_pretraining_data(corpus / "emma.txt", vocab_file, tmp_path,
                                     whole_word_mask=True, **SMALL)
    records = parse(result.shards)
    is_continuation = np.array([t.startswith("##") for t in vocabulary])
    ids = original_ids(records)
    masked = np.zeros(ids.shape, bool)
    rows, cols = np.nonzero(records["masked_lm_weights"])
    masked[rows, records["masked_lm_positions"][rows, cols]] = True
    # A `##` piece belongs to the word of the token before it, unless that is [CLS]/[SEP].
    special = np.isin(ids, [vocabulary.index("[CLS]"), vocabulary.index("[SEP]")])
    continues = is_continuation[ids][:, 1:] & ~special[:, :-1]
    assert continues.sum() > 1000 and (masked[:, 1:] & continues).sum() > 200
    np.testing.assert_array_equal(masked[:, 1:][continues], masked[:, :-1][continues])
    non_special = records["input_mask"].sum() - 3 * len(ids)
    assert 0.13 < records["masked_lm_weights"].sum() / non_special < 0.16


def test_same_seed_gives_identical_bytes_for_any_worker_count(corpus, vocab_file, created,
                                                              tmp_path):
    one_worker = create_pretraining_data(corpus / "*.txt", vocab_file, tmp_path / "one",
                                         num_shards=2, **{**SMALL, "num_workers": 1})
    for ours, theirs in zip(created.shards, one_worker.shards):
        assert Path(ours).read_bytes() == Path(theirs).read_bytes()
    other_seed = create_pretraining_data(corpus / "*.txt", vocab_file, tmp_path / "seed",
                                         num_shards=2, seed=7, **SMALL)
    assert Path(other_seed.shards[0]).read_bytes() != Path(created.shards[0]).read_bytes()


def test_gzip_output_is_deterministic_and_parses(corpus, vocab_file, tmp_path):
    runs = [create_pretraining_data(corpus / "persuasion.txt", vocab_file, tmp_path / str(i),
                                    gzip=True, dupe_factor=1, progress=False) for i in range(2)]
    assert runs[0].shards[0].endswith(".tfrecord.gz")
    assert Path(runs[0].shards[0]).read_bytes() == Path(runs[1].shards[0]).read_bytes()
    assert len(parse(runs[0].shards, "GZIP")["input_ids"]) == runs[0].stats["instances"]


def test_failed_write_leaves_no_shard(corpus, vocab_file, tmp_path, monkeypatch):
    real_writer = tf.io.TFRecordWriter

    class FailingWriter(real_writer):
        written = 0

        def write(self, record):
            FailingWriter.written += 1
            if FailingWriter.written > 50:
                raise OSError("disk full")
            super().write(record)

    monkeypatch.setattr(tf.io, "TFRecordWriter", FailingWriter)
    with pytest.raises(OSError, match="disk full"):
        create_pretraining_data(corpus / "persuasion.txt", vocab_file, tmp_path, dupe_factor=1,
                                num_shards=3, progress=False)
    assert os.listdir(tmp_path) == []


def test_existing_shards_need_overwrite(corpus, vocab_file, tmp_path):
    first = create_pretraining_data(corpus / "persuasion.txt", vocab_file, tmp_path, dupe_factor=1,
                                    num_shards=2, progress=False)
    with pytest.raises(FileExistsError, match=str(tmp_path)):
        create_pretraining_data(corpus / "persuasion.txt", vocab_file, tmp_path, dupe_factor=1,
                                progress=False)
    second = create_pretraining_data(corpus / "persuasion.txt", vocab_file, tmp_path, dupe_factor=1,
                                     num_shards=1, progress=False, overwrite=True)
    assert sorted(os.listdir(tmp_path)) == sorted(
        [os.path.basename(second.shards[0]), STATS_FILE])
    assert second.stats["instances"] == first.stats["instances"]


@pytest.mark.parametrize(
    "content, message",
    [
        (b"", "No text"),
        (b"\n \n\t\n", "No text"),
        (b"Some text.\nMore text\x00here.\n", r":2: binary file \(NUL byte"),
        (b"Caf\xe9 au lait.\n", r":1: not UTF-8 text"),
        (b'{"text": "fine"}\n{"txt": "oops"}\n', r":2: a JSON Lines record needs a string field"),
        (b'{"text": "fine"}\n{"text": \n', r":2: invalid JSON"),
    ],
)
def test_bad_input_is_named(vocab_file, tmp_path, content, message):
    path = tmp_path / "input.txt"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=message) as error:
        create_pretraining_data(path, vocab_file, tmp_path / "out", progress=False, num_workers=2)
    assert str(path) in str(error.value)
    assert not (tmp_path / "out").exists() or os.listdir(tmp_path / "out") == []


def test_bad_vocabulary_and_missing_input_are_named(corpus, vocab_file, tmp_path):
    vocabulary = [t for t in read_vocabulary(vocab_file) if t != "[MASK]"]
    bad_vocab = tmp_path / "vocab.txt"
    bad_vocab.write_text("\n".join(vocabulary) + "\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"\[MASK\]") as error:
        create_pretraining_data(corpus / "emma.txt", bad_vocab, tmp_path / "out", progress=False)
    assert str(bad_vocab) in str(error.value)
    with pytest.raises(UserError, match="--input.*no file matches .*nothing-here"):
        create_pretraining_data(tmp_path / "nothing-here*.txt", vocab_file, tmp_path / "out")
    with pytest.raises(ValueError, match="max_seq_length must be >= 5"):
        create_pretraining_data(corpus / "emma.txt", vocab_file, tmp_path / "out", max_seq_length=4)


def test_input_formats(tmp_path):
    google = tmp_path / "google.txt"
    google.write_text("First doc, first line.\nSecond line.\n\nSecond doc.\nMr. Smith came.\n")
    assert detect_input_format(str(google), google.read_text()) == "google"
    assert read_documents(google) == [["First doc, first line.", "Second line."],
                                      ["Second doc.", "Mr. Smith came."]]

    prose = tmp_path / "novel.txt"
    prose.write_text("TITLE\n\nCHAPTER I\n\nIt was a\nfine day. Mr. Elton\nsmiled.\n\nThen rain.\n"
                     "\nChapter 2\n\nA new one.\n")
    assert detect_input_format(str(prose), prose.read_text()) == "prose"
    assert read_documents(prose) == [["TITLE"], ["It was a fine day.", "Mr. Elton smiled.",
                                                 "Then rain."], ["A new one."]]
    wrapped = tmp_path / "wrapped.txt"
    wrapped.write_text("It was a fine\nday and the sun\nwas out. Then it\nrained on us\nall.\n")
    assert detect_input_format(str(wrapped), wrapped.read_text()) == "prose"
    assert read_documents(wrapped) == [["It was a fine day and the sun was out.",
                                        "Then it rained on us all."]]

    jsonl = tmp_path / "web.data"
    jsonl.write_text('{"body": "One. Two.\\n\\nThree."}\n\n{"body": "Four."}\n')
    assert detect_input_format(str(jsonl), jsonl.read_text()) == "jsonl"
    assert read_documents(jsonl, jsonl_text_field="body") == [["One.", "Two.", "Three."], ["Four."]]
    assert read_documents(google, "prose") == [
        ["First doc, first line.", "Second line.", "Second doc.", "Mr. Smith came."]]


def test_each_input_file_starts_a_document(tmp_path, vocab_file):
    for i in range(3):
        (tmp_path / f"part{i}.txt").write_text(f"Sentence {i} one.\nSentence {i} two.\n")
    result = create_pretraining_data(sorted(tmp_path.glob("part*.txt")), vocab_file,
                                     tmp_path / "out", dupe_factor=2, progress=False,
                                     input_format="google", num_workers=1)
    assert result.stats["documents"] == 3 and result.stats["sentences"] == 6
    assert 6 <= result.stats["instances"] <= 12  # 1 or 2 pairs per document and pass


def test_output_does_not_depend_on_file_order_or_bucket_size(corpus, vocab_file, created,
                                                             tmp_path, monkeypatch):
    """Records are seeded per document and shuffled by key: the order files arrive in and how
    the external shuffle splits its buckets (here: 2 buckets, each split again) change nothing."""
    monkeypatch.setattr(pretraining_data, "_MAX_BUCKETS", 2)
    monkeypatch.setattr(pretraining_data, "_BUCKET_BYTES", 64 << 10)
    monkeypatch.setattr(pretraining_data, "_INSTANCE_TOKENS_PER_TASK", 30_000)  # many tasks
    files = sorted(corpus.glob("*.txt"), reverse=True)
    again = create_pretraining_data(files, vocab_file, tmp_path, num_shards=2, **SMALL)
    for ours, theirs in zip(created.shards, again.shards):
        assert Path(ours).read_bytes() == Path(theirs).read_bytes()
    assert sorted(os.listdir(tmp_path)) == sorted(
        [os.path.basename(s) for s in again.shards] + [STATS_FILE])


def test_stats_count_the_records_of_every_shard(created):
    stats = read_stats(os.path.dirname(created.shards[0]))
    assert stats == created.stats
    assert stats["shards"] == [os.path.basename(s) for s in created.shards]
    assert stats["shard_records"] == [count_records(s) for s in created.shards]
    assert sum(stats["shard_records"]) == stats["records"] == stats["instances"]
    assert abs(stats["shard_records"][0] - stats["shard_records"][1]) < 0.1 * stats["records"]
    for fraction, shard in zip(stats["shard_masked_fractions"], created.shards):
        records = parse([shard])
        non_special = (records["input_mask"].sum(1) - 3).sum()
        assert fraction == pytest.approx(records["masked_lm_weights"].sum() / non_special)


def test_a_killed_runs_scratch_is_removed_by_the_next_run(corpus, vocab_file, tmp_path):
    stale = tmp_path / ".pretraining.scratch-999999999-ab12"  # no such process
    (stale / "buckets").mkdir(parents=True)
    (stale / "pieces.bin").write_bytes(b"left over")
    result = create_pretraining_data(corpus / "persuasion.txt", vocab_file, tmp_path,
                                     dupe_factor=1, progress=False)
    assert sorted(os.listdir(tmp_path)) == sorted(
        [os.path.basename(result.shards[0]), STATS_FILE])


# sha256 of the one shard of a tiny run (the first 400 lines of Persuasion, MiniLM's vocabulary,
# dupe factor 2, seed 12345, one worker; two workers and the Beam runner give the same bytes),
# regenerated from the per-document-seeded implementation (one instance core for the local and
# the Beam runner: random generators seeded by seed, document and pass; a seeded random-next
# sample; a key-ordered shuffle), which changed every record by design. The bytes depend only on
# the inputs and the seed (Python's `random`, not TensorFlow's), so a change here is a change of
# the records: update these only for an intended one.
@pytest.mark.parametrize("options, instances, sha256", [
    ({}, 96, "a9a88d1e17633d02bc8679213e76b601e387946b5d4a9eed05b40d7125fa0e09"),
    (dict(whole_word_mask=True, max_seq_length=64, max_predictions_per_seq=8), 147,
     "87077290d6ad8dd1438bd3bc2d6a335ce9ddaf140239f75c56c1a8af94619d24"),
])
def test_output_bytes_are_unchanged(vocab_file, tmp_path, options, instances, sha256):
    lines = (DATA / "austen" / "persuasion.txt").read_text(encoding="utf-8").split("\n")[:400]
    (tmp_path / "persuasion.txt").write_text("\n".join(lines), encoding="utf-8")
    result = create_pretraining_data(tmp_path / "persuasion.txt", vocab_file, tmp_path / "out",
                                     dupe_factor=2, num_workers=1, progress=False, **options)
    assert result.stats["instances"] == instances
    assert [hashlib.sha256(Path(s).read_bytes()).hexdigest() for s in result.shards] == [sha256]


def test_unmasked_sequences_are_masked_on_the_fly_in_training(corpus, vocab_file, vocabulary,
                                                              tmp_path):
    """`masked_lm_prob=0` writes the sequences with no masks; dynamic masking in `tf.data`
    (`kbk pretrain --dynamic-masking`) then masks ≈ 15 % of their tokens, anew each epoch."""
    from keras_bert_kit.data.masking import DynamicMasker
    from keras_bert_kit.data.pretraining_records import read_pretraining_records
    from keras_bert_kit.text.bert_tokenizer import BertTokenizer

    plain = create_pretraining_data(corpus / "*.txt", vocab_file, tmp_path / "plain", num_shards=2,
                                    **{**SMALL, "masked_lm_prob": 0.0})
    records = parse(plain.shards)
    mask_id = vocabulary.index("[MASK]")
    assert not (records["input_ids"] == mask_id).any()
    assert not records["masked_lm_weights"].any() and plain.stats["masked_positions"] == 0

    masker = DynamicMasker.from_tokenizer(BertTokenizer.from_pretrained(vocab_file.parent),
                                          max_predictions_per_seq=20)
    x, y, w = next(iter(read_pretraining_records(plain.shards, 256, shuffle=False,
                                                 validate=False, masker=masker)))
    ids, weights = np.asarray(x["token_ids"]), np.asarray(w["mlm"]) > 0
    special = [vocabulary.index(t) for t in ("[PAD]", "[CLS]", "[SEP]")]
    assert 0.12 < weights.sum() / (~np.isin(ids, special)).sum() < 0.16
    rows = np.arange(len(ids))[:, None].repeat(weights.shape[1], 1)[weights]
    at_masks = ids[rows, np.asarray(x["mask_positions"])[weights]]
    assert 0.75 < (at_masks == mask_id).mean() < 0.85  # 80 % [MASK], 10 % random, 10 % kept
    assert not (np.asarray(y["mlm"])[weights] == mask_id).any()  # labels are the original ids
