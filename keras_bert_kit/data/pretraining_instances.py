"""The one instance-creation core of pretraining data, shared by the local and the Beam runner.

Everything here is a pure function of its inputs, so that any runner, any number of workers and
any arrival order of the documents give the same records:

- files → documents: `expand_input_files` (local paths, folders, globs); `read_file_documents`
  = `decode_text` + `documents_from_text` (`detect_input_format`): one file's bytes → documents,
  each a list of sentences with its `document_key`;
- documents → pieces: `document_key` names a document by its file's base name, its position in
  the file and its text (not its folder); `DocumentTokenizer` tokenizes a file's documents and cuts documents
  longer than `TOKENS_PER_PIECE` tokens into `DocumentPiece`s at sentence boundaries;
- the random-next sample: `RandomNextSample` keeps, from all pieces, those with the smallest
  seeded hash whose tokens fit a budget (a bottom-k sample: the same set whatever the order of
  the pieces and however partial samples are merged); `RandomNextPool` is that sample as flat
  arrays, read by every worker (memory-mapped files locally, a side input in Beam);
- pieces → records: `InstanceMaker.instances(piece, dupe)` follows google-research/bert's
  `create_instances_from_document` with a random generator seeded by (seed, piece, pass), and
  gives each record a seeded 64-bit shuffle key; `shard_of` maps a key to its shard, so that a
  shard is a key range and the records of a shard are written in key order.

What does not live here: opening files on disk or in cloud storage, the shuffle and the writing
of shards (`pretraining_data.py` locally, `pretraining_beam.py` with Apache Beam).
"""

import contextlib
import dataclasses
import glob
import hashlib
import heapq
import json
import os
import posixpath
import random
import re
import typing

import numpy as np

from keras_bert_kit.data import sentence_splitter

INPUT_FORMATS = ("auto", "google", "prose", "jsonl")
SHARD_PREFIX = "pretraining"
STATS_FILE = "pretraining_stats.json"
# Default number of records per shard when `num_shards` is not given.
INSTANCES_PER_SHARD = 100_000
# Documents longer than this many tokens are cut into pieces of about this size.
TOKENS_PER_PIECE = 50_000
# Google's script draws the random-next document among all documents; ours draws it among the
# documents of a seeded sample of at most this many tokens (the whole corpus when it is smaller).
RANDOM_NEXT_POOL_TOKENS = 10_000_000
COUNT_NAMES = ("instances", "tokens", "non_special_tokens", "masked", "masked_to_mask",
               "masked_kept", "masked_to_random", "random_next")
_TOKENIZER_BATCH = 4096
# A chapter heading line: "CHAPTER ..." or "Chapter" and a number ("Chapter 12", "Chapter IV").
_CHAPTER = re.compile(
    r"^[ \t]*(?:CHAPTER\b|Chapter[ \t]+(?:\d+|[IVXLC]+)\b)[^\n]*$", re.MULTILINE
)


# Text -> documents ---------------------------------------------------------------------------


def decode_text(name, data):
    """The text of a file's bytes; a clear error for binary (NUL bytes) or non-UTF-8 content.

    Args:
        name: the file's name or URL, for error messages.
        data: the file's bytes.

    Returns:
        The text, without a byte-order mark, with `\\n` line ends.

    Raises:
        ValueError: the data holds a NUL byte or is not UTF-8 (the message names file and line).

    Example:
    >>> decode_text("a.txt", b"One.\\r\\nTwo.\\r\\n")
    'One.\\nTwo.\\n'
    """
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise ValueError(
            f"{name}:{line}: binary file (NUL byte at offset {nul}); pretraining input must be "
            "UTF-8 text."
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ValueError(
            f"{name}:{line}: not UTF-8 text ({e.reason} at byte {e.start}); pretraining input "
            "must be UTF-8 text."
        ) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def documents_from_text(name, text, input_format="auto", jsonl_text_field="text"):
    """Splits one file's text into documents, each a list of sentence strings.

    Args:
        name: the file's name or URL (its extension decides `"auto"`; errors name it).
        text: the file's text (see `decode_text`).
        input_format: `"google"`, `"prose"`, `"jsonl"` or `"auto"` (see `create_pretraining_data`).
        jsonl_text_field: field holding the text in JSON Lines records.

    Returns:
        A list of documents (empty ones left out); each a list of non-empty sentences.

    Raises:
        ValueError: a JSON Lines record is invalid (the message names the file and line).

    Example:
    >>> documents_from_text("a.txt", "One line.\\nTwo lines.\\n\\nA new document.\\n", "google")
    [['One line.', 'Two lines.'], ['A new document.']]
    """
    if input_format == "auto":
        input_format = detect_input_format(name, text)
    if input_format == "google":
        documents = [[line.strip() for line in block.split("\n") if line.strip()]
                     for block in re.split(r"\n\s*\n", text)]
    elif input_format == "prose":
        documents = [_prose_sentences(chapter) for chapter in _CHAPTER.split(text)]
    elif input_format == "jsonl":
        documents = [_prose_sentences(t) for t in _jsonl_texts(name, text, jsonl_text_field)]
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
    if os.path.splitext(os.fspath(path))[1].lower() in (".jsonl", ".json"):
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


def document_key(path, ordinal, sentences):
    """The 16-byte identity of a document: its file's base name, its position there, its text.

    The folder is left out, so the same files give the same records from a local disk or a
    bucket; two documents are the same only if all three agree.

    Args:
        path: the file's path or URL.
        ordinal: the document's position among the file's (non-empty) documents.
        sentences: the document's sentences.

    Returns:
        16 bytes.

    Example:
    >>> document_key("/data/a.txt", 0, ["Hi."]) == document_key("gs://bucket/a.txt", 0, ["Hi."])
    True
    """
    digest = hashlib.blake2b(digest_size=16, person=b"kbk-document")
    digest.update(f"{posixpath.basename(os.fspath(path))}\0{ordinal}\0".encode())
    digest.update("\n".join(sentences).encode())
    return digest.digest()


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


def read_file_documents(path, data, input_format="auto", jsonl_text_field="text"):
    """`[(document key, sentences)]` of one file's bytes (`decode_text` + `documents_from_text`).

    Args:
        path: the file's path or URL.
        data: the file's bytes.
        input_format: see `documents_from_text`.
        jsonl_text_field: see `documents_from_text`.

    Returns:
        A list of `(16-byte key, list of sentences)`.

    Example:
    >>> [sentences for _, sentences in read_file_documents("a.txt", b"One.\\nTwo.\\n", "google")]
    [['One.', 'Two.']]
    """
    documents = documents_from_text(path, decode_text(path, data), input_format, jsonl_text_field)
    return [(document_key(path, i, d), d) for i, d in enumerate(documents)]


# Documents -> pieces ---------------------------------------------------------------------------


class DocumentPiece:
    """A tokenized document, or a piece of one (`TOKENS_PER_PIECE`), that instances are made from.

    Attributes:
        key: 16 bytes naming the piece (see `document_pieces`).
        document: 64-bit id of the whole document (random-next text comes from another one).
        sentence_starts: int64 `[num_sentences + 1]` offsets of the sentences in `tokens`.
        tokens: int32 token ids of the piece's sentences.

    Example:
    >>> DocumentPiece(bytes(16), 0, np.array([0, 2, 5]), np.arange(5, dtype=np.int32)).num_tokens
    5
    """

    __slots__ = ("key", "document", "sentence_starts", "tokens")

    def __init__(self, key, document, sentence_starts, tokens):
        self.key, self.document = key, document
        self.sentence_starts, self.tokens = sentence_starts, tokens

    def __reduce__(self):  # compact pickles: the spill file and Beam's coders use them
        return DocumentPiece, (self.key, self.document, self.sentence_starts, self.tokens)

    @property
    def num_tokens(self):
        return int(self.sentence_starts[-1])


def document_pieces(key, sentence_lengths, tokens):
    """Cuts a tokenized document into pieces of about `TOKENS_PER_PIECE` tokens, at sentences.

    Args:
        key: the document's 16-byte key (`document_key`).
        sentence_lengths: tokens per sentence (all > 0).
        tokens: the document's token ids, sentences concatenated.

    Returns:
        A list of `DocumentPiece` (one unless the document is long); piece `i`'s key hashes the
        document key and `i`.

    Example:
    >>> pieces = document_pieces(bytes(16), [3, 2], np.arange(5))
    >>> len(pieces), pieces[0].sentence_starts.tolist(), pieces[0].tokens.tolist()
    (1, [0, 3, 5], [0, 1, 2, 3, 4])
    """
    starts = np.concatenate([[0], np.cumsum(sentence_lengths, dtype=np.int64)])
    num_pieces = -(-int(starts[-1]) // TOKENS_PER_PIECE)
    targets = starts[-1] * np.arange(1, num_pieces) / num_pieces
    cuts = np.unique(np.searchsorted(starts[:-1], targets)).tolist()
    cuts = [cut for cut in cuts if 0 < cut < len(starts) - 1]
    document = int.from_bytes(key[:8], "little")
    pieces = []
    for index, (first, end) in enumerate(zip([0, *cuts], [*cuts, len(starts) - 1])):
        piece_key = key if index == 0 else hashlib.blake2b(
            key + index.to_bytes(4, "little"), digest_size=16).digest()
        pieces.append(DocumentPiece(
            piece_key, document, starts[first:end + 1] - starts[first],
            np.asarray(tokens[starts[first]:starts[end]], np.int32),
        ))
    return pieces


class DocumentTokenizer:
    """Tokenizes the documents of a file with `BertTokenizer` into `DocumentPiece`s.

    Sentences go through the tokenizer in large batches; sentences without tokens and documents
    without sentences are dropped. This imports TensorFlow.

    Args:
        vocabulary: the WordPiece tokens, or a `vocab.txt` path.
        lowercase: lower-case and strip accents (uncased vocabularies).
    """

    def __init__(self, vocabulary, lowercase=True):
        import tensorflow as tf

        from keras_bert_kit.text.bert_tokenizer import BertTokenizer

        tokenizer = BertTokenizer.from_vocabulary(vocabulary, lowercase=lowercase)
        self.vocabulary = tokenizer.get_vocabulary()
        self.special_ids = dict(cls_id=tokenizer.cls_token_id, sep_id=tokenizer.sep_token_id,
                                mask_id=tokenizer.mask_token_id)
        self._tokenize = tf.function(tokenizer, input_signature=[tf.TensorSpec([None], tf.string)])

    def pieces(self, documents):
        """The pieces of `[(document key, sentences)]` (see `read_file_documents`), per document.

        Yields:
            For each document with tokens, its list of `DocumentPiece`s (see `document_pieces`).

        Example:
        >>> tokenizer = DocumentTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "hi"])
        >>> [[p.tokens.tolist() for p in d] for d in tokenizer.pieces([(bytes(16), ["Hi hi!"])])]
        [[[5, 5, 1]]]
        """
        sentences = [s for _, d in documents for s in d]
        lengths, tokens = [], []
        for i in range(0, len(sentences), _TOKENIZER_BATCH):
            ids = self._tokenize(sentences[i:i + _TOKENIZER_BATCH])
            lengths.append(ids.row_lengths().numpy())
            tokens.append(ids.flat_values.numpy().astype(np.int32))
        if not lengths:
            return
        lengths, tokens = np.concatenate(lengths), np.concatenate(tokens)
        token_starts = np.concatenate([[0], np.cumsum(lengths)])
        sentence = 0
        for key, document in documents:
            first, sentence = sentence, sentence + len(document)
            kept = lengths[first:sentence]
            if kept.any():
                yield document_pieces(key, kept[kept > 0],
                                      tokens[token_starts[first]:token_starts[sentence]])


# The random-next sample ------------------------------------------------------------------------


class RandomNextSample:
    """The pieces with the smallest seeded hash whose tokens fit `budget` (at least one piece).

    The set does not depend on the order pieces are added in nor on how partial samples are
    merged: a piece is in it exactly when the pieces hashing below it, itself included, hold at
    most `budget` tokens (or it hashes lowest of all). Memory: about `budget` tokens.

    Args:
        seed: the run's seed (the hash is seeded with it).
        budget: most tokens in the sample.

    Example:
    >>> sample = RandomNextSample(seed=1, budget=4)
    >>> for i in range(5):
    ...     sample.add(DocumentPiece(bytes([i] * 16), i, np.array([0, 2]), np.arange(2)))
    >>> pool = sample.pool()
    >>> len(pool), pool.num_tokens
    (2, 4)
    """

    def __init__(self, seed, budget=RANDOM_NEXT_POOL_TOKENS):
        self.seed, self.budget = seed, budget
        # (-hash, key, arrival, piece): the largest hash on top; pieces with equal hash and key
        # are the same text, so which of them stays does not matter.
        self._heap, self._tokens, self._arrivals = [], 0, 0

    def _hash(self, piece):
        digest = hashlib.blake2b(f"{self.seed}/random-next/".encode() + piece.key, digest_size=8)
        return int.from_bytes(digest.digest(), "little")

    def add(self, piece):
        """Offers a piece to the sample."""
        self._arrivals += 1
        heapq.heappush(self._heap, (-self._hash(piece), piece.key, self._arrivals, piece))
        self._tokens += piece.num_tokens
        while self._tokens > self.budget and len(self._heap) > 1:
            self._tokens -= heapq.heappop(self._heap)[-1].num_tokens

    def merge(self, other):
        """Adds the pieces of another sample (of the same seed and budget)."""
        for entry in other._heap:
            self.add(entry[-1])
        return self

    def pool(self):
        """The sample as a `RandomNextPool`, pieces in hash order."""
        entries = sorted(self._heap, key=lambda entry: entry[:2], reverse=True)
        return RandomNextPool.from_pieces([entry[-1] for entry in entries])


@dataclasses.dataclass
class RandomNextPool:
    """The random-next sample as flat arrays: the text that random second segments come from.

    Piece `i` is sentences `piece_sentences[i]:piece_sentences[i + 1]`; sentence `s` is
    `tokens[sentence_starts[s]:sentence_starts[s + 1]]`; `documents[i]` is its document id.

    Example:
    >>> pool = RandomNextPool.from_pieces([document_pieces(bytes(16), [2, 3], np.arange(5))[0],
    ...                                    document_pieces(bytes([1] * 16), [4], np.arange(4))[0]])
    >>> pool.sentence_starts.tolist(), pool.piece_sentences.tolist()
    ([0, 2, 5, 9], [0, 2, 3])
    """

    tokens: np.ndarray
    sentence_starts: np.ndarray
    piece_sentences: np.ndarray
    documents: np.ndarray
    _ARRAYS = ("tokens", "sentence_starts", "piece_sentences", "documents")

    @classmethod
    def from_pieces(cls, pieces):
        """A pool of `DocumentPiece`s."""
        tokens = np.concatenate([np.zeros(0, np.int32)] + [p.tokens for p in pieces])
        offsets = np.cumsum([0] + [p.num_tokens for p in pieces])
        starts = [p.sentence_starts[:-1] + offset for p, offset in zip(pieces, offsets)]
        return cls(
            tokens=tokens,
            sentence_starts=np.concatenate([np.zeros(0, np.int64), *starts, offsets[-1:]]),
            piece_sentences=np.cumsum([0] + [len(p.sentence_starts) - 1 for p in pieces]),
            documents=np.array([p.document for p in pieces], np.uint64),
        )

    def __len__(self):
        return len(self.documents)

    @property
    def num_tokens(self):
        return len(self.tokens)

    def save(self, folder):
        """Writes the arrays as `.npy` files in `folder` (workers memory-map them)."""
        for name in self._ARRAYS:
            np.save(os.path.join(folder, f"random_next_{name}.npy"), getattr(self, name))

    @classmethod
    def load(cls, folder):
        """The pool saved in `folder`, memory-mapped (shared through the page cache)."""
        return cls(**{name: np.load(os.path.join(folder, f"random_next_{name}.npy"), mmap_mode="r")
                      for name in cls._ARRAYS})


# Pieces -> records -----------------------------------------------------------------------------


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
        self.encoder = _ExampleEncoder(config)
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


def is_continuation_table(vocabulary):
    """bool `[len(vocabulary)]`: true for `##` word pieces (whole-word masking keeps them with
    the piece before).

    Example:
    >>> is_continuation_table(["[CLS]", "run", "##ning"]).tolist()
    [False, False, True]
    """
    return np.array([t.startswith("##") for t in vocabulary], bool)


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


class _ExampleEncoder:
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
