"""Static pretraining data: raw text -> sharded TFRecords of masked-LM + next-sentence instances.

`create_pretraining_data` follows google-research/bert's `create_pretraining_data.py`: documents are
cut into `[CLS] A [SEP] B [SEP]` pairs of up to `max_seq_length` tokens (shorter with probability
`short_seq_prob`), B is the true continuation of A or, half of the time, text from another random
document (`next_sentence_labels` 0 = is next, 1 = random); `masked_lm_prob` of the tokens (at most
`max_predictions_per_seq`, at least one) are chosen for prediction, of which 80 % become `[MASK]`,
10 % stay and 10 % become a random vocabulary id; with `whole_word_mask` all word pieces of a word
are chosen together; every document is used `dupe_factor` times with different masks. The
records have Google's features, so the files also feed Google's `run_pretraining.py`.

The records are made by one core that two runners share (`pretraining_documents.py`: bytes →
documents; `pretraining_pieces.py`: tokenized pieces and the random-next sample;
`pretraining_instances.py`: pieces → instances; `pretraining_output.py`: record bytes, shards,
statistics): the local runner here (the default) and Apache Beam (`runner="DirectRunner"`, `"DataflowRunner"`, ...;
`pretraining_beam.py`). For the same inputs and seed both write the same shards, byte for byte,
for any number of workers. The local runner works in bounded memory, in three passes over files
in a hidden scratch folder inside `output_dir` (`files.temporary_name`; a killed run's is
removed by the next run):

1. the workers read and split the files while this process tokenizes them, spills the tokenized
   documents to disk and keeps the seeded random-next sample (`RandomNextSample`, at most
   `random_next_pool_tokens` tokens);
2. the workers make every document's instances in every pass and append them, framed with their
   64-bit shuffle keys, to bucket files by key range;
3. the workers sort one bucket each by key (a bucket that came out too large is split by key
   range first) while this process writes the sorted records in key order: shard `j` holds a
   key range, so the shuffle is global and the output does not depend on how the work was
   spread.

Memory stays flat as the corpus grows: one input file, the random-next sample, one task's
records or one bucket per worker, and a few sorted buckets here. Disk: the tokenized corpus
(4 bytes per token) and the records twice (buckets, shards), briefly.

Differences from Google's script (small; an instance looks the same): each input file starts a
new document; a word piece right after `[SEP]` starts a new whole word; documents longer than
50,000 tokens are processed in pieces of about that size (each piece drawing its own target
length); the random numbers come from generators seeded by (seed, document, pass), so a document
gives the same instances whatever else is in the corpus and in whatever order it is read; the
random next segment is drawn from a seeded sample of the corpus (the whole corpus when it holds at
most `random_next_pool_tokens` tokens), not from all of it.

Input formats: Google's (one sentence per line, blank line between documents), prose (paragraphs
separated by blank lines, lines may be wrapped; sentences are found by `sentence_splitter`; a
chapter heading line, `CHAPTER ...` or `Chapter <number>`, starts a new document, otherwise a file
is one document) and JSON Lines (one document per line, text in `jsonl_text_field`, split like
prose). Each file is read whole by one worker: split files of several GB.

The worker processes run plain Python and NumPy: TensorFlow is imported only by the main process,
for tokenizing and writing.
"""

import collections
import contextlib
import json
import math
import multiprocessing
import os
import pickle
import re
import shutil
import struct

import numpy as np
from tqdm.auto import tqdm

from keras_bert_kit.data.pretraining_documents import INPUT_FORMATS, read_file_documents
from keras_bert_kit.data.pretraining_instances import (
    InstanceConfig,
    InstanceMaker,
    is_continuation_table,
)
from keras_bert_kit.data.pretraining_output import (
    COUNT_NAMES,
    SHARD_PREFIX,
    STATS_FILE,
    PretrainingData,
    shard_names,
    statistics,
)
from keras_bert_kit.data.pretraining_pieces import (
    RANDOM_NEXT_POOL_TOKENS,
    DocumentTokenizer,
    RandomNextPool,
    RandomNextSample,
)
from keras_bert_kit.files import (
    expand_file_patterns,
    merge_folder_into_place,
    sweep_leftovers,
    temporary_name,
)

RUNNERS = ("local", "DirectRunner", "DataflowRunner", "FlinkRunner", "SparkRunner",
           "PrismRunner", "PortableRunner")
# Tokens x passes per task of pass 2 (a task's records are held in memory at once).
_INSTANCE_TOKENS_PER_TASK = 2_000_000
# Records per bucket of the external shuffle (pass 3 holds one bucket), and the most buckets.
_BUCKET_BYTES = 16 << 20
_MAX_BUCKETS = 4096
_SUB_BUCKETS = 16
# A record in a bucket file: shuffle key, masked positions, non-special tokens, record length.
_FRAME = struct.Struct("<QIII")
_SHARD_NAME = re.compile(rf"^{SHARD_PREFIX}-\d{{5}}-of-\d{{5}}\.tfrecord(\.gz)?$")


def create_pretraining_data(
    input_files, vocab_file, output_dir, *, max_seq_length=128, max_predictions_per_seq=20,
    masked_lm_prob=0.15, short_seq_prob=0.1, dupe_factor=10, whole_word_mask=False,
    do_lower_case=True, seed=12345, num_shards=None, gzip=False, input_format="auto",
    jsonl_text_field="text", num_workers=2, progress=True, overwrite=False, runner="local",
    pipeline_options=None, random_next_pool_tokens=RANDOM_NEXT_POOL_TOKENS,
):
    """Creates Google-compatible masked-LM / next-sentence pretraining TFRecords from raw text.

    Writes `output_dir/pretraining-NNNNN-of-MMMMM.tfrecord` (`.tfrecord.gz` with `gzip`) and
    `output_dir/pretraining_stats.json`. Every file is first written under a hidden temporary name
    and renamed only when all shards are complete, so an error leaves no partial shard behind.
    Each record holds the int64 features `input_ids`, `input_mask`, `segment_ids` (length
    `max_seq_length`), `masked_lm_positions`, `masked_lm_ids` (length `max_predictions_per_seq`),
    `next_sentence_labels` (length 1) and the float feature `masked_lm_weights`.
    Call it under `if __name__ == "__main__":` in scripts: `num_workers > 1` starts processes.

    Args:
        input_files: a path, folder or glob pattern, or a list of them (UTF-8 text files;
            `files.expand_file_patterns`; with a Beam runner any Beam file system's).
        vocab_file: WordPiece `vocab.txt` with `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]` and `[MASK]`.
        output_dir: folder for the shards and the statistics (created if needed).
        max_seq_length: tokens per instance, `[CLS]` and both `[SEP]` included.
        max_predictions_per_seq: most masked-LM predictions per instance.
        masked_lm_prob: fraction of each instance's tokens to predict; 0: sequences unmasked,
            for dynamic masking in training (`read_pretraining_records(masker=...)`).
        short_seq_prob: probability of a shorter target length (2 .. max_seq_length - 3).
        dupe_factor: how many times each document is used, with different pairs and masks.
        whole_word_mask: choose whole words (a piece and its `##` continuations) for masking.
        do_lower_case: lower-case and strip accents, for uncased vocabularies.
        seed: random seed; the same seed and inputs give byte-identical shards.
        num_shards: number of output shards; `None` = one per 100,000 instances (at least 1).
            Shard `j` holds the records whose shuffle key falls in its `1 / num_shards` of the
            key range, so shard sizes vary by about their square root.
        gzip: write GZIP-compressed TFRecords.
        input_format: `"google"`, `"prose"`, `"jsonl"` or `"auto"` (decided per file: `.jsonl` /
            `.json` files and files whose first line is a JSON object are JSON Lines; files with
            chapter headings, one paragraph per line or lines that mostly do not end a sentence
            are prose; others are Google's format).
        jsonl_text_field: field of each JSON Lines record that holds the document text.
        num_workers: processes reading files and creating instances (the output does not depend
            on it); with the DirectRunner, its number of worker processes.
        progress: show tqdm progress bars (local runner).
        overwrite: replace shards of an earlier run in `output_dir`; otherwise their presence is
            an error.
        runner: `"local"` (this machine, bounded memory) or an Apache Beam runner name
            (`"DirectRunner"`, `"DataflowRunner"`, `"FlinkRunner"`, `"SparkRunner"`, ...; needs
            `pip install keras-bert-kit[beam]`, see `pretraining_beam`).
        pipeline_options: Beam pipeline options for a Beam runner, as command-line flags
            (`["--project=...", "--region=...", "--temp_location=gs://..."]`).
        random_next_pool_tokens: size of the seeded corpus sample that random next segments are
            drawn from (memory: 4 bytes per token in every worker).

    Returns:
        A `PretrainingData` with the shard paths, the statistics file path and the statistics.

    Raises:
        UserError: an input pattern matches no file. FileNotFoundError: no vocabulary.
        FileExistsError: `output_dir` already holds shards and `overwrite` is false.
        ValueError: a binary or non-UTF-8 input file, a bad JSON Lines record, an input without
            any text, a vocabulary without the special tokens, or an invalid argument (the message
            names the file and line).
        ImportError: a Beam runner without `apache_beam` installed.

    Example:
    >>> from pathlib import Path
    >>> _ = Path("vocab.txt").write_text("\\n".join(
    ...     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "dog", "sat", "ran", "."]))
    >>> _ = Path("corpus.txt").write_text(  # two documents of two sentences
    ...     "The cat sat.\\nThe dog ran.\\n\\nThe dog sat.\\nThe cat ran.\\n")
    >>> result = create_pretraining_data("corpus.txt", "vocab.txt", "out", max_seq_length=16,
    ...                                  max_predictions_per_seq=4, dupe_factor=2, num_workers=1,
    ...                                  progress=False)
    >>> result.shards, result.stats["documents"], result.stats["sentences"]
    (['out/pretraining-00000-of-00001.tfrecord'], 2, 4)
    >>> 4 <= result.stats["records"] <= 8  # one or two pairs per document and pass
    True
    >>> sorted(os.listdir("out"))
    ['pretraining-00000-of-00001.tfrecord', 'pretraining_stats.json']
    """
    _check_arguments(
        max_seq_length, max_predictions_per_seq, masked_lm_prob, short_seq_prob, dupe_factor,
        num_shards, input_format, num_workers, runner, random_next_pool_tokens,
    )
    options = dict(
        max_seq_length=max_seq_length, max_predictions_per_seq=max_predictions_per_seq,
        masked_lm_prob=masked_lm_prob, short_seq_prob=short_seq_prob, dupe_factor=dupe_factor,
        whole_word_mask=whole_word_mask, do_lower_case=do_lower_case, seed=seed,
        num_shards=num_shards, gzip=gzip, input_format=input_format,
        jsonl_text_field=jsonl_text_field, random_next_pool_tokens=random_next_pool_tokens,
    )
    if runner != "local":
        from keras_bert_kit.data.pretraining_beam import run_beam_pipeline

        return run_beam_pipeline(input_files, vocab_file, output_dir, options, runner=runner,
                                 pipeline_options=pipeline_options, num_workers=num_workers,
                                 overwrite=overwrite)
    files = expand_file_patterns(input_files, "input_files (--input)")
    return _LocalRun(files, vocab_file, os.fspath(output_dir), options, num_workers,
                     progress).run(overwrite)


def _check_arguments(max_seq_length, max_predictions_per_seq, masked_lm_prob, short_seq_prob,
                     dupe_factor, num_shards, input_format, num_workers, runner, pool_tokens):
    problems = []
    if max_seq_length < 5:
        problems.append(f"max_seq_length must be >= 5, got {max_seq_length}")
    if not 1 <= max_predictions_per_seq <= max_seq_length:
        problems.append(f"max_predictions_per_seq must be in [1, max_seq_length], got "
                        f"{max_predictions_per_seq}")
    if not 0 <= masked_lm_prob < 1:
        problems.append(f"masked_lm_prob must be in [0, 1) (0: unmasked sequences for "
                        f"`kbk pretrain --dynamic-masking`), got {masked_lm_prob}")
    if not 0 <= short_seq_prob <= 1:
        problems.append(f"short_seq_prob must be in [0, 1], got {short_seq_prob}")
    if dupe_factor < 1:
        problems.append(f"dupe_factor must be >= 1, got {dupe_factor}")
    if num_shards is not None and num_shards < 1:
        problems.append(f"num_shards must be >= 1 or None, got {num_shards}")
    if input_format not in INPUT_FORMATS:
        problems.append(f"input_format must be one of {INPUT_FORMATS}, got {input_format!r}")
    if num_workers < 1:
        problems.append(f"num_workers must be >= 1, got {num_workers}")
    if not isinstance(runner, str) or not runner:
        problems.append(f"runner must be 'local' or a Beam runner name ({', '.join(RUNNERS[1:])}),"
                        f" got {runner!r}")
    if pool_tokens < 1:
        problems.append(f"random_next_pool_tokens must be >= 1, got {pool_tokens}")
    if problems:
        raise ValueError("; ".join(problems) + ".")


# The local runner ------------------------------------------------------------------------------


class _LocalRun:
    """One local run: three passes over files in a scratch folder inside `output_dir`."""

    def __init__(self, files, vocab_file, output_dir, options, num_workers, progress):
        self.files, self.vocab_file, self.output_dir = files, os.fspath(vocab_file), output_dir
        self.options, self.num_workers, self.progress = options, num_workers, progress
        # The hidden scratch folder (`files.temporary_name`): a killed run's is swept by the next.
        self.scratch = temporary_name(os.path.join(output_dir, SHARD_PREFIX), "scratch")
        self.outbox = os.path.join(self.scratch, "shards")  # moved into `output_dir` at the end

    def run(self, overwrite):
        """Writes the shards and the statistics; returns the `PretrainingData`."""
        old_shards = _existing_shards(self.output_dir, overwrite)
        tokenizer = DocumentTokenizer(self.vocab_file, self.options["do_lower_case"])
        os.makedirs(self.output_dir, exist_ok=True)
        sweep_leftovers(self.output_dir)
        os.makedirs(os.path.join(self.scratch, "buckets"))
        os.makedirs(self.outbox)
        try:
            np.save(os.path.join(self.scratch, "is_continuation.npy"),
                    is_continuation_table(tokenizer.vocabulary))
            config = self._config(tokenizer)
            with _worker_pool(self.num_workers) as pool:
                corpus, units = self._tokenize(pool, tokenizer)
                num_buckets = self._num_buckets(corpus["corpus_tokens"])
                counts = self._create_instances(pool, config, units, num_buckets)
                names = shard_names(self.options["num_shards"], int(counts[0]),
                                    self.options["gzip"])
                shard_counts = self._write_shards(pool, names, num_buckets)
            stats = statistics(counts, corpus, names, shard_counts, self._arguments())
            return self._publish(names, stats, old_shards)
        finally:
            shutil.rmtree(self.scratch, ignore_errors=True)

    def _config(self, tokenizer):
        keys = ("max_seq_length", "max_predictions_per_seq", "masked_lm_prob", "short_seq_prob",
                "whole_word_mask", "seed")
        return InstanceConfig(vocabulary_size=len(tokenizer.vocabulary), **tokenizer.special_ids,
                              **{k: self.options[k] for k in keys})

    def _arguments(self):
        keys = ("max_seq_length", "max_predictions_per_seq", "masked_lm_prob", "short_seq_prob",
                "dupe_factor", "whole_word_mask", "do_lower_case", "seed", "gzip",
                "random_next_pool_tokens")
        return {**{k: self.options[k] for k in keys}, "input_files": self.files,
                "vocab_file": self.vocab_file, "runner": "local"}

    def _tokenize(self, pool, tokenizer):
        """Pass 1: reads and tokenizes the files, spills the pieces to disk in units of work and
        saves the random-next pool.

        Returns:
            `(corpus counts, [(offset, size)] of the units in the spill file)`.
        """
        options = self.options
        sample = RandomNextSample(options["seed"], options["random_next_pool_tokens"])
        spill = _Spill(os.path.join(self.scratch, "pieces.bin"),
                       max(1, _INSTANCE_TOKENS_PER_TASK // options["dupe_factor"]))
        corpus = dict(documents=0, sentences=0, corpus_tokens=0)
        tasks = [(path, options["input_format"], options["jsonl_text_field"])
                 for path in self.files]
        with spill, tqdm(total=len(tasks), desc="reading", unit="file",
                         disable=not self.progress) as bar:
            for documents in _ordered_map(pool, _read_file_task, tasks, window=4):
                for pieces in tokenizer.pieces(documents):
                    corpus["documents"] += 1
                    for piece in pieces:
                        corpus["sentences"] += len(piece.sentence_starts) - 1
                        corpus["corpus_tokens"] += piece.num_tokens
                        spill.add(piece)
                        sample.add(piece)
                bar.set_postfix(documents=corpus["documents"])
                bar.update()
        if not corpus["corpus_tokens"]:
            named = ", ".join(self.files[:5])
            if len(self.files) > 5:
                named += f" and {len(self.files) - 5} more files"
            raise ValueError(
                f"No text to create pretraining data from in {named}: the input holds no sentence "
                "with any token."
            )
        sample.pool().save(self.scratch)
        return corpus, spill.units

    def _num_buckets(self, corpus_tokens):
        """Buckets of about `_BUCKET_BYTES` of records, from an estimate of the records' size
        (pass 3 splits a bucket that turns out larger)."""
        length = self.options["max_seq_length"]
        predictions = self.options["max_predictions_per_seq"]
        bytes_per_record = 4 * length + 7 * predictions + 150
        records = self.options["dupe_factor"] * corpus_tokens / (0.8 * (length - 3))
        return int(min(_MAX_BUCKETS, max(1, math.ceil(records * bytes_per_record / _BUCKET_BYTES))))

    def _create_instances(self, pool, config, units, num_buckets):
        """Pass 2: the workers make the instances of every unit and append them to the buckets.

        Returns:
            The summed `COUNT_NAMES` of all records.
        """
        tasks = [(self.scratch, config, self.options["dupe_factor"], num_buckets, offset, size)
                 for offset, size in units]
        counts = np.zeros(len(COUNT_NAMES), np.int64)
        with tqdm(total=len(tasks), desc="instances", unit="unit",
                  disable=not self.progress) as bar:
            try:
                for task_counts in _ordered_map(pool, _instances_task, tasks, window=64):
                    counts += task_counts
                    bar.set_postfix(instances=int(counts[0]))
                    bar.update()
            finally:
                _worker_state.clear()  # with one worker, the state lives in this process
        return counts

    def _write_shards(self, pool, names, num_buckets):
        """Pass 3: the workers sort the buckets (split first when too large) while this process
        writes their records, in key order, into the shards in the scratch folder's outbox.

        Returns:
            Per shard `(records, masked positions, non-special tokens)`.
        """
        import tensorflow as tf

        options = tf.io.TFRecordOptions(compression_type="GZIP" if self.options["gzip"] else "")
        # Shard j starts at key ceil(j * 2**64 / num_shards) (see `shard_of`).
        starts = np.array([-(-(j << 64) // len(names)) for j in range(1, len(names))], np.uint64)
        shard_counts = np.zeros((len(names), 3), np.int64)
        writer, current = None, -1
        try:
            leaves = _bucket_leaves(os.path.join(self.scratch, "buckets"), num_buckets)
            sorted_leaves = _ordered_map(pool, _sort_task, leaves, window=self.num_workers + 1)
            for keys, masked, non_special, blob, ends in tqdm(
                    sorted_leaves, total=len(leaves), desc="shuffling", unit="bucket",
                    disable=not self.progress):
                shards = np.searchsorted(starts, keys, side="right")
                record_starts, record_ends = np.r_[0, ends[:-1]].tolist(), ends.tolist()
                for shard in np.unique(shards).tolist():
                    first, end = np.searchsorted(shards, [shard, shard + 1]).tolist()
                    while current < shard:
                        writer, current = self._next_writer(writer, names, current, options)
                    for record_start, record_end in zip(record_starts[first:end],
                                                        record_ends[first:end]):
                        writer.write(blob[record_start:record_end])
                    shard_counts[shard] += (end - first, masked[first:end].sum(),
                                            non_special[first:end].sum())
            while current < len(names) - 1:  # shards that no key fell into are empty files
                writer, current = self._next_writer(writer, names, current, options)
        finally:
            if writer is not None:
                writer.close()
        return shard_counts.tolist()

    def _next_writer(self, writer, names, current, options):
        import tensorflow as tf

        if writer is not None:
            writer.close()
        path = os.path.join(self.outbox, names[current + 1])
        return tf.io.TFRecordWriter(path, options), current + 1

    def _publish(self, names, stats, old_shards):
        """Writes the statistics and moves the shards, then the statistics, into place (synced,
        each rename atomic: `files.merge_folder_into_place`); removes stale old shards."""
        with open(os.path.join(self.outbox, STATS_FILE), "w", encoding="utf-8") as f:
            json.dump(stats, f, indent=2)
            f.write("\n")
        shards = [os.path.join(self.output_dir, name) for name in names]
        for path in old_shards:
            if path not in shards:
                os.remove(path)
        merge_folder_into_place(self.outbox, self.output_dir)  # name order: the stats file last
        return PretrainingData(shards=shards, stats_file=os.path.join(self.output_dir, STATS_FILE),
                               stats=stats)


class _Spill:
    """The tokenized pieces on disk, pickled in units of about `unit_tokens` tokens."""

    def __init__(self, path, unit_tokens):
        self.path, self.unit_tokens = path, unit_tokens
        self.units, self._pending, self._tokens = [], [], 0
        self._file = open(path, "wb")

    def __enter__(self):
        return self

    def __exit__(self, *error):
        if self._pending and error[0] is None:
            self._flush()
        self._file.close()

    def add(self, piece):
        self._pending.append(piece)
        self._tokens += piece.num_tokens
        if self._tokens >= self.unit_tokens:
            self._flush()

    def _flush(self):
        data = pickle.dumps(self._pending, protocol=pickle.HIGHEST_PROTOCOL)
        self.units.append((self._file.tell(), len(data)))
        self._file.write(data)
        self._pending, self._tokens = [], 0


def _read_file_task(task):
    path, input_format, jsonl_text_field = task
    with open(path, "rb") as f:
        return read_file_documents(path, f.read(), input_format, jsonl_text_field)


_worker_state = {}  # this process's `InstanceMaker`, keyed by (scratch folder, config)


def _instances_task(task):
    """Makes the records of one unit of the spill file in every pass and appends them, framed,
    to this process's file of each bucket; returns their summed counts."""
    scratch, config, dupe_factor, num_buckets, offset, size = task
    maker = _worker_state.get((scratch, config))
    if maker is None:
        _worker_state.clear()
        maker = _worker_state[(scratch, config)] = InstanceMaker(
            config, np.load(os.path.join(scratch, "is_continuation.npy")),
            RandomNextPool.load(scratch),
        )
    with open(os.path.join(scratch, "pieces.bin"), "rb") as f:
        f.seek(offset)
        pieces = pickle.loads(f.read(size))
    buckets = collections.defaultdict(list)
    counts = np.zeros(len(COUNT_NAMES), np.int64)
    for piece in pieces:
        for dupe in range(dupe_factor):
            made = maker.instances(piece, dupe)
            counts += made.counts
            for key, record, masked, non_special in zip(made.keys, made.records, made.masked,
                                                        made.non_special):
                frames = buckets[key * num_buckets >> 64]
                frames.append(_FRAME.pack(key, masked, non_special, len(record)))
                frames.append(record)
    for bucket, frames in buckets.items():
        path = os.path.join(scratch, "buckets", f"{bucket:05d}-{os.getpid()}.bin")
        with open(path, "ab") as f:
            f.write(b"".join(frames))
    return counts


def _bucket_leaves(folder, num_buckets):
    """`[(paths, low, high)]`, in key order, of the bucket files in `folder` (keys in
    `[low, high)`), each holding at most about twice `_BUCKET_BYTES`: larger buckets are split
    by key range into `_SUB_BUCKETS` files first, again if need be."""
    by_bucket = collections.defaultdict(list)
    for name in sorted(os.listdir(folder)):
        by_bucket[int(name.partition("-")[0])].append(os.path.join(folder, name))
    leaves = []
    for bucket in range(num_buckets):
        low, high = (-(-(b << 64) // num_buckets) for b in (bucket, bucket + 1))
        leaves += _split_bucket(by_bucket[bucket], low, high, folder)
    return leaves


def _split_bucket(paths, low, high, folder):
    """The leaves of one bucket (see `_bucket_leaves`); split files replace `paths`."""
    if sum(os.path.getsize(p) for p in paths) <= 2 * _BUCKET_BYTES or high - low <= _SUB_BUCKETS:
        return [(paths, low, high)]
    width = -(-(high - low) // _SUB_BUCKETS)
    parts = [os.path.join(folder, f"split-{low:020d}-{i:02d}.bin") for i in range(_SUB_BUCKETS)]
    files = [open(p, "wb") for p in parts]
    try:
        for path in paths:
            with open(path, "rb") as f:
                while header := f.read(_FRAME.size):
                    key, _, _, length = _FRAME.unpack(header)
                    files[(key - low) // width].write(header + f.read(length))
            os.remove(path)
    finally:
        for f in files:
            f.close()
    leaves = []
    for i, part in enumerate(parts):
        leaves += _split_bucket([part], low + i * width, min(high, low + (i + 1) * width), folder)
    return leaves


def _sort_task(leaf):
    """The records of bucket files sorted by key, then bytes: `(keys, masked, non_special, blob,
    ends)`, record `i` being `blob[ends[i - 1]:ends[i]]`."""
    paths, _, _ = leaf
    records = []
    for path in paths:
        with open(path, "rb") as f:
            data = f.read()
        position = 0
        while position < len(data):
            key, masked, non_special, length = _FRAME.unpack_from(data, position)
            position += _FRAME.size + length
            records.append((key, data[position - length:position], masked, non_special))
    records.sort()
    columns = list(zip(*records)) or [(), (), (), ()]
    return (np.array(columns[0], np.uint64), np.array(columns[2], np.int64),
            np.array(columns[3], np.int64), b"".join(columns[1]),
            np.cumsum([len(r) for r in columns[1]], dtype=np.int64))


@contextlib.contextmanager
def _worker_pool(num_workers):
    """Yields a process pool of `num_workers`, or `None` (work in this process) for 1 worker.

    The pool uses the `forkserver` start method: workers never inherit TensorFlow's threads.
    """
    if num_workers == 1:
        yield None
        return
    with multiprocessing.get_context("forkserver").Pool(num_workers) as pool:
        yield pool


def _ordered_map(pool, function, tasks, window):
    """Yields `function(task)` in task order, with at most `window` tasks queued or done and not
    yet taken (so that results do not pile up in memory); in this process when `pool` is None."""
    if pool is None:
        yield from map(function, tasks)
        return
    pending = collections.deque()
    for task in tasks:
        pending.append(pool.apply_async(function, (task,)))
        if len(pending) >= window:
            yield pending.popleft().get()
    while pending:
        yield pending.popleft().get()


def _existing_shards(output_dir, overwrite):
    """Paths of the shards of an earlier run in `output_dir`; an error unless `overwrite`."""
    existing = os.listdir(output_dir) if os.path.isdir(output_dir) else []
    old_shards = sorted(f for f in existing if _SHARD_NAME.match(f))
    if old_shards and not overwrite:
        raise FileExistsError(
            f"{output_dir} already holds pretraining shards ({old_shards[0]}, ...); pass "
            "overwrite=True (--overwrite) to replace them or choose another output folder."
        )
    return [os.path.join(output_dir, f) for f in old_shards]
