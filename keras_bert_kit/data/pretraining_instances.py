"""Pretraining pieces → records: Google's `create_instances_from_document`, as a pure function.

`InstanceMaker.instances(piece, dupe)` follows google-research/bert's
`create_instances_from_document` with a random generator seeded by (seed, piece, pass), so any
runner, any number of workers and any arrival order of the pieces give the same records; each
record gets a seeded 64-bit shuffle key (`pretraining_output.shard_of` maps it to its shard).
`is_continuation_table` marks the `##` pieces that whole-word masking keeps together.

Nothing here touches a file. The text before (`pretraining_documents.py`,
`pretraining_pieces.py`), the record bytes and statistics (`pretraining_output.py`) and the
runners that shuffle and write shards (`pretraining_data.py` locally, `pretraining_beam.py` with
Apache Beam) live elsewhere.
"""

import dataclasses
import random
import typing

import numpy as np

from keras_bert_kit.data.pretraining_output import COUNT_NAMES, ExampleEncoder


@dataclasses.dataclass(frozen=True)
class InstanceConfig:
    """The arguments of instance creation (see `create_pretraining_data`) and the special ids."""

    max_seq_length: int
    max_predictions_per_seq: int
    masked_lm_prob: float
    short_seq_prob: float
    whole_word_mask: bool
    cls_id: int
    sep_id: int
    mask_id: int
    vocabulary_size: int
    seed: int


class Instances(typing.NamedTuple):
    """The records of one piece and pass (see `InstanceMaker.instances`)."""

    keys: list
    records: list
    masked: list
    non_special: list
    counts: np.ndarray


class InstanceMaker:
    """Google's `create_instances_from_document` on a `DocumentPiece`, as a pure function.

    Args:
        config: an `InstanceConfig`.
        is_continuation: bool `[vocabulary_size]`, true for `##` word pieces.
        pool: the `RandomNextPool` that random second segments come from.

    Example:
    >>> from keras_bert_kit.data.pretraining_pieces import RandomNextPool, document_pieces
    >>> piece = document_pieces(bytes(16), [4, 3, 5], np.arange(5, 17))[0]
    >>> other = document_pieces(bytes([1] * 16), [6], np.arange(20, 26))[0]
    >>> config = InstanceConfig(max_seq_length=16, max_predictions_per_seq=3,
    ...                         masked_lm_prob=0.15, short_seq_prob=0.0, whole_word_mask=False,
    ...                         cls_id=2, sep_id=3, mask_id=4, vocabulary_size=30, seed=1)
    >>> pool = RandomNextPool.from_pieces([piece, other])
    >>> maker = InstanceMaker(config, np.zeros(30, bool), pool)
    >>> made = maker.instances(piece, dupe=0)
    >>> made.records == maker.instances(piece, dupe=0).records  # the same piece and pass
    True
    >>> len(made.records) == len(made.keys) == int(made.counts[0])
    True
    """

    def __init__(self, config, is_continuation, pool):
        self.config, self.is_continuation, self.pool = config, np.asarray(is_continuation), pool
        self.encoder = ExampleEncoder(config)
        self._pool_starts = pool.sentence_starts.tolist()
        self._pool_pieces = pool.piece_sentences.tolist()
        self._pool_documents = pool.documents.tolist()

    def instances(self, piece, dupe):
        """The records of `piece` in pass `dupe`, with their shuffle keys and counts.

        The random numbers come from generators seeded by (seed, piece key, pass) only.

        Returns:
            `Instances`: per record its 64-bit shuffle key, its bytes (a serialized
            `tf.train.Example`), its masked positions and non-special tokens; and the summed
            `COUNT_NAMES` of the records.
        """
        seed = f"{self.config.seed}/".encode() + piece.key + dupe.to_bytes(4, "little")
        rng, shuffle = random.Random(seed), random.Random(b"shuffle/" + seed)
        keys, records, masked, non_special = [], [], [], []
        counts = [0] * len(COUNT_NAMES)
        for a, b, is_random_next in self._pairs(piece, rng):
            ids, positions, masked_ids, decisions = self._mask(a, b, rng)
            keys.append(shuffle.getrandbits(64))
            records.append(self.encoder.encode(ids, len(a), positions, masked_ids, is_random_next))
            masked.append(len(positions))
            non_special.append(len(ids) - 3)
            for i, value in enumerate((1, len(ids), len(ids) - 3, len(positions), *decisions,
                                       is_random_next)):
                counts[i] += value
        return Instances(keys, records, masked, non_special, np.array(counts, np.int64))

    def _pairs(self, piece, rng):
        """Yields `(tokens_a, tokens_b, is_random_next)` of a piece, as Google's script does for
        a document."""
        starts, tokens, config = piece.sentence_starts.tolist(), piece.tokens, self.config
        end = len(starts) - 1
        max_num_tokens = config.max_seq_length - 3
        target_length = max_num_tokens
        if rng.random() < config.short_seq_prob:
            target_length = rng.randint(2, max_num_tokens)
        chunk_first, i = 0, 0
        while i < end:
            if i == end - 1 or starts[i + 1] - starts[chunk_first] >= target_length:
                num_sentences = i + 1 - chunk_first
                a_end = chunk_first + (
                    rng.randint(1, num_sentences - 1) if num_sentences >= 2 else 1
                )
                a = [tokens, starts[chunk_first], starts[a_end]]
                if num_sentences == 1 or rng.random() < 0.5:
                    is_random_next = True
                    b = self._random_segment(piece.document, target_length - (a[2] - a[1]), rng)
                    i = a_end - 1  # the unused sentences of the chunk start the next one
                else:
                    is_random_next = False
                    b = [tokens, starts[a_end], starts[i + 1]]
                _truncate_pair(a, b, max_num_tokens, rng)
                yield a[0][a[1]:a[2]], b[0][b[1]:b[2]], is_random_next
                chunk_first = i + 1
            i += 1

    def _random_segment(self, document, target_length, rng):
        """`[tokens, start, end]` of sentences of a random pool piece of another document, from a
        random sentence on (Google's rule: up to 10 draws to avoid the same document)."""
        for _ in range(10):
            other = rng.randint(0, len(self._pool_documents) - 1)
            if self._pool_documents[other] != document:
                break
        first, end = self._pool_pieces[other], self._pool_pieces[other + 1]
        starts = self._pool_starts
        start = rng.randint(first, end - 1)
        last = start
        while last < end - 1 and starts[last + 1] - starts[start] < target_length:
            last += 1
        return [self.pool.tokens, starts[start], starts[last + 1]]

    def _mask(self, tokens_a, tokens_b, rng):
        """Masks `[CLS] a [SEP] b [SEP]`: returns the masked ids, the sorted masked positions,
        their original ids (lists), and how many positions became [MASK], were kept, or became
        a random id."""
        config = self.config
        ids = [config.cls_id, *tokens_a.tolist(), config.sep_id, *tokens_b.tolist(), config.sep_id]
        if config.masked_lm_prob == 0:  # unmasked sequences, for masking on the fly in training
            return ids, [], [], [0, 0, 0]
        num_to_predict = min(config.max_predictions_per_seq,
                             max(1, int(round(len(ids) * config.masked_lm_prob))))
        segments = (range(1, len(tokens_a) + 1), range(len(tokens_a) + 2, len(ids) - 1))
        if config.whole_word_mask:
            chosen = self._choose_whole_words(ids, segments, num_to_predict, rng)
        else:
            candidates = [*segments[0], *segments[1]]
            chosen = rng.sample(candidates, min(num_to_predict, len(candidates)))
        positions = sorted(chosen)
        masked_ids = [ids[p] for p in positions]
        decisions = [0, 0, 0]
        for position in chosen:
            if rng.random() < 0.8:
                ids[position] = config.mask_id
                decisions[0] += 1
            elif rng.random() < 0.5:
                decisions[1] += 1
            else:
                ids[position] = rng.randint(0, config.vocabulary_size - 1)
                decisions[2] += 1
        return ids, positions, masked_ids, decisions

    def _choose_whole_words(self, ids, segments, num_to_predict, rng):
        """Positions of random whole words (none crosses `[SEP]`), at most `num_to_predict`."""
        words = []
        for segment in segments:
            continues = self.is_continuation[ids[segment.start:segment.stop]]
            starts = (segment.start + np.flatnonzero(~continues)).tolist()
            if not starts or starts[0] != segment.start:
                starts.insert(0, segment.start)
            words.extend(zip(starts, starts[1:] + [segment.stop]))
        rng.shuffle(words)
        chosen = []
        for start, end in words:
            if len(chosen) >= num_to_predict:
                break
            if len(chosen) + end - start <= num_to_predict:
                chosen.extend(range(start, end))
        return chosen


def _truncate_pair(a, b, max_num_tokens, rng):
    """Drops tokens from the front or back (at random) of the longer `[tokens, start, end]` span
    until both fit."""
    while (a[2] - a[1]) + (b[2] - b[1]) > max_num_tokens:
        span = a if a[2] - a[1] > b[2] - b[1] else b
        if rng.random() < 0.5:
            span[1] += 1
        else:
            span[2] -= 1


def is_continuation_table(vocabulary):
    """bool `[len(vocabulary)]`: true for `##` word pieces (whole-word masking keeps them with
    the piece before).

    Example:
    >>> is_continuation_table(["[CLS]", "run", "##ning"]).tolist()
    [False, False, True]
    """
    return np.array([t.startswith("##") for t in vocabulary], bool)
