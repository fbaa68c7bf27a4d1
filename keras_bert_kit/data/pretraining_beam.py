"""Pretraining data with Apache Beam: the same records as the local runner, on a cluster.

`create_pretraining_data(..., runner="DataflowRunner", pipeline_options=[...])` (or
`kbk pretrain-data --runner ...`) runs `run_beam_pipeline`, which builds the records with the
instance-creation core that the local runner uses too (`pretraining_documents.py`,
`pretraining_pieces.py`, `pretraining_instances.py`, `pretraining_output.py`):

1. expand the input patterns by the rule of `files.expand_file_patterns` (paths, folders,
   globs; remote ones through Beam's file systems: `gs://`, `s3://`, `hdfs://`), spread the files over the workers, read and split each file into documents and
   tokenize them into pieces (`DocumentTokenizer`; each file is read whole by one worker);
2. combine the pieces into the seeded random-next sample (`RandomNextSample` as a `CombineFn`:
   the same set on any runner), handed to every worker as a side input;
3. make every piece's records in every pass (`InstanceMaker`, seeded per piece and pass), key
   each by its shard (`shard_of` its 64-bit shuffle key), group by shard (the global shuffle),
   sort each shard by key and write it under a temporary name;
4. when every shard is written, rename them into place and write `pretraining_stats.json`.

For the same inputs and seed the shards are byte-identical to the local runner's. Memory per
worker on a distributed runner (Dataflow, Flink, Spark: the shuffle is the service's, out of the
workers): the random-next sample, one input file and one shard's records (default 100,000).

`"DirectRunner"` here is Beam's FnApiRunner on this machine (`--direct_num_workers`,
`--direct_running_mode`), for tests and small corpora: it holds every PCollection between fused
stages and every `GroupByKey` in the memory of its own process (`ListBuffer` and `GroupingBuffer`
in `apache_beam/runners/portability/fn_api_runner/execution.py`), so its memory grows with the
corpus (≈ 2.4 GB per 3.6 M words, `bench/results_pretraining_data.md`); the local runner
(`runner="local"`) stays flat. Beam's own `DirectRunner` name would first try the Prism runner,
which downloads a Go binary from GitHub on first use and ignores the `--direct_*` flags
(`SwitchingDirectRunner.run_pipeline` in `apache_beam/runners/direct/direct_runner.py`); here it
does not (`runner="PrismRunner"` still picks Prism).

Install with `pip install keras-bert-kit[beam]` (`apache-beam` 2.78; it needs protobuf < 7,
which TensorFlow 2.21 accepts: pip installs protobuf 6.33). Command lines:

    # this machine, several processes (small corpora: memory grows with the corpus)
    kbk pretrain-data --input 'corpus/*.txt' --vocab vocab.txt --output records \\
        --runner DirectRunner --direct_num_workers=8 --direct_running_mode=multi_processing
    # Google Cloud Dataflow (workers need this package: --setup_file or --extra_package)
    kbk pretrain-data --input 'gs://bucket/wiki/*' --vocab gs://bucket/vocab.txt \\
        --output gs://bucket/records --runner DataflowRunner --project=my-project \\
        --region=us-central1 --temp_location=gs://bucket/tmp --max_num_workers=64 \\
        --extra_package=dist/keras_bert_kit-0.1.0.tar.gz
    # Flink or Spark (a job server for the cluster)
    kbk pretrain-data ... --runner FlinkRunner --flink_master=host:8081 --environment_type=LOOPBACK
    kbk pretrain-data ... --runner SparkRunner --spark_master_url=spark://host:7077

What does not live here: the instance rules (the modules above) and the local runner
(`pretraining_data.py`).
"""

import json
import os
import re
import tempfile
import uuid

import numpy as np

from keras_bert_kit.data.pretraining_documents import read_file_documents
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
    shard_of,
    statistics,
)
from keras_bert_kit.data.pretraining_pieces import DocumentTokenizer, RandomNextSample
from keras_bert_kit.errors import UserError
from keras_bert_kit.files import expand_file_patterns

try:
    import apache_beam as beam
    from apache_beam.io.filesystem import BeamIOError
    from apache_beam.io.filesystems import FileSystems
    from apache_beam.options.pipeline_options import PipelineOptions, StandardOptions
except ImportError:  # an optional extra: `run_beam_pipeline` says how to install it
    beam = None

_SHARD_NAME = re.compile(rf"^{SHARD_PREFIX}-\d{{5}}-of-\d{{5}}\.tfrecord(\.gz)?$")
_UNCOMPRESSED = "uncompressed"  # Beam would otherwise (un)gzip `.gz` names on the fly


def run_beam_pipeline(input_files, vocab_file, output_dir, options, *, runner="DirectRunner",
                      pipeline_options=None, num_workers=2, overwrite=False):
    """Runs the pretraining-data pipeline on a Beam runner; `create_pretraining_data` calls it.

    Args:
        input_files: paths, directories or glob patterns, local or in any Beam filesystem.
        vocab_file: the WordPiece `vocab.txt` (local or in any Beam filesystem).
        output_dir: the folder for the shards and the statistics (local or remote).
        options: the instance and output arguments of `create_pretraining_data`
            (`max_seq_length` ... `random_next_pool_tokens`).
        runner: a Beam runner name (`"DirectRunner"`: the FnApiRunner on this machine, for small
            corpora; `"DataflowRunner"`, `"FlinkRunner"`, ...).
        pipeline_options: Beam pipeline options: command-line flags or a `PipelineOptions`.
        num_workers: for the DirectRunner without `--direct_*` flags: its worker processes.
        overwrite: replace the shards of an earlier run.

    Returns:
        A `PretrainingData`.

    Example:
    >>> from pathlib import Path
    >>> _ = Path("vocab.txt").write_text("\\n".join(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]",
    ...                                              "the", "cat", "sat", "."]))
    >>> _ = Path("corpus.txt").write_text("The cat sat.\\nThe cat.\\n\\nCat sat.\\nThe sat.\\n")
    >>> options = dict(max_seq_length=16, max_predictions_per_seq=4, masked_lm_prob=0.15,
    ...                short_seq_prob=0.1, dupe_factor=2, whole_word_mask=False,
    ...                do_lower_case=True, seed=1, num_shards=1, gzip=False,
    ...                input_format="auto", jsonl_text_field="text",
    ...                random_next_pool_tokens=1000)
    >>> result = run_beam_pipeline("corpus.txt", "vocab.txt", "out", options,  # doctest: +SKIP
    ...                            num_workers=1)
    >>> result.stats["documents"]  # doctest: +SKIP
    2
    """
    if beam is None:
        raise UserError(f"runner={runner!r} needs Apache Beam: pip install "
                        "'keras-bert-kit[beam]' (or apache-beam==2.78.0), or use the local runner")
    files = match_input_files(input_files)
    output_dir = os.fspath(output_dir).rstrip("/")
    old_shards = _existing_shards(output_dir, overwrite)
    tokenizer = DocumentTokenizer(_read_vocabulary(os.fspath(vocab_file)),
                                  options["do_lower_case"])
    keys = ("max_seq_length", "max_predictions_per_seq", "masked_lm_prob", "short_seq_prob",
            "whole_word_mask", "seed")
    config = InstanceConfig(vocabulary_size=len(tokenizer.vocabulary), **tokenizer.special_ids,
                            **{k: options[k] for k in keys})
    arguments = {k: options[k] for k in (
        "max_seq_length", "max_predictions_per_seq", "masked_lm_prob", "short_seq_prob",
        "dupe_factor", "whole_word_mask", "do_lower_case", "seed", "gzip",
        "random_next_pool_tokens")}
    arguments.update(input_files=files, vocab_file=os.fspath(vocab_file), runner=runner)
    if "://" not in output_dir:
        os.makedirs(output_dir, exist_ok=True)
    run = _BeamRun(output_dir, uuid.uuid4().hex[:12], options, arguments, old_shards)
    beam_options = _pipeline_options(runner, pipeline_options, num_workers)
    try:
        with beam.Pipeline(runner=_direct_runner(beam_options) if runner == "DirectRunner"
                           else None, options=beam_options) as pipeline:
            run.build(pipeline, files, tokenizer.vocabulary, config)
    except BaseException:
        _delete(_match(f"{output_dir}/.*.tmp-{run.run_id}"))
        raise
    stats_file = f"{output_dir}/{STATS_FILE}"
    with FileSystems.open(stats_file, compression_type=_UNCOMPRESSED) as f:
        stats = json.loads(f.read().decode("utf-8"))
    return PretrainingData(shards=[f"{output_dir}/{name}" for name in stats["shards"]],
                           stats_file=stats_file, stats=stats)


def match_input_files(input_files):
    """Expands paths, folders and glob patterns, local or in any Beam file system.

    The one rule of `files.expand_file_patterns` (each pattern's files sorted, patterns in the
    given order, a file named twice kept once); `://` paths are looked up with Beam's
    `FileSystems` (`gs://`, `s3://`, `hdfs://`, ...).

    Args:
        input_files: a path or pattern, or a list of them.

    Returns:
        A list of file paths.

    Raises:
        UserError: a pattern that matches no file.

    Example:
    >>> _ = open("a.txt", "w").write("Some text.")
    >>> match_input_files(["a.txt", "*.txt"])
    ['a.txt']
    """
    return expand_file_patterns(input_files, "input_files (--input)", remote=_BeamFiles())


class _BeamFiles:
    """Beam's `FileSystems` for `files.expand_file_patterns`. Object stores have no folders: a
    path is one when it ends in "/" or files lie under it; a name ending in "/" is no file."""

    @staticmethod
    def glob(pattern):
        return [path for path in _match(pattern) if not path.endswith("/")]

    def files_in(self, folder):
        return self.glob(folder.rstrip("/") + "/*")  # Beam's `*` stays within one folder

    def isdir(self, path):
        return path.endswith("/") or (not FileSystems.exists(path) and bool(self.files_in(path)))

    @staticmethod
    def isfile(path):
        return not path.endswith("/") and FileSystems.exists(path)


class _BeamRun:
    """The pipeline of one run (see the module docstring) and its finishing step."""

    def __init__(self, output_dir, run_id, options, arguments, old_shards):
        self.output_dir, self.run_id, self.options = output_dir, run_id, options
        self.arguments, self.old_shards = arguments, old_shards

    def build(self, pipeline, files, vocabulary, config):
        """Adds the transforms to `pipeline`."""
        options, side = self.options, beam.pvalue.AsSingleton
        read = (pipeline | "Files" >> beam.Create(files) | "SpreadFiles" >> beam.Reshuffle()
                | "Tokenize" >> beam.ParDo(_TokenizeFiles(
                    vocabulary, options["do_lower_case"], options["input_format"],
                    options["jsonl_text_field"])).with_outputs("corpus", main="pieces"))
        corpus = read.corpus | "CorpusCounts" >> beam.CombineGlobally(_SumCombineFn(3))
        pool = read.pieces | "RandomNextSample" >> beam.CombineGlobally(
            _RandomNextCombineFn(options["seed"], options["random_next_pool_tokens"]))
        made = (read.pieces | "SpreadPieces" >> beam.Reshuffle()
                | "Instances" >> beam.ParDo(
                    _MakeInstances(config, is_continuation_table(vocabulary),
                                   options["dupe_factor"]), side(pool)
                ).with_outputs("counts", main="records"))
        counts = made.counts | "InstanceCounts" >> beam.CombineGlobally(
            _SumCombineFn(len(COUNT_NAMES)))
        num_shards = counts | "NumShards" >> beam.Map(
            lambda c: len(shard_names(options["num_shards"], int(c[0]), options["gzip"])))
        keyed = made.records | "ShardOf" >> beam.FlatMap(_split_by_shard, side(num_shards))
        every_shard = num_shards | "EveryShard" >> beam.FlatMap(
            lambda n: [(j, None) for j in range(n)])
        written = ((keyed, every_shard) | "Together" >> beam.Flatten()
                   | "Shuffle" >> beam.GroupByKey()
                   | "WriteShards" >> beam.Map(self.write_shard, side(num_shards)))
        _ = (pipeline | "Once" >> beam.Create([None])
             | "Finish" >> beam.Map(self.finish, beam.pvalue.AsList(written), side(counts),
                                    side(corpus)))

    def write_shard(self, shard_and_records, num_shards):
        """Writes one shard's records, sorted by key, under a temporary name.

        Returns:
            `(shard, (records, masked positions, non-special tokens))`.
        """
        import tensorflow as tf

        shard, batches = shard_and_records
        records = sorted(r for batch in batches if batch is not None for r in zip(*batch))
        name = shard_names(num_shards, 0, self.options["gzip"])[shard]
        compression = "GZIP" if self.options["gzip"] else ""
        with tempfile.TemporaryDirectory() as folder:
            local = os.path.join(folder, name)
            with tf.io.TFRecordWriter(local, tf.io.TFRecordOptions(compression_type=compression)) \
                    as writer:
                for record in records:
                    writer.write(record[1])
            with open(local, "rb") as source, FileSystems.create(
                    self._temporary(name), compression_type=_UNCOMPRESSED) as target:
                while chunk := source.read(16 << 20):
                    target.write(chunk)
        return shard, (len(records), sum(r[2] for r in records), sum(r[3] for r in records))

    def finish(self, _, written, counts, corpus):
        """Writes the statistics and renames every shard into place (after all are written)."""
        if not corpus[2]:
            named = ", ".join(self.arguments["input_files"][:5])
            raise ValueError(f"No text to create pretraining data from in {named}: the input "
                             "holds no sentence with any token.")
        written = sorted(written)
        names = shard_names(len(written), 0, self.options["gzip"])
        stats = statistics(counts, dict(zip(("documents", "sentences", "corpus_tokens"),
                                            np.asarray(corpus).tolist())),
                           names, [c for _, c in written], self.arguments)
        with FileSystems.create(self._temporary(STATS_FILE), compression_type=_UNCOMPRESSED) as f:
            f.write((json.dumps(stats, indent=2) + "\n").encode("utf-8"))
        finals = [f"{self.output_dir}/{name}" for name in names]
        _delete([p for p in self.old_shards if p not in finals])
        sources = [self._temporary(name) for name in [*names, STATS_FILE]]
        FileSystems.rename(sources, [*finals, f"{self.output_dir}/{STATS_FILE}"])

    def _temporary(self, name):
        return f"{self.output_dir}/.{name}.tmp-{self.run_id}"


if beam is not None:

    class _TokenizeFiles(beam.DoFn):
        """file path → `DocumentPiece`s; per file, a `corpus` output of (documents, sentences,
        tokens)."""

        def __init__(self, vocabulary, lowercase, input_format, jsonl_text_field):
            self.vocabulary, self.lowercase = vocabulary, lowercase
            self.input_format, self.jsonl_text_field = input_format, jsonl_text_field
            self.tokenizer = None

        def setup(self):
            self.tokenizer = DocumentTokenizer(self.vocabulary, self.lowercase)

        def process(self, path):
            with FileSystems.open(path, compression_type=_UNCOMPRESSED) as f:
                documents = read_file_documents(path, f.read(), self.input_format,
                                                self.jsonl_text_field)
            counts = np.zeros(3, np.int64)
            for pieces in self.tokenizer.pieces(documents):
                counts[0] += 1
                for piece in pieces:
                    counts[1:] += (len(piece.sentence_starts) - 1, piece.num_tokens)
                    yield piece
            yield beam.pvalue.TaggedOutput("corpus", counts)

    class _MakeInstances(beam.DoFn):
        """piece (+ the random-next pool) → the records of every pass as one batch
        `(keys, records, masked, non_special)` (few large elements: less overhead per record);
        a `counts` output of their summed `COUNT_NAMES`."""

        def __init__(self, config, is_continuation, dupe_factor):
            self.config, self.is_continuation = config, is_continuation
            self.dupe_factor = dupe_factor
            self._maker = None

        def process(self, piece, pool):
            if self._maker is None or self._maker.pool is not pool:
                self._maker = InstanceMaker(self.config, self.is_continuation, pool)
            batch, counts = ([], [], [], []), np.zeros(len(COUNT_NAMES), np.int64)
            for dupe in range(self.dupe_factor):
                made = self._maker.instances(piece, dupe)
                counts += made.counts
                for column, values in zip(batch, made[:4]):
                    column.extend(values)
            yield batch
            yield beam.pvalue.TaggedOutput("counts", counts)

    class _SumCombineFn(beam.CombineFn):
        """Sums int64 count vectors of `size` (zeros when there are none)."""

        def __init__(self, size):
            self.size = size

        def create_accumulator(self):
            return np.zeros(self.size, np.int64)

        def add_input(self, total, counts):
            return total + counts

        def merge_accumulators(self, totals):
            return sum(totals, np.zeros(self.size, np.int64))

        def extract_output(self, total):
            return total

    class _RandomNextCombineFn(beam.CombineFn):
        """Pieces → the `RandomNextPool` of their `RandomNextSample`."""

        def __init__(self, seed, budget):
            self.seed, self.budget = seed, budget

        def create_accumulator(self):
            return RandomNextSample(self.seed, self.budget)

        def add_input(self, sample, piece):
            sample.add(piece)
            return sample

        def merge_accumulators(self, samples):
            samples = list(samples)
            for other in samples[1:]:
                samples[0].merge(other)
            return samples[0]

        def extract_output(self, sample):
            return sample.pool()


def _split_by_shard(batch, num_shards):
    """`(shard, part of the batch)` for each shard that records of `batch` fall into."""
    parts = {}
    for key, record, masked, non_special in zip(*batch):
        part = parts.setdefault(shard_of(key, num_shards), ([], [], [], []))
        for column, value in zip(part, (key, record, masked, non_special)):
            column.append(value)
    return parts.items()


def _pipeline_options(runner, flags, num_workers):
    """`PipelineOptions` for `runner`: the given ones, and for the DirectRunner without
    `--direct_*` flags, `num_workers` processes."""
    if isinstance(flags, PipelineOptions):
        options = flags
    else:
        flags = list(flags or [])
        if (runner == "DirectRunner" and num_workers > 1
                and not any(f.startswith("--direct_") for f in flags)):
            flags += [f"--direct_num_workers={num_workers}",
                      "--direct_running_mode=multi_processing"]
        options = PipelineOptions(flags)
    options.view_as(StandardOptions).runner = runner
    return options


def _direct_runner(options):
    """The runner for `"DirectRunner"`: Beam's FnApiRunner, as `SwitchingDirectRunner` makes it
    for a batch pipeline once Prism is out of the way (it hands the pipeline options on to the
    SDK workers), so a run never downloads Prism and keeps the `--direct_*` flags."""
    from apache_beam.portability.api import beam_provision_api_pb2
    from apache_beam.runners.portability.fn_api_runner import fn_runner
    from apache_beam.runners.portability.portable_runner import JobServiceHandle

    encoded = JobServiceHandle.encode_pipeline_options(options.get_all_options())
    return fn_runner.FnApiRunner(provision_info=fn_runner.ExtendedProvisionInfo(
        beam_provision_api_pb2.ProvisionInfo(pipeline_options=encoded)))


def _read_vocabulary(vocab_file):
    """The vocabulary: a local path as is (errors name it), a remote file as its tokens."""
    if "://" not in vocab_file:
        return vocab_file
    with FileSystems.open(vocab_file, compression_type=_UNCOMPRESSED) as f:
        tokens = f.read().decode("utf-8").split("\n")
    return [t.removesuffix("\r") for t in (tokens[:-1] if tokens[-1] == "" else tokens)]


def _existing_shards(output_dir, overwrite):
    """Paths of the shards of an earlier run in `output_dir`; an error unless `overwrite`."""
    old_shards = sorted(p for p in _match(f"{output_dir}/{SHARD_PREFIX}-*")
                        if _SHARD_NAME.match(p.rpartition("/")[2]))
    if old_shards and not overwrite:
        raise FileExistsError(
            f"{output_dir} already holds pretraining shards ({old_shards[0]}, ...); pass "
            "overwrite=True (--overwrite) to replace them or choose another output folder."
        )
    return old_shards


def _match(pattern):
    """Paths matching `pattern` in its Beam filesystem (none when its folder does not exist)."""
    try:
        return [m.path for m in FileSystems.match([pattern])[0].metadata_list]
    except BeamIOError:
        return []


def _delete(paths):
    if paths:
        FileSystems.delete(paths)
