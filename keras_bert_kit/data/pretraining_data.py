"""Static pretraining data: raw text -> sharded TFRecords of masked-LM + next-sentence instances.

`create_pretraining_data` follows google-research/bert's `create_pretraining_data.py`: documents are
cut into `[CLS] A [SEP] B [SEP]` pairs of up to `max_seq_length` tokens (shorter with probability
`short_seq_prob`), B is the true continuation of A or, half of the time, text from another random
document (`next_sentence_labels` 0 = is next, 1 = random); `masked_lm_prob` of the tokens (at most
`max_predictions_per_seq`, at least one) are chosen for prediction, of which 80 % become `[MASK]`,
10 % stay and 10 % become a random vocabulary id; with `whole_word_mask` all word pieces of a word
are chosen together; every document is used `dupe_factor` times with different masks. The
records have Google's features, so the files also feed Google's `run_pretraining.py`.

Differences from Google's script (small; an instance looks the same): each input file starts a
new document; a word piece right after `[SEP]` starts a new whole word; documents longer than
50,000 tokens are processed in pieces of about that size (each piece drawing its own target
length); the random numbers come from one generator per unit of work (about 50,000 tokens of one
pass), not one for the whole corpus, so the work spreads over `num_workers` processes and the same
seed gives byte-identical shards for any number of workers. Like Google's script, it holds the
whole corpus and all instances in memory (about 1 KB per instance); split very large corpora into
several runs.

Input formats: Google's (one sentence per line, blank line between documents), prose (paragraphs
separated by blank lines, lines may be wrapped; sentences are found by `sentence_splitter`; a
chapter heading line, `CHAPTER ...` or `Chapter <number>`, starts a new document, otherwise a file
is one document) and JSON Lines (one document per line, text in `jsonl_text_field`, split like
prose).

The worker processes run plain Python and NumPy: TensorFlow is imported (inside the functions that
need it) only by the main process, for tokenizing and writing, and records are encoded by
`_ExampleEncoder`, which writes exactly the bytes of
`tf.train.Example.SerializeToString(deterministic=True)`.
"""

import contextlib
import dataclasses
import glob
import json
import math
import multiprocessing
import os
import random
import re
import tempfile

import numpy as np
from tqdm.auto import tqdm

from keras_bert_kit.data import sentence_splitter

INPUT_FORMATS = ("auto", "google", "prose", "jsonl")
SHARD_PREFIX = "pretraining"
STATS_FILE = "pretraining_stats.json"
# Default number of instances per shard when `num_shards` is not given.
INSTANCES_PER_SHARD = 100_000
# Documents are grouped into work units of about this many tokens (one random generator each).
_TOKENS_PER_TASK = 50_000
_TOKENIZER_BATCH = 4096
# A chapter heading line: "CHAPTER ..." or "Chapter" and a number ("Chapter 12", "Chapter IV").
_CHAPTER = re.compile(
    r"^[ \t]*(?:CHAPTER\b|Chapter[ \t]+(?:\d+|[IVXLC]+)\b)[^\n]*$", re.MULTILINE
)
_SHARD_NAME = re.compile(rf"^{SHARD_PREFIX}-\d{{5}}-of-\d{{5}}\.tfrecord(\.gz)?$")


@dataclasses.dataclass
class PretrainingData:
    """What `create_pretraining_data` wrote.

    Attributes:
        shards: paths of the TFRecord shards, in order.
        stats_file: path of the JSON statistics file next to the shards.
        stats: the statistics (also in `stats_file`): counts, masked fraction, replacement split,
            next-sentence ratio and the arguments used.
    """

    shards: list
    stats_file: str
    stats: dict


def create_pretraining_data(
    input_files, vocab_file, output_dir, *, max_seq_length=128, max_predictions_per_seq=20,
    masked_lm_prob=0.15, short_seq_prob=0.1, dupe_factor=10, whole_word_mask=False,
    do_lower_case=True, seed=12345, num_shards=None, gzip=False, input_format="auto",
    jsonl_text_field="text", num_workers=2, progress=True, overwrite=False,
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
        input_files: a path, directory or glob pattern, or a list of them (UTF-8 text files).
        vocab_file: WordPiece `vocab.txt` with `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]` and `[MASK]`.
        output_dir: folder for the shards and the statistics (created if needed).
        max_seq_length: tokens per instance, `[CLS]` and both `[SEP]` included.
        max_predictions_per_seq: most masked-LM predictions per instance.
        masked_lm_prob: fraction of each instance's tokens to predict.
        short_seq_prob: probability of a shorter target length (2 .. max_seq_length - 3).
        dupe_factor: how many times each document is used, with different pairs and masks.
        whole_word_mask: choose whole words (a piece and its `##` continuations) for masking.
        do_lower_case: lower-case and strip accents, for uncased vocabularies.
        seed: random seed; the same seed and inputs give byte-identical shards.
        num_shards: number of output shards; `None` = one per 100,000 instances (at least 1).
        gzip: write GZIP-compressed TFRecords.
        input_format: `"google"`, `"prose"`, `"jsonl"` or `"auto"` (decided per file: `.jsonl` /
            `.json` files and files whose first line is a JSON object are JSON Lines; files with
            chapter headings, one paragraph per line or lines that mostly do not end a sentence
            are prose; others are Google's format).
        jsonl_text_field: field of each JSON Lines record that holds the document text.
        num_workers: processes reading files and creating instances (the output does not depend
            on it).
        progress: show tqdm progress bars.
        overwrite: replace shards of an earlier run in `output_dir`; otherwise their presence is
            an error.

    Returns:
        A `PretrainingData` with the shard paths, the statistics file path and the statistics.

    Raises:
        FileNotFoundError: an input file or the vocabulary is missing.
        FileExistsError: `output_dir` already holds shards and `overwrite` is false.
        ValueError: a binary or non-UTF-8 input file, a bad JSON Lines record, an input without
            any text, a vocabulary without the special tokens, or an invalid argument (the message
            names the file and line).

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
    >>> 4 <= result.stats["instances"] <= 8  # one or two pairs per document and pass
    True
    >>> sorted(os.listdir("out"))
    ['pretraining-00000-of-00001.tfrecord', 'pretraining_stats.json']
    """
    _check_arguments(
        max_seq_length, max_predictions_per_seq, masked_lm_prob, short_seq_prob, dupe_factor,
        num_shards, input_format, num_workers,
    )
    files = expand_input_files(input_files)
    output_dir = os.fspath(output_dir)
    old_shards = _existing_shards(output_dir, overwrite)
    tokenizer = _load_tokenizer(vocab_file, do_lower_case)
    config = _InstanceConfig.from_tokenizer(
        tokenizer, max_seq_length=max_seq_length, max_predictions_per_seq=max_predictions_per_seq,
        masked_lm_prob=masked_lm_prob, short_seq_prob=short_seq_prob,
        whole_word_mask=whole_word_mask, seed=seed,
    )
    os.makedirs(output_dir, exist_ok=True)
    corpus, records, counts = _corpus_and_instances(
        files, tokenizer, config, dupe_factor, input_format, jsonl_text_field, num_workers,
        progress, output_dir,
    )
    random.Random(seed).shuffle(records)
    shards = _shard_paths(output_dir, num_shards, len(records), gzip)
    stats = _statistics(counts, corpus, shards, dict(
        max_seq_length=max_seq_length, max_predictions_per_seq=max_predictions_per_seq,
        masked_lm_prob=masked_lm_prob, short_seq_prob=short_seq_prob, dupe_factor=dupe_factor,
        whole_word_mask=whole_word_mask, do_lower_case=do_lower_case, seed=seed, gzip=gzip,
        input_files=files, vocab_file=os.fspath(vocab_file),
    ))
    stats_file = os.path.join(output_dir, STATS_FILE)
    _write_atomically(shards, records, stats_file, stats, gzip, progress, old_shards)
    return PretrainingData(shards=shards, stats_file=stats_file, stats=stats)


def expand_input_files(input_files):
    """Expands paths, directories and glob patterns into a sorted-per-pattern list of files.

    Args:
        input_files: a path, directory or glob pattern, or a list of them.

    Returns:
        A list of file paths: each pattern's matches sorted, patterns in the given order,
        duplicates dropped.

    Raises:
        FileNotFoundError: a path or pattern that matches no file.

    Example:
    >>> for name in ("b.txt", "a.txt", "notes.md"):
    ...     _ = open(name, "w").write("Some text.")
    >>> expand_input_files(["*.txt", "b.txt", "notes.md"])
    ['a.txt', 'b.txt', 'notes.md']
    """
    if isinstance(input_files, (str, os.PathLike)):
        input_files = [input_files]
    files, seen = [], set()
    for pattern in map(os.fspath, input_files):
        if os.path.isdir(pattern):
            matches = sorted(os.path.join(pattern, f) for f in os.listdir(pattern)
                             if not f.startswith(".") and os.path.isfile(os.path.join(pattern, f)))
        elif glob.has_magic(pattern):
            matches = sorted(f for f in glob.glob(pattern) if os.path.isfile(f))
        else:
            matches = [pattern] if os.path.isfile(pattern) else []
        if not matches:
            raise FileNotFoundError(f"No input file matches {pattern!r}.")
        files.extend(f for f in matches if f not in seen)
        seen.update(matches)
    return files


def read_documents(path, input_format="auto", jsonl_text_field="text"):
    """Reads one text file into documents, each a list of sentence strings.

    Args:
        path: a UTF-8 text file.
        input_format: `"google"`, `"prose"`, `"jsonl"` or `"auto"` (see `create_pretraining_data`).
        jsonl_text_field: field holding the text in JSON Lines records.

    Returns:
        A list of documents (empty ones left out); each a list of non-empty sentences.

    Raises:
        ValueError: the file is binary or not UTF-8, or a JSON Lines record is invalid; the
            message names the file and line.

    Example:
    >>> with open("novel.txt", "w") as f:  # prose: chapters are documents, lines are wrapped
    ...     _ = f.write("CHAPTER I\\n\\nIt was a\\nfine day. Mr. Elton\\nsmiled.\\n\\n"
    ...                 "CHAPTER II\\n\\nThen it rained.\\n")
    >>> read_documents("novel.txt")
    [['It was a fine day.', 'Mr. Elton smiled.'], ['Then it rained.']]
    """
    text = _read_text(path)
    if input_format == "auto":
        input_format = detect_input_format(path, text)
    if input_format == "google":
        documents = [[line.strip() for line in block.split("\n") if line.strip()]
                     for block in re.split(r"\n\s*\n", text)]
    elif input_format == "prose":
        documents = [_prose_sentences(chapter) for chapter in _CHAPTER.split(text)]
    elif input_format == "jsonl":
        documents = [_prose_sentences(t) for t in _jsonl_texts(path, text, jsonl_text_field)]
    else:
        raise ValueError(f"input_format must be one of {INPUT_FORMATS}, got {input_format!r}.")
    return [d for d in documents if d]


def detect_input_format(path, text):
    """Guesses `"jsonl"`, `"prose"` or `"google"` for a file (see `create_pretraining_data`).

    Args:
        path: the file name (its extension is looked at).
        text: the file's text.

    Returns:
        `"jsonl"`, `"prose"` or `"google"`.

    Example:
    >>> detect_input_format("a.txt", "One sentence.\\nAnother one.\\n\\nA new document.\\nEnd.")
    'google'
    """
    if os.path.splitext(path)[1].lower() in (".jsonl", ".json"):
        return "jsonl"
    first_line = text.lstrip().partition("\n")[0].strip()
    if first_line.startswith("{") and first_line.endswith("}"):
        with contextlib.suppress(ValueError):
            json.loads(first_line)
            return "jsonl"
    if _CHAPTER.search(text):
        return "prose"
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    blocks = [b for b in re.split(r"\n\s*\n", text) if b.strip()]
    ends_sentence = sum(line[-1] in ".!?\"'”’)" for line in lines)
    # Google's format: most lines end a sentence and documents have several lines. Wrapped prose
    # has many lines that stop mid-sentence; unwrapped prose has one line per paragraph.
    if lines and ends_sentence >= 0.6 * len(lines) and len(lines) >= 2 * len(blocks):
        return "google"
    return "prose"


# Reading ------------------------------------------------------------------------------------------


def _check_arguments(max_seq_length, max_predictions_per_seq, masked_lm_prob, short_seq_prob,
                     dupe_factor, num_shards, input_format, num_workers):
    problems = []
    if max_seq_length < 5:
        problems.append(f"max_seq_length must be >= 5, got {max_seq_length}")
    if not 1 <= max_predictions_per_seq <= max_seq_length:
        problems.append(f"max_predictions_per_seq must be in [1, max_seq_length], got "
                        f"{max_predictions_per_seq}")
    if not 0 < masked_lm_prob < 1:
        problems.append(f"masked_lm_prob must be in (0, 1), got {masked_lm_prob}")
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
    if problems:
        raise ValueError("; ".join(problems) + ".")


def _load_tokenizer(vocab_file, do_lower_case):
    """The `BertTokenizer` of `vocab_file` (this imports TensorFlow, in the main process only)."""
    from keras_bert_kit.text.bert_tokenizer import BertTokenizer

    return BertTokenizer.from_vocabulary(os.fspath(vocab_file), lowercase=do_lower_case)


def _read_text(path):
    """The text of `path`; a clear error for binary (NUL bytes) or non-UTF-8 content."""
    with open(path, "rb") as f:
        data = f.read()
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise ValueError(
            f"{path}:{line}: binary file (NUL byte at offset {nul}); pretraining input must be "
            "UTF-8 text."
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ValueError(
            f"{path}:{line}: not UTF-8 text ({e.reason} at byte {e.start}); pretraining input "
            "must be UTF-8 text."
        ) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def _prose_sentences(text):
    return [s for p in sentence_splitter.split_paragraphs(text)
            for s in sentence_splitter.split_sentences(p)]


def _jsonl_texts(path, text, field):
    for line_number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{line_number}: invalid JSON ({e.msg}).") from None
        value = record.get(field) if isinstance(record, dict) else None
        if not isinstance(value, str):
            raise ValueError(
                f"{path}:{line_number}: a JSON Lines record needs a string field {field!r} "
                f"(set jsonl_text_field); got {type(value).__name__}."
            )
        yield value


def _read_file_task(task):
    path, input_format, jsonl_text_field = task
    return read_documents(path, input_format, jsonl_text_field)


def _read_corpus(imap, files, tokenizer, input_format, jsonl_text_field, progress):
    """Reads and tokenizes `files` into a `_Corpus`.

    The workers (`imap`) read and split the files while this process tokenizes those already read.
    """
    builder = _CorpusBuilder(tokenizer)
    read_tasks = [(path, input_format, jsonl_text_field) for path in files]
    with tqdm(total=len(files), desc="reading", unit="file", disable=not progress) as bar:
        for documents in imap(_read_file_task, read_tasks):
            builder.add(documents)
            bar.set_postfix(sentences=builder.num_sentences)
            bar.update()
    return builder.build(files)


@dataclasses.dataclass
class _Corpus:
    """The token ids of all sentences, flat.

    Sentence `s` is `tokens[sentence_starts[s]:sentence_starts[s + 1]]`; document `d` is sentences
    `doc_starts[d]:doc_starts[d + 1]`.
    """

    tokens: np.ndarray
    sentence_starts: np.ndarray
    doc_starts: np.ndarray

    def save(self, folder, vocabulary):
        """Stores the arrays (and the word-continuation table) for the worker processes."""
        is_continuation = np.array([t.startswith("##") for t in vocabulary], bool)
        for name, array in (("tokens", self.tokens), ("sentence_starts", self.sentence_starts),
                            ("doc_starts", self.doc_starts), ("is_continuation", is_continuation)):
            np.save(os.path.join(folder, f"{name}.npy"), array)

    def work_units(self):
        """Groups the documents into units of work of about `_TOKENS_PER_TASK` tokens.

        Documents longer than that are cut at sentences into pieces of about that size.

        Returns:
            A list of units, each a list of `(document, first_sentence, end_sentence)` pieces.
        """
        starts = self.sentence_starts
        units, unit, unit_tokens = [], [], 0
        for doc in range(len(self.doc_starts) - 1):
            first, end = int(self.doc_starts[doc]), int(self.doc_starts[doc + 1])
            doc_tokens = starts[end] - starts[first]
            num_pieces = math.ceil(doc_tokens / _TOKENS_PER_TASK)
            targets = starts[first] + doc_tokens * np.arange(1, num_pieces) / num_pieces
            cuts = np.unique(np.searchsorted(starts[first:end], targets) + first).tolist()
            cuts = [cut for cut in cuts if first < cut < end]
            for piece_first, piece_end in zip([first, *cuts], [*cuts, end]):
                unit.append((doc, piece_first, piece_end))
                unit_tokens += starts[piece_end] - starts[piece_first]
                if unit_tokens >= _TOKENS_PER_TASK:
                    units.append(unit)
                    unit, unit_tokens = [], 0
        if unit:
            units.append(unit)
        return units


class _CorpusBuilder:
    """Tokenizes documents (lists of sentences) file by file into a `_Corpus`.

    Sentences go through `BertTokenizer` in large batches; sentences without tokens and documents
    without sentences are dropped.
    """

    def __init__(self, tokenizer):
        import tensorflow as tf

        self._tokenize = tf.function(tokenizer, input_signature=[tf.TensorSpec([None], tf.string)])
        self._tokens, self._sentence_lengths, self._doc_sizes = [], [], []
        self.num_sentences = 0

    def add(self, documents):
        """Tokenizes and appends the documents of one file."""
        sentences = [s for d in documents for s in d]
        lengths = []
        for i in range(0, len(sentences), _TOKENIZER_BATCH):
            ids = self._tokenize(sentences[i:i + _TOKENIZER_BATCH])
            lengths.append(ids.row_lengths().numpy())
            self._tokens.append(ids.flat_values.numpy())
        if not lengths:
            return
        lengths = np.concatenate(lengths)
        doc_of_sentence = np.repeat(np.arange(len(documents)), [len(d) for d in documents])
        kept = lengths > 0
        doc_sizes = np.bincount(doc_of_sentence[kept], minlength=len(documents))
        self._sentence_lengths.append(lengths[kept])
        self._doc_sizes.append(doc_sizes[doc_sizes > 0])
        self.num_sentences += int(kept.sum())

    def build(self, files):
        """The `_Corpus` of everything added; an error naming the files if it has no tokens."""
        if not self.num_sentences:
            named = ", ".join(files[:5])
            if len(files) > 5:
                named += f" and {len(files) - 5} more files"
            raise ValueError(
                f"No text to create pretraining data from in {named}: the input holds no sentence "
                "with any token."
            )
        sentence_lengths = np.concatenate(self._sentence_lengths)
        doc_sizes = np.concatenate(self._doc_sizes)
        return _Corpus(
            tokens=np.concatenate(self._tokens).astype(np.int32),
            sentence_starts=np.concatenate([[0], np.cumsum(sentence_lengths)]).astype(np.int64),
            doc_starts=np.concatenate([[0], np.cumsum(doc_sizes)]).astype(np.int64),
        )


# Instances -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class _InstanceConfig:
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

    @classmethod
    def from_tokenizer(cls, tokenizer, **kwargs):
        """The config with the special ids and the vocabulary size of `tokenizer`."""
        return cls(cls_id=tokenizer.cls_token_id, sep_id=tokenizer.sep_token_id,
                   mask_id=tokenizer.mask_token_id,
                   vocabulary_size=len(tokenizer.get_vocabulary()), **kwargs)


_COUNT_NAMES = ("instances", "tokens", "non_special_tokens", "masked", "masked_to_mask",
                "masked_kept", "masked_to_random", "random_next")
_worker_state = {}  # this process's `_InstanceMaker`, keyed by (corpus folder, config)


def _instances_task(task):
    folder, config, dupe, unit_index, unit = task
    maker = _worker_state.get((folder, config))
    if maker is None:
        _worker_state.clear()
        maker = _worker_state[(folder, config)] = _InstanceMaker(folder, config)
    return maker.instances(dupe, unit_index, unit)


def _create_instances(imap, folder, config, units, dupe_factor, progress):
    """The serialized instances of every unit of work in every pass (in task order) and their
    summed counts (`_COUNT_NAMES`), from the corpus saved in `folder`."""
    tasks = [(folder, config, dupe, unit_index, unit) for dupe in range(dupe_factor)
             for unit_index, unit in enumerate(units)]
    records, counts = [], np.zeros(len(_COUNT_NAMES), np.int64)
    with tqdm(total=len(tasks), desc="instances", unit="unit", disable=not progress) as bar:
        try:
            for task_records, task_counts in imap(_instances_task, tasks):
                records.extend(task_records)
                counts += task_counts
                bar.set_postfix(instances=len(records))
                bar.update()
        finally:
            _worker_state.clear()  # with one worker, the state lives in this process
    return records, counts


class _InstanceMaker:
    """Creates the serialized instances of units of work (Google's algorithm, on token ids)."""

    def __init__(self, folder, config):
        def load(name):  # memory-mapped: the workers share the corpus through the page cache
            return np.load(os.path.join(folder, f"{name}.npy"), mmap_mode="r")

        self.config = config
        self.tokens = load("tokens")
        self.sentence_starts = load("sentence_starts").tolist()
        self.doc_starts = load("doc_starts").tolist()
        self.is_continuation = np.asarray(load("is_continuation"))
        self.encoder = _ExampleEncoder(config)

    def instances(self, dupe, unit_index, unit):
        """Serialized instances of one unit of work (see `_Corpus.work_units`) in pass `dupe`,
        and their counts (`_COUNT_NAMES`)."""
        rng = random.Random(f"{self.config.seed}/{dupe}/{unit_index}")
        records, counts = [], np.zeros(len(_COUNT_NAMES), np.int64)
        for doc, first, end in unit:
            for a, b, is_random_next in self._pairs(doc, first, end, rng):
                ids, positions, masked_ids, decisions = self._mask(a, b, rng)
                records.append(
                    self.encoder.encode(ids, len(a), positions, masked_ids, is_random_next)
                )
                counts += (1, len(ids), len(ids) - 3, len(positions), decisions.count(0),
                           decisions.count(1), decisions.count(2), is_random_next)
        return records, counts

    def _pairs(self, doc, first, end, rng):
        """Yields `(tokens_a, tokens_b, is_random_next)` for sentences `first:end` of document
        `doc`, as Google does for a whole document."""
        starts, config = self.sentence_starts, self.config
        max_num_tokens = config.max_seq_length - 3
        target_length = max_num_tokens
        if rng.random() < config.short_seq_prob:
            target_length = rng.randint(2, max_num_tokens)
        chunk_first, i = first, first
        while i < end:
            chunk_length = starts[i + 1] - starts[chunk_first]
            if i == end - 1 or chunk_length >= target_length:
                num_sentences = i + 1 - chunk_first
                a_end = chunk_first + (
                    rng.randint(1, num_sentences - 1) if num_sentences >= 2 else 1
                )
                a_span = [starts[chunk_first], starts[a_end]]
                if num_sentences == 1 or rng.random() < 0.5:
                    is_random_next = True
                    b_span = self._random_segment(doc, target_length - (a_span[1] - a_span[0]), rng)
                    i = a_end - 1  # the unused sentences of the chunk start the next one
                else:
                    is_random_next = False
                    b_span = [starts[a_end], starts[i + 1]]
                self._truncate_pair(a_span, b_span, max_num_tokens, rng)
                tokens_a = self.tokens[a_span[0]:a_span[1]]
                yield tokens_a, self.tokens[b_span[0]:b_span[1]], is_random_next
                chunk_first = i + 1
            i += 1

    def _random_segment(self, doc, target_length, rng):
        """Token span of sentences from a random other document, from a random sentence on."""
        num_docs = len(self.doc_starts) - 1
        for _ in range(10):
            other = rng.randint(0, num_docs - 1)
            if other != doc:
                break
        first, end = self.doc_starts[other], self.doc_starts[other + 1]
        starts = self.sentence_starts
        start = rng.randint(first, end - 1)
        last = start
        while last < end - 1 and starts[last + 1] - starts[start] < target_length:
            last += 1
        return [starts[start], starts[last + 1]]

    @staticmethod
    def _truncate_pair(a_span, b_span, max_num_tokens, rng):
        """Drops tokens from the front or back (at random) of the longer segment until both fit."""
        while (a_span[1] - a_span[0]) + (b_span[1] - b_span[0]) > max_num_tokens:
            span = a_span if a_span[1] - a_span[0] > b_span[1] - b_span[0] else b_span
            if rng.random() < 0.5:
                span[0] += 1
            else:
                span[1] -= 1

    def _mask(self, tokens_a, tokens_b, rng):
        """Masks `[CLS] a [SEP] b [SEP]`: returns the masked ids, the sorted masked positions,
        their original ids, and per position the decision (0 [MASK], 1 kept, 2 random)."""
        config = self.config
        ids = np.concatenate(
            [[config.cls_id], tokens_a, [config.sep_id], tokens_b, [config.sep_id]]
        ).astype(np.int64)
        num_to_predict = min(config.max_predictions_per_seq,
                             max(1, int(round(len(ids) * config.masked_lm_prob))))
        segments = (range(1, len(tokens_a) + 1), range(len(tokens_a) + 2, len(ids) - 1))
        if config.whole_word_mask:
            chosen = self._choose_whole_words(ids, segments, num_to_predict, rng)
        else:
            candidates = [*segments[0], *segments[1]]
            chosen = rng.sample(candidates, min(num_to_predict, len(candidates)))
        decisions = []
        original = ids.copy()
        for position in chosen:
            if rng.random() < 0.8:
                ids[position], decision = config.mask_id, 0
            elif rng.random() < 0.5:
                decision = 1
            else:
                ids[position], decision = rng.randint(0, config.vocabulary_size - 1), 2
            decisions.append(decision)
        positions = np.sort(np.array(chosen, np.int64))
        return ids, positions, original[positions], decisions

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


class _ExampleEncoder:
    """Serializes instances as `tf.train.Example` protos without TensorFlow.

    The bytes equal `tf.train.Example(...).SerializeToString(deterministic=True)`: features in key
    order, each `Features.feature` map entry `{1: key, 2: Feature}`, a `Feature` holding an
    `Int64List` (field 3) or `FloatList` (field 2) whose values are packed (field 1).
    """

    def __init__(self, config):
        self.config = config
        largest = max(config.vocabulary_size, config.max_seq_length)
        self._varints = [_varint(i) for i in range(largest)]

    def encode(self, ids, len_a, positions, masked_ids, is_random_next):
        """Bytes of one Example from the unpadded ids, the length of segment A and the masks."""
        config, varints = self.config, self._varints
        length, pad = len(ids), config.max_seq_length - len(ids)
        unused = config.max_predictions_per_seq - len(positions)
        weights = np.array([1.0] * len(positions) + [0.0] * unused, "<f4")
        features = {  # packed values (a varint of 0 or 1 is that byte), in key order
            "input_ids": b"".join(varints[i] for i in ids.tolist()) + b"\x00" * pad,
            "input_mask": b"\x01" * length + b"\x00" * pad,
            "masked_lm_ids": b"".join(varints[i] for i in masked_ids.tolist()) + b"\x00" * unused,
            "masked_lm_positions": b"".join(varints[i] for i in positions.tolist())
            + b"\x00" * unused,
            "masked_lm_weights": weights.tobytes(),
            "next_sentence_labels": b"\x01" if is_random_next else b"\x00",
            "segment_ids": b"\x00" * (len_a + 2) + b"\x01" * (length - len_a - 2) + b"\x00" * pad,
        }
        entries = []
        for key, packed in features.items():
            kind = b"\x12" if key == "masked_lm_weights" else b"\x1a"  # float_list / int64_list
            feature = _field(kind, _field(b"\x0a", packed))
            entry = _field(b"\x0a", key.encode()) + _field(b"\x12", feature)
            entries.append(_field(b"\x0a", entry))
        return _field(b"\x0a", b"".join(entries))


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


# Workers and writing ---------------------------------------------------------------------------


@contextlib.contextmanager
def _worker_map(num_workers):
    """Yields an ordered `imap(function, tasks)`: in this process for 1 worker, else a process pool.

    The pool uses the `forkserver` start method: workers never inherit TensorFlow's threads.
    """
    if num_workers == 1:
        yield map
        return
    with multiprocessing.get_context("forkserver").Pool(num_workers) as pool:
        yield lambda function, tasks: pool.imap(function, tasks)


def _corpus_and_instances(files, tokenizer, config, dupe_factor, input_format, jsonl_text_field,
                          num_workers, progress, output_dir):
    """Reads the corpus and creates the (unshuffled) instances with one pool of workers.

    Returns:
        `(corpus, records, counts)`: the `_Corpus`, the serialized instances and their counts.
    """
    # The tokenized corpus goes to a hidden temporary folder next to the output (it can be large).
    with _worker_map(num_workers) as imap, tempfile.TemporaryDirectory(
        prefix=".kbk-corpus-", dir=output_dir
    ) as tmp:
        corpus = _read_corpus(imap, files, tokenizer, input_format, jsonl_text_field, progress)
        corpus.save(tmp, tokenizer.get_vocabulary())
        records, counts = _create_instances(
            imap, tmp, config, corpus.work_units(), dupe_factor, progress
        )
    return corpus, records, counts


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


def _shard_paths(output_dir, num_shards, num_records, gzip):
    """Paths of the shards: `num_shards` of them, or one per `INSTANCES_PER_SHARD` records."""
    num_shards = num_shards or max(1, math.ceil(num_records / INSTANCES_PER_SHARD))
    extension = ".tfrecord.gz" if gzip else ".tfrecord"
    return [os.path.join(output_dir, f"{SHARD_PREFIX}-{i:05d}-of-{num_shards:05d}{extension}")
            for i in range(num_shards)]


def _statistics(counts, corpus, shards, arguments):
    """The statistics of a run (`PretrainingData.stats`) from the summed counts and the corpus."""
    count = dict(zip(_COUNT_NAMES, counts.tolist()))
    masked = max(count["masked"], 1)
    return {
        "instances": count["instances"],
        "documents": len(corpus.doc_starts) - 1,
        "sentences": len(corpus.sentence_starts) - 1,
        "corpus_tokens": len(corpus.tokens),
        "tokens": count["tokens"],
        "masked_positions": count["masked"],
        "masked_fraction": count["masked"] / max(count["non_special_tokens"], 1),
        "replacement": {
            "mask": count["masked_to_mask"] / masked,
            "keep": count["masked_kept"] / masked,
            "random": count["masked_to_random"] / masked,
        },
        "next_sentence_random_fraction": count["random_next"] / max(count["instances"], 1),
        "shards": [os.path.basename(s) for s in shards],
        "arguments": arguments,
    }


def _write_atomically(shards, records, stats_file, stats, gzip, progress, old_shards):
    """Writes records round-robin into hidden temporary shards, then renames them all.

    On any error the temporary files are removed, so no partial shard is left; stale shards of an
    earlier run (`old_shards`) are removed only once every new shard is complete.
    """
    import tensorflow as tf

    temporary = [os.path.join(os.path.dirname(p), f".{os.path.basename(p)}.tmp-{os.getpid()}")
                 for p in shards + [stats_file]]
    try:
        options = tf.io.TFRecordOptions(compression_type="GZIP" if gzip else "")
        writers = [tf.io.TFRecordWriter(path, options) for path in temporary[:-1]]
        try:
            for i, record in enumerate(tqdm(records, desc="writing", unit="instance",
                                            disable=not progress)):
                writers[i % len(writers)].write(record)
        finally:
            for writer in writers:
                writer.close()
        with open(temporary[-1], "w", encoding="utf-8") as f:
            json.dump(stats, f, indent=2)
            f.write("\n")
    except BaseException:
        for path in temporary:
            with contextlib.suppress(FileNotFoundError):
                os.remove(path)
        raise
    for path in old_shards:
        if path not in shards:
            os.remove(path)
    for path, final in zip(temporary, shards + [stats_file]):
        os.replace(path, final)
