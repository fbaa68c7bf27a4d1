"""What the pretraining-data runners write: record bytes, shard names and ranges, statistics.

- `ExampleEncoder`: an instance → the bytes of its `tf.train.Example`, written by hand (no
  TensorFlow in the workers), equal to TensorFlow's deterministic serialization;
- `shard_of` / `shard_names`: shard `j` holds the records whose 64-bit shuffle key falls in its
  key range, written in key order;
- `statistics` / `PretrainingData`: the counts (`COUNT_NAMES`) and the stats file written next
  to the shards (`STATS_FILE`; training reads record counts from it).

Nothing here touches a file: the runners (`pretraining_data.py`, `pretraining_beam.py`) write.
"""

import dataclasses

import numpy as np

SHARD_PREFIX = "pretraining"
STATS_FILE = "pretraining_stats.json"
# Default number of records per shard when `num_shards` is not given.
INSTANCES_PER_SHARD = 100_000
COUNT_NAMES = ("instances", "tokens", "non_special_tokens", "masked", "masked_to_mask",
               "masked_kept", "masked_to_random", "random_next")


def shard_of(key, num_shards):
    """The shard of a record with 64-bit shuffle `key`: shard `j` holds keys in
    `[j, j + 1) * 2**64 / num_shards`.

    Example:
    >>> shard_of(0, 4), shard_of(2**63, 4), shard_of(2**64 - 1, 4)
    (0, 2, 3)
    """
    return key * num_shards >> 64


def shard_names(num_shards, num_records, gzip):
    """File names of the shards: `num_shards` of them, or one per `INSTANCES_PER_SHARD` records.

    Example:
    >>> shard_names(None, 150_000, gzip=True)
    ['pretraining-00000-of-00002.tfrecord.gz', 'pretraining-00001-of-00002.tfrecord.gz']
    """
    num_shards = num_shards or max(1, -(-num_records // INSTANCES_PER_SHARD))
    extension = ".tfrecord.gz" if gzip else ".tfrecord"
    return [f"{SHARD_PREFIX}-{i:05d}-of-{num_shards:05d}{extension}" for i in range(num_shards)]


@dataclasses.dataclass
class PretrainingData:
    """What `create_pretraining_data` wrote.

    Attributes:
        shards: paths of the TFRecord shards, in order.
        stats_file: path of the JSON statistics file next to the shards.
        stats: the statistics (also in `stats_file`): counts (`records`, per shard
            `shard_records`), masked fractions, replacement split, next-sentence ratio and the
            arguments used.
    """

    shards: list
    stats_file: str
    stats: dict


def statistics(counts, corpus, names, shard_counts, arguments):
    """The statistics of a run (`PretrainingData.stats`, the stats file).

    Args:
        counts: the summed `COUNT_NAMES` of all records.
        corpus: `{"documents", "sentences", "corpus_tokens"}`.
        names: the shards' file names.
        shard_counts: per shard `(records, masked positions, non-special tokens)`.
        arguments: the run's arguments.

    Returns:
        A JSON-serializable dict; `records` and `shard_records` let training skip counting.

    Example:
    >>> stats = statistics([2, 20, 14, 2, 2, 0, 0, 1], dict(documents=1, sentences=3,
    ...                    corpus_tokens=12), ["a.tfrecord"], [(2, 2, 14)], arguments={})
    >>> stats["records"], stats["shard_records"], round(stats["masked_fraction"], 3)
    (2, [2], 0.143)
    """
    count = dict(zip(COUNT_NAMES, np.asarray(counts).tolist()))
    masked = max(count["masked"], 1)
    return {
        "instances": count["instances"],
        "records": count["instances"],
        **corpus,
        "tokens": count["tokens"],
        "masked_positions": count["masked"],
        "masked_fraction": count["masked"] / max(count["non_special_tokens"], 1),
        "replacement": {
            "mask": count["masked_to_mask"] / masked,
            "keep": count["masked_kept"] / masked,
            "random": count["masked_to_random"] / masked,
        },
        "next_sentence_random_fraction": count["random_next"] / max(count["instances"], 1),
        "shards": list(names),
        "shard_records": [int(c[0]) for c in shard_counts],
        "shard_masked_fractions": [c[1] / max(c[2], 1) for c in shard_counts],
        "arguments": arguments,
    }


class ExampleEncoder:
    """Serializes instances as `tf.train.Example` protos without TensorFlow.

    The bytes equal `tf.train.Example(...).SerializeToString(deterministic=True)`: features in key
    order, each `Features.feature` map entry `{1: key, 2: Feature}`, a `Feature` holding an
    `Int64List` (field 3) or `FloatList` (field 2) whose values are packed (field 1). The framing
    of an entry depends only on its key and the length of its packed values, so it is cached.
    """

    _FLOAT_KEYS = ("masked_lm_weights",)

    def __init__(self, config):
        self.config = config
        largest = max(config.vocabulary_size, config.max_seq_length)
        self._varints = [_varint(i) for i in range(largest)]
        self._headers = {}
        predictions = config.max_predictions_per_seq
        self._weights = [np.array([1.0] * n + [0.0] * (predictions - n), "<f4").tobytes()
                         for n in range(predictions + 1)]

    def _entry(self, key, packed):
        """The map entry of one feature: its cached framing, then the packed values."""
        header = self._headers.get((key, len(packed)))
        if header is None:
            kind = b"\x12" if key in self._FLOAT_KEYS else b"\x1a"  # float_list / int64_list
            framing = _field(b"\x0a", _field(b"\x0a", key.encode()) + _field(
                b"\x12", _field(kind, _field(b"\x0a", packed))))
            header = self._headers[(key, len(packed))] = framing[:len(framing) - len(packed)]
        return header + packed

    def encode(self, ids, len_a, positions, masked_ids, is_random_next):
        """Bytes of one Example from the unpadded ids, the length of segment A and the masks
        (lists of ints)."""
        config, varint = self.config, self._varints.__getitem__
        length, pad = len(ids), config.max_seq_length - len(ids)
        unused = config.max_predictions_per_seq - len(positions)
        entry = self._entry
        body = b"".join((  # packed values (a varint of 0 or 1 is that byte), in key order
            entry("input_ids", b"".join(map(varint, ids)) + b"\x00" * pad),
            entry("input_mask", b"\x01" * length + b"\x00" * pad),
            entry("masked_lm_ids", b"".join(map(varint, masked_ids)) + b"\x00" * unused),
            entry("masked_lm_positions",
                  b"".join(map(varint, positions)) + b"\x00" * unused),
            entry("masked_lm_weights", self._weights[len(positions)]),
            entry("next_sentence_labels", b"\x01" if is_random_next else b"\x00"),
            entry("segment_ids",
                  b"\x00" * (len_a + 2) + b"\x01" * (length - len_a - 2) + b"\x00" * pad),
        ))
        return _field(b"\x0a", body)


def _varint(value):
    """Protocol-buffer varint encoding of a non-negative int."""
    out = bytearray()
    while value >= 0x80:
        out.append(value & 0x7F | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _field(tag, payload):
    """A length-delimited protocol-buffer field: tag, varint length, payload."""
    return tag + _varint(len(payload)) + payload
