"""Reading pretraining TFRecords with Google's features into the model's training batches.

`read_pretraining_records` reads the records that `create_pretraining_data` (or
google-research/bert's `create_pretraining_data.py`) writes and yields `(x, y, sample_weight)` for
`BertPretrainer.fit`: `x` = `token_ids`, `segment_ids`, `padding_mask`, `mask_positions`;
`y` = `mlm` (original ids at the masked positions), `nsp` (next-sentence labels);
`sample_weight` = `mlm` (1.0 for real masked positions), `nsp` (1.0). With a `DynamicMasker` the
records' static masks are undone and fresh masks are drawn every epoch instead. `read_stats`
reads the statistics file written next to the shards (record counts without reading the shards).
"""

import json
import os
import posixpath
import re

import tensorflow as tf

from keras_bert_kit.data.masking import model_batch
from keras_bert_kit.data.pretraining_output import STATS_FILE
from keras_bert_kit.errors import UserError
from keras_bert_kit.files import expand_file_patterns

GZIP_MAGIC = b"\x1f\x8b"
COMPRESSIONS = ("auto", "GZIP", "")


def google_feature_spec(max_seq_length, max_predictions_per_seq):
    """The `tf.io.parse_example` spec of google-research/bert's `run_pretraining.py`.

    Args:
        max_seq_length: length of `input_ids`, `input_mask`, `segment_ids`.
        max_predictions_per_seq: length of `masked_lm_positions`, `masked_lm_ids`,
            `masked_lm_weights`.

    Returns:
        A dict of `tf.io.FixedLenFeature`.

    Example:
    >>> google_feature_spec(128, 20)["next_sentence_labels"]
    FixedLenFeature(shape=[1], dtype=tf.int64, default_value=None)
    """
    sequence = tf.io.FixedLenFeature([max_seq_length], tf.int64)
    predictions = tf.io.FixedLenFeature([max_predictions_per_seq], tf.int64)
    return {
        "input_ids": sequence,
        "input_mask": sequence,
        "segment_ids": sequence,
        "masked_lm_positions": predictions,
        "masked_lm_ids": predictions,
        "masked_lm_weights": tf.io.FixedLenFeature([max_predictions_per_seq], tf.float32),
        "next_sentence_labels": tf.io.FixedLenFeature([1], tf.int64),
    }


def read_pretraining_records(
    file_pattern,
    batch_size,
    *,
    max_seq_length=None,
    max_predictions_per_seq=None,
    shuffle=True,
    shuffle_buffer_size=10_000,
    repeat=False,
    seed=None,
    compression="auto",
    drop_remainder=True,
    masker=None,
    validate=True,
):
    """A `tf.data.Dataset` of `(x, y, sample_weight)` pretraining batches from TFRecord files.

    Args:
        file_pattern: a file path, folder or glob pattern (`gs://` too), or a list of them
            (`files.expand_file_patterns`).
        batch_size: records per batch.
        max_seq_length: length of the sequences; `None` reads it from the first record.
        max_predictions_per_seq: length of the masked-LM features; `None` reads it from the first
            record.
        shuffle: shuffle the file order and the records (buffer of `shuffle_buffer_size`), anew
            each epoch.
        shuffle_buffer_size: records in the shuffle buffer.
        repeat: repeat forever (then give `steps_per_epoch` to `fit`).
        seed: seed of the shuffling and of the dynamic masks.
        compression: `"GZIP"`, `""` (none) or `"auto"` (per file, from its first bytes).
        drop_remainder: drop the last partial batch (static batch shape).
        masker: a `masking.DynamicMasker` to replace the records' masks by fresh ones each epoch,
            or `None` to use the records' masks.
        validate: read every file once up front, so that a corrupt or truncated file fails here
            with an error naming it (instead of later, inside `fit`, without the file name).

    Returns:
        A `tf.data.Dataset` of `(x, y, sample_weight)` (see `masking.model_batch`): `x` = dict
        `token_ids`, `segment_ids`, `padding_mask` (int32 `[batch, max_seq_length]`),
        `mask_positions` (int32 `[batch, max_predictions_per_seq]`); `y` = dict `mlm`, `nsp`;
        `sample_weight` = dict `mlm`, `nsp`.

    Raises:
        UserError: no file matches `file_pattern`.
        tf.errors.DataLossError: a file is corrupt or truncated (the message names it).
        ValueError: the sizes cannot be read because every file is empty.

    Example:
    >>> from keras_bert_kit.data.pretraining_data import create_pretraining_data
    >>> with open("vocab.txt", "w") as f:
    ...     _ = f.write("\\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat"]))
    >>> with open("corpus.txt", "w") as f:
    ...     _ = f.write("The cat.\\nThe cat the cat.\\n\\nCat the.\\nThe the cat.\\n")
    >>> _ = create_pretraining_data("corpus.txt", "vocab.txt", "records", max_seq_length=16,
    ...                             max_predictions_per_seq=4, num_workers=1, progress=False)
    >>> ds = read_pretraining_records("records/*.tfrecord", batch_size=4)  # sizes from the file
    >>> x, y, w = next(iter(ds))
    >>> x["token_ids"].shape, x["mask_positions"].shape, y["mlm"].shape, w["nsp"].shape
    (TensorShape([4, 16]), TensorShape([4, 4]), TensorShape([4, 4]), TensorShape([4]))
    >>> bool(tf.reduce_all(x["token_ids"][:, 0] == 2))  # every sequence starts with [CLS]
    True
    """
    files = pretraining_files(file_pattern, "file_pattern")
    if compression not in COMPRESSIONS:
        raise ValueError(f"compression must be one of {COMPRESSIONS}, got {compression!r}.")
    compressions = [_detect_compression(f) if compression == "auto" else compression for f in files]
    if validate:
        for path, file_compression in zip(files, compressions):
            count_records(path, file_compression)
    if max_seq_length is None or max_predictions_per_seq is None:
        sizes = _sizes_from_first_record(files, compressions)
        max_seq_length = max_seq_length or sizes[0]
        max_predictions_per_seq = max_predictions_per_seq or sizes[1]
    spec = google_feature_spec(max_seq_length, max_predictions_per_seq)

    file_dataset = tf.data.Dataset.from_tensor_slices((files, compressions))
    if shuffle:
        file_dataset = file_dataset.shuffle(len(files), seed=seed, reshuffle_each_iteration=True)
    records = file_dataset.interleave(
        lambda path, kind: tf.data.TFRecordDataset(path, compression_type=kind),
        cycle_length=min(len(files), 8), num_parallel_calls=tf.data.AUTOTUNE,
    )
    if shuffle:
        records = records.shuffle(shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True)
    if repeat:
        records = records.repeat()
    batches = records.batch(batch_size, drop_remainder=drop_remainder)

    def parse(serialized):  # keeps the static batch size that `parse_example` loses
        features = tf.io.parse_example(serialized, spec)
        return {k: tf.ensure_shape(v, serialized.shape.concatenate(v.shape[1:]))
                for k, v in features.items()}

    if masker is None:
        return batches.map(
            lambda serialized: _static_batch(parse(serialized)), num_parallel_calls=tf.data.AUTOTUNE
        ).prefetch(tf.data.AUTOTUNE)
    unmasked = batches.map(lambda serialized: _unmasked_features(parse(serialized)),
                           num_parallel_calls=tf.data.AUTOTUNE)
    return masker.apply(unmasked, seed).prefetch(tf.data.AUTOTUNE)


def count_records(path, compression="auto"):
    """Reads a whole TFRecord file and returns its number of records.

    Args:
        path: the TFRecord file.
        compression: `"GZIP"`, `""` or `"auto"`.

    Returns:
        The number of records.

    Raises:
        tf.errors.DataLossError: the file is corrupt or truncated; the message names it.

    Example:
    >>> with tf.io.TFRecordWriter("three.tfrecord", "GZIP") as writer:
    ...     for record in (b"a", b"b", b"c"):
    ...         writer.write(record)
    >>> count_records("three.tfrecord")  # compression detected from the first bytes
    3
    """
    if compression == "auto":
        compression = _detect_compression(path)
    dataset = tf.data.TFRecordDataset(path, compression_type=compression)
    try:
        return int(dataset.reduce(tf.constant(0, tf.int64), lambda n, _: n + 1))
    except tf.errors.DataLossError as e:
        reason = re.sub(r"\{\{.*?\}\}\s*|\s*\[Op:.*", "", e.message, flags=re.DOTALL).strip()
        raise tf.errors.DataLossError(
            None, None,
            f"{path}: corrupt or truncated TFRecord file ({reason}); recreate it or leave it out.",
        ) from None


def read_stats(output_dir):
    """Reads the statistics file that `create_pretraining_data` writes next to its shards.

    Training takes the number of records from it instead of reading every shard:
    `stats["records"]` in all, `dict(zip(stats["shards"], stats["shard_records"]))` per shard.

    Args:
        output_dir: the folder of the shards (local or any `tf.io.gfile` path), or the path of
            the `pretraining_stats.json` file itself.

    Returns:
        The statistics: `records`, `shards` (file names), `shard_records`,
        `shard_masked_fractions`, `masked_fraction`, `replacement`,
        `next_sentence_random_fraction`, the corpus counts and the `arguments` of the run.

    Raises:
        FileNotFoundError: there is no statistics file (records written by Google's script or
            by an older version have none: count them with `count_records`).
        ValueError: the file is not a statistics file of `create_pretraining_data`.

    Example:
    >>> import json
    >>> _ = tf.io.gfile.makedirs("records")
    >>> with open("records/pretraining_stats.json", "w") as f:
    ...     json.dump({"records": 3, "shards": ["pretraining-00000-of-00001.tfrecord"],
    ...                "shard_records": [3]}, f)
    >>> stats = read_stats("records")
    >>> stats["records"], dict(zip(stats["shards"], stats["shard_records"]))
    (3, {'pretraining-00000-of-00001.tfrecord': 3})
    """
    path = os.fspath(output_dir)
    if not path.endswith(".json"):
        path = f"{path.rstrip('/')}/{STATS_FILE}"
    if not tf.io.gfile.exists(path):
        raise FileNotFoundError(
            f"No pretraining statistics file {path!r}: records from Google's script or an older "
            "version have none (count them with count_records)."
        )
    with tf.io.gfile.GFile(path, "r") as f:
        try:
            stats = json.load(f)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}: not a pretraining statistics file ({e}).") from None
    missing = [k for k in ("records", "shards", "shard_records")
               if not isinstance(stats, dict) or k not in stats]
    if missing:
        raise ValueError(f"{path}: not a pretraining statistics file of create_pretraining_data "
                         f"(no {', '.join(missing)}).")
    return stats


def pretraining_files(patterns, what):
    """The files of `patterns` (`files.expand_file_patterns`: paths, folders, globs), less the
    statistics files that `create_pretraining_data` writes beside its shards (so its output
    folder can be given as it is).

    Raises:
        UserError: a pattern matches no file, or only statistics files.

    Example:
    >>> os.makedirs("records")
    >>> for name in ("pretraining-00000-of-00001.tfrecord", STATS_FILE):
    ...     _ = open(os.path.join("records", name), "w").write("")
    >>> pretraining_files("records", "--train-files")
    ['records/pretraining-00000-of-00001.tfrecord']
    """
    files = [f for f in expand_file_patterns(patterns, what)
             if posixpath.basename(f) != STATS_FILE]
    if not files:
        raise UserError(f"{what}: {patterns!r} holds only {STATS_FILE} (give the record or text "
                        "files, or the folder that holds them)")
    return files


def _detect_compression(path):
    with tf.io.gfile.GFile(path, "rb") as f:
        return "GZIP" if f.read(2) == GZIP_MAGIC else ""


def _sizes_from_first_record(files, compressions):
    """`(max_seq_length, max_predictions_per_seq)` read from the first record of the files."""
    for path, compression in zip(files, compressions):
        for serialized in tf.data.TFRecordDataset(path, compression_type=compression).take(1):
            feature = tf.train.Example.FromString(serialized.numpy()).features.feature
            try:
                return (len(feature["input_ids"].int64_list.value),
                        len(feature["masked_lm_positions"].int64_list.value))
            except KeyError as e:
                raise ValueError(
                    f"{path}: the records lack the feature {e}; expected Google's pretraining "
                    f"features {sorted(google_feature_spec(1, 1))}."
                ) from None
    raise ValueError(f"All pretraining record files are empty: {', '.join(files)}.")


def _static_batch(features):
    return model_batch(
        features["input_ids"], features["segment_ids"], features["input_mask"],
        features["masked_lm_positions"], features["masked_lm_ids"], features["masked_lm_weights"],
        features["next_sentence_labels"][:, 0], tf.ones_like(features["masked_lm_weights"][:, 0]),
    )


def _unmasked_features(features):
    """The records' features with the original ids put back at the masked positions."""
    real = features["masked_lm_weights"] > 0
    row = tf.broadcast_to(
        tf.range(tf.shape(real, out_type=tf.int64)[0])[:, tf.newaxis], tf.shape(real, tf.int64)
    )
    indices = tf.boolean_mask(tf.stack([row, features["masked_lm_positions"]], axis=-1), real)
    token_ids = tf.tensor_scatter_nd_update(
        features["input_ids"], indices, tf.boolean_mask(features["masked_lm_ids"], real)
    )
    return {
        "token_ids": token_ids,
        "segment_ids": features["segment_ids"],
        "padding_mask": features["input_mask"],
        "next_sentence_labels": features["next_sentence_labels"][:, 0],
    }
