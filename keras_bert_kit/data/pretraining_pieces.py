"""Pretraining documents → pieces, and the seeded random-next sample that NSP draws from.

- `DocumentTokenizer` tokenizes a file's documents (`BertTokenizer`, in large batches) into
  `DocumentPiece`s; `document_pieces` cuts documents longer than `TOKENS_PER_PIECE` tokens at
  sentence boundaries;
- `RandomNextSample` keeps, from all pieces, those with the smallest seeded hash whose tokens fit
  a budget (a bottom-k sample: the same set whatever the order of the pieces and however partial
  samples are merged); `RandomNextPool` is that sample as flat arrays, read by every worker.

Pure functions of their inputs, except `RandomNextPool.save` / `load`, which write and
memory-map the pool's `.npy` arrays in a folder (the local runner's scratch folder; Beam hands
the pool over as a side input instead).
"""

import dataclasses
import hashlib
import heapq
import os

import numpy as np

# Documents longer than this many tokens are cut into pieces of about this size.
TOKENS_PER_PIECE = 50_000
# Google's script draws the random-next document among all documents; ours draws it among the
# documents of a seeded sample of at most this many tokens (the whole corpus when it is smaller).
RANDOM_NEXT_POOL_TOKENS = 10_000_000
_TOKENIZER_BATCH = 4096


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
