"""Epochs of batches that a resumed run can recompute: epoch `e`'s batches are a function of
`(seed, e)`, and every epoch has the same, known number of them.

Fine-tuning resumes in the middle of an epoch (`training/resume.py`), so the resumed run must see
the very batches an uninterrupted run sees from the step it stopped at. `tf.data` cannot give
that: `shuffle(reshuffle_each_iteration=True)` draws each epoch's order from how often its seed
generator was iterated before, and `bucket_by_sequence_length` cuts batches from that order as
examples stream in, so neither an epoch's order nor where its k-th batch starts can be recomputed
from the epoch number. So the batches are planned in NumPy instead, and length bucketing is kept:

1. the examples are permuted with a generator seeded by `(seed, epoch)`;
2. taken in that order, each example goes to its length bucket (`bucket_ids`), and each bucket is
   cut into batches of `batch_size` (its last batch smaller): the batches
   `bucket_by_sequence_length` forms, one bucket (one padded shape) per batch;
3. the batches are shuffled with the same generator (as the batch `shuffle` after bucketing).

`batches_per_epoch` is the sum over buckets of `ceil(n / batch_size)`, the same every epoch.
`index_batches` turns the plans of a run's epochs into a `tf.data.Dataset` of index vectors
(split over replicas when there are several); each task maps them onto its examples
(`classification_batches`, `tagging_batches`, `squad_batches`).

Example:
>>> buckets = np.array([0, 0, 1, 1, 1])        # two short examples, three long ones
>>> batches_per_epoch(buckets, batch_size=2)
3
>>> [b.tolist() for b in epoch_batches(buckets, 2, seed=0, epoch=0)]
[[3], [0, 1], [2, 4]]
>>> [b.tolist() for b in epoch_batches(buckets, 2, seed=0, epoch=0)] == [
...     b.tolist() for b in epoch_batches(buckets, 2, seed=0, epoch=0)]
True
"""

import numpy as np
import tensorflow as tf


def bucket_ids(lengths, boundaries):
    """Each length's bucket: the index of the first boundary it does not exceed.

    Lengths above the last boundary get bucket `len(boundaries)`; no boundaries, one bucket.

    Raises:
        ValueError: boundaries that are not increasing positive integers.

    Example:
    >>> bucket_ids([3, 8, 9, 40], [8, 16, 32]).tolist()
    [0, 0, 1, 3]
    """
    lengths = np.asarray(lengths)
    if not boundaries:
        return np.zeros(len(lengths), np.int32)
    limits = [int(b) for b in boundaries]
    if limits[0] < 1 or any(a >= b for a, b in zip(limits, limits[1:])):
        raise ValueError(f"bucket_boundaries must be increasing positive ints, got {boundaries}")
    return np.searchsorted(np.asarray(limits), lengths, side="left").astype(np.int32)


def batches_per_epoch(buckets, batch_size):
    """The number of batches of one epoch: `sum(ceil(examples of bucket / batch_size))`.

    Example:
    >>> batches_per_epoch(np.zeros(10, int), 4)
    3
    """
    counts = np.bincount(np.asarray(buckets)) if len(buckets) else np.zeros(0, int)
    return int(sum(-(-int(n) // batch_size) for n in counts))


def _generator(seed, epoch):
    # SeedSequence takes non-negative integers: a negative seed is read as its 64-bit pattern.
    return np.random.default_rng(np.random.SeedSequence([int(seed) & (2**64 - 1), int(epoch)]))


def epoch_batches(buckets, batch_size, seed, epoch):
    """The batches of one epoch: a list of example-index arrays (see the module docstring).

    Args:
        buckets: each example's length bucket (`bucket_ids`), an int array.
        batch_size: examples per batch (the last batch of each bucket may be smaller).
        seed: the run's seed.
        epoch: the epoch (0-based).

    Example:
    >>> [b.tolist() for b in epoch_batches(np.zeros(5, int), 2, seed=1, epoch=3)]
    [[1], [2, 3], [0, 4]]
    """
    buckets = np.asarray(buckets)
    generator = _generator(seed, epoch)
    order = generator.permutation(len(buckets))
    batches = []
    for bucket in np.unique(buckets):
        members = order[buckets[order] == bucket]
        batches += [members[i:i + batch_size] for i in range(0, len(members), batch_size)]
    return [batches[i] for i in generator.permutation(len(batches))]


def index_batches(buckets, batch_size, seed, epochs, *, replicas=1, pieces=(0,)):
    """The run's batches as an endless `tf.data.Dataset` of int32 index vectors.

    Epochs `0 .. epochs - 1` in turn (then again from epoch 0: a run never reads that far), each
    `epoch_batches(buckets, batch_size, seed, epoch)`. With several replicas each global batch
    `g` is cut into `replicas` pieces `g[k::replicas]`, and this dataset holds the pieces
    `pieces` of every batch in turn (a worker's pipeline: the pieces of its replicas).

    Args:
        buckets, batch_size, seed: as `epoch_batches` (`batch_size`: the global batch).
        epochs: the epochs of the run.
        replicas: the number of pieces each global batch is cut into.
        pieces: which pieces this dataset yields, in order.

    Example:
    >>> stream = index_batches(np.zeros(3, int), 2, seed=0, epochs=1)
    >>> [b.numpy().tolist() for b in stream.take(3)]
    [[1], [2, 0], [1]]
    """
    flat, lengths = [], []
    for epoch in range(epochs):
        for batch in epoch_batches(buckets, batch_size, seed, epoch):
            for piece in pieces:
                part = batch[piece::replicas]
                flat.append(part)
                lengths.append(len(part))
    flat = np.concatenate(flat).astype(np.int32) if flat else np.zeros(0, np.int32)
    ragged = tf.RaggedTensor.from_row_lengths(flat, np.asarray(lengths, np.int64))
    return tf.data.Dataset.from_tensor_slices(ragged).repeat()


def replica_pieces(batch_size, replica_batch_size, num_shards, shard_index):
    """`(replicas, pieces)` of `index_batches` for one input pipeline of a distributed run.

    `batch_size` is the global batch and `replica_batch_size` one replica's share of it (their
    ratio: all replicas); the pipeline `shard_index` of `num_shards` feeds its replicas
    consecutive pieces of each global batch.

    Example:
    >>> replica_pieces(32, 8, num_shards=2, shard_index=1)   # 4 replicas on 2 workers
    (4, (2, 3))
    """
    replicas = max(1, batch_size // replica_batch_size)
    per_shard = max(1, replicas // num_shards)
    first = shard_index * per_shard
    return replicas, tuple(range(first, first + per_shard))
