"""The instance-creation core: pieces, the random-next sample, per-piece determinism, shard keys."""

import random

import numpy as np
import pytest

from keras_bert_kit.data import pretraining_pieces
from keras_bert_kit.data.pretraining_documents import document_key
from keras_bert_kit.data.pretraining_instances import InstanceConfig, InstanceMaker
from keras_bert_kit.data.pretraining_output import shard_of
from keras_bert_kit.data.pretraining_pieces import DocumentPiece, RandomNextSample, document_pieces

VOCABULARY_SIZE = 1000
CONFIG = InstanceConfig(max_seq_length=32, max_predictions_per_seq=5, masked_lm_prob=0.15,
                        short_seq_prob=0.1, whole_word_mask=False, cls_id=2, sep_id=3, mask_id=4,
                        vocabulary_size=VOCABULARY_SIZE, seed=12345)


def random_pieces(count, seed=0):
    """`count` single-piece documents of random sentences of random token ids."""
    rng = np.random.default_rng(seed)
    pieces = []
    for i in range(count):
        lengths = rng.integers(1, 20, rng.integers(1, 12))
        key = document_key(f"file{i % 3}.txt", i, [str(i)])
        pieces += document_pieces(key, lengths, rng.integers(5, VOCABULARY_SIZE, lengths.sum()))
    return pieces


def test_long_documents_are_cut_into_contiguous_pieces(monkeypatch):
    monkeypatch.setattr(pretraining_pieces, "TOKENS_PER_PIECE", 100)
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 40, 200)
    tokens = np.arange(lengths.sum())
    key = document_key("a.txt", 0, ["long"])
    pieces = document_pieces(key, lengths, tokens)
    assert len(pieces) == -(-lengths.sum() // 100)
    np.testing.assert_array_equal(np.concatenate([p.tokens for p in pieces]), tokens)
    assert sum(len(p.sentence_starts) - 1 for p in pieces) == len(lengths)  # cut at sentences
    assert all(50 < p.num_tokens < 200 for p in pieces)
    assert len({p.key for p in pieces}) == len(pieces) and pieces[0].key == key
    assert {p.document for p in pieces} == {int.from_bytes(key[:8], "little")}
    assert len(document_pieces(key, [3, 4], np.arange(7))) == 1  # a short one stays whole


def test_random_next_sample_does_not_depend_on_order_or_merging():
    pieces = random_pieces(60)
    budget = sum(p.num_tokens for p in pieces) // 3
    whole = RandomNextSample(seed=7, budget=budget)
    for piece in pieces:
        whole.add(piece)
    shuffled = pieces[:]
    random.Random(1).shuffle(shuffled)
    parts = [RandomNextSample(seed=7, budget=budget) for _ in range(4)]
    for i, piece in enumerate(shuffled):
        parts[i % 4].add(piece)
    merged = parts[0].merge(parts[1]).merge(parts[2].merge(parts[3]))
    first, second = whole.pool(), merged.pool()
    for name in ("tokens", "sentence_starts", "piece_sentences", "documents"):
        np.testing.assert_array_equal(getattr(first, name), getattr(second, name))
    assert 0.6 * budget < first.num_tokens <= budget and 5 < len(first) < 40
    other_seed = RandomNextSample(seed=8, budget=budget)
    for piece in pieces:
        other_seed.add(piece)
    assert set(other_seed.pool().documents.tolist()) != set(first.documents.tolist())
    tiny = RandomNextSample(seed=7, budget=1)  # a sample keeps at least one piece
    for piece in pieces:
        tiny.add(piece)
    assert len(tiny.pool()) == 1


def test_instances_depend_only_on_seed_piece_and_pass():
    pieces = random_pieces(30)
    sample = RandomNextSample(seed=CONFIG.seed)
    for piece in pieces:
        sample.add(piece)
    is_continuation = np.zeros(VOCABULARY_SIZE, bool)
    first = InstanceMaker(CONFIG, is_continuation, sample.pool())
    second = InstanceMaker(CONFIG, is_continuation, sample.pool())
    forward = {(i, dupe): first.instances(p, dupe) for i, p in enumerate(pieces) for dupe in (0, 1)}
    for i, piece in reversed(list(enumerate(pieces))):
        again = second.instances(piece, 1)
        assert again.records == forward[i, 1].records and again.keys == forward[i, 1].keys
    assert forward[0, 0].records != forward[0, 1].records
    reseeded = InstanceMaker(
        InstanceConfig(**{**CONFIG.__dict__, "seed": 1}), is_continuation, sample.pool())
    assert reseeded.instances(pieces[0], 0).records != forward[0, 0].records
    made = forward[3, 0]
    assert made.counts[0] == len(made.records) == len(made.keys) == len(made.masked)
    assert made.counts[3] == sum(made.masked) and made.counts[2] == sum(made.non_special)


def test_random_next_text_comes_from_another_document():
    pieces = random_pieces(20)
    sample = RandomNextSample(seed=1)
    for piece in pieces:
        sample.add(piece)
    maker = InstanceMaker(CONFIG, np.zeros(VOCABULARY_SIZE, bool), sample.pool())
    rng = random.Random(0)
    own = {p.document: p for p in pieces}
    for piece in pieces:
        tokens, start, end = maker._random_segment(piece.document, 10, rng)
        segment = tokens[start:end].tolist()
        sources = [d for d, p in own.items() if _contains(p.tokens.tolist(), segment)]
        assert sources and piece.document not in sources


def _contains(tokens, segment):
    return any(tokens[i:i + len(segment)] == segment for i in range(len(tokens)))


@pytest.mark.parametrize("num_shards", [1, 3, 7])
def test_shards_are_key_ranges(num_shards):
    rng = random.Random(num_shards)
    keys = sorted(rng.getrandbits(64) for _ in range(2000))
    shards = [shard_of(k, num_shards) for k in keys]
    assert shards == sorted(shards) and set(shards) == set(range(num_shards))
    assert shard_of(2**64 - 1, num_shards) == num_shards - 1


def test_pieces_pickle_compactly():
    import pickle

    piece = random_pieces(1)[0]
    again = pickle.loads(pickle.dumps(piece))
    assert isinstance(again, DocumentPiece) and again.key == piece.key
    np.testing.assert_array_equal(again.tokens, piece.tokens)
