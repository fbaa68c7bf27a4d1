"""`BertTokenizer`: BERT's WordPiece tokenizer as a Keras layer running in the TensorFlow graph.

Text is normalized and split into words exactly like Hugging Face `tokenizers`' `BertNormalizer` +
`BertPreTokenizer` (`WordSplitter`, per-code-point lookup tables), and the words are cut into word
pieces by tensorflow-text's `FastWordpieceTokenizer`; texts of plain printable ASCII take
tensorflow-text's faster `FastBertTokenizer`, which agrees with HF on them. Everything is TensorFlow
ops: the layer works in eager mode, in `tf.function`, in `tf.data` pipelines and in SavedModels
that load with only `tensorflow` and `tensorflow_text` imported.
"""

import json
import os

import keras
import numpy as np
import tensorflow as tf
import tensorflow_text as tf_text

from keras_bert_kit.text.word_splitter import WordSplitter

SPECIAL_TOKENS = ("[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]")
VOCABULARY_ASSET = "vocabulary.json"


def read_vocabulary(path):
    """Reads a `vocab.txt` (one token per line, line number = id) into a list of tokens."""
    path = os.fspath(path)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"Vocabulary file not found: {path!r}")
    with open(path, encoding="utf-8", newline="") as f:
        tokens = f.read().split("\n")
    if tokens and tokens[-1] == "":
        tokens.pop()
    return [t[:-1] if t.endswith("\r") else t for t in tokens]


def _check_vocabulary(vocabulary, source):
    if isinstance(vocabulary, str) or not all(isinstance(t, str) for t in vocabulary):
        raise TypeError(
            f"The vocabulary ({source}) must be a list of str tokens (use "
            "BertTokenizer.from_vocabulary for a vocab.txt path)."
        )
    missing = [t for t in SPECIAL_TOKENS if t not in vocabulary]
    if missing:
        raise ValueError(
            f"The vocabulary ({source}, {len(vocabulary)} tokens) lacks the BERT special tokens "
            f"{missing}; it needs all of {list(SPECIAL_TOKENS)}."
        )
    first_line = {}
    for i, token in enumerate(vocabulary):
        if token in first_line:
            raise ValueError(
                f"The vocabulary ({source}) has {token!r} twice, at lines {first_line[token] + 1} "
                f"and {i + 1}."
            )
        first_line[token] = i
    return first_line


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class BertTokenizer(keras.layers.Layer):
    """BERT WordPiece tokenizer layer: strings -> int32 token ids, in-graph, equal to HF's.

    Calling the layer on a scalar `tf.string` gives a 1-D int32 `tf.Tensor` of token ids; on a 1-D
    batch it gives an int32 `tf.RaggedTensor` `[batch, None]`. No special tokens are added (like
    Hugging Face `add_special_tokens=False`; see `BertPreprocessor` for `[CLS] a [SEP] b [SEP]`).
    The ids equal those of Hugging Face's `BertTokenizerFast` with the same vocabulary and settings
    and `split_special_tokens=True`: the text "[MASK]" is tokenized as ordinary text, never as the
    special token.

    Normalization (`tokenizers`' `BertNormalizer`): NUL, U+FFFD and control/format/private-use
    characters are dropped; whitespace variants (tab, newline, NBSP, ...) separate words; CJK
    ideographs are words of their own; with `lowercase` the text is lower-cased and accents are
    stripped (NFD, then non-spacing marks dropped); then text is split on whitespace and
    punctuation, and every word longer than `max_chars_per_word` characters becomes `[UNK]`.
    Invalid UTF-8 never fails: each invalid byte sequence is read as U+FFFD (which is then dropped),
    as Python's `bytes.decode("utf-8", errors="replace")` would. Empty strings give no ids.

    Args:
        vocabulary: list of str tokens, the id of a token being its index. Must contain
            `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]` and `[MASK]`. Use `from_vocabulary` to read a
            `vocab.txt` and `from_pretrained` for a Hugging Face folder. `None` (what the
            config holds): set later by `set_vocabulary`, or by `load_assets` when Keras loads a
            `.keras` file, where the vocabulary is saved as an asset beside the config.
        lowercase: lower-case and strip accents, for uncased vocabularies (HF `do_lower_case`).
        strip_accents: strip accents; `None` (the default) follows `lowercase`, as in HF.
        tokenize_chinese_chars: split every CJK ideograph off as a word of its own.
        max_chars_per_word: words longer than this (in characters, after normalization) become
            `[UNK]`, like HF's `max_input_chars_per_word`.
        **kwargs: base `keras.layers.Layer` arguments (`name`, ...).

    Example:
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "great", "##est", "!"]
    >>> tokenizer = BertTokenizer(vocab)
    >>> tokenizer(["The greatest!", ""]).to_list()
    [[5, 6, 7, 8], []]
    >>> tokenizer.detokenize([5, 6, 7]).numpy()
    b'the greatest'
    """

    def __init__(
        self,
        vocabulary=None,
        lowercase=True,
        strip_accents=None,
        tokenize_chinese_chars=True,
        max_chars_per_word=100,
        **kwargs,
    ):
        super().__init__(**kwargs)
        self.lowercase = bool(lowercase)
        self.strip_accents = None if strip_accents is None else bool(strip_accents)
        self.tokenize_chinese_chars = bool(tokenize_chinese_chars)
        self.max_chars_per_word = int(max_chars_per_word)
        if self.max_chars_per_word < 1:
            raise ValueError(f"max_chars_per_word must be >= 1, got {max_chars_per_word}.")

        self._splitter = WordSplitter(
            self.lowercase, self.strip_accents, self.tokenize_chinese_chars
        )
        self.vocabulary = None
        self._token_index = None
        if vocabulary is not None:
            self.set_vocabulary(vocabulary)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    def set_vocabulary(self, vocabulary):
        """Sets the vocabulary (a list of str tokens, id = index) and builds the lookups.

        A tokenizer made from a config (`from_config`, as `.keras` loading does) has none until
        this is called; `load_assets` calls it with the vocabulary saved beside the config.
        """
        self._token_index = _check_vocabulary(vocabulary, "given as a list")
        self.vocabulary = list(vocabulary)
        # UTF-8 needs at most 4 bytes per character, so every word of at most max_chars_per_word
        # characters is cut into pieces; `_tokenize_general` turns longer ones into [UNK].
        self._wordpiece = tf_text.FastWordpieceTokenizer(
            self.vocabulary,
            max_bytes_per_word=4 * self.max_chars_per_word,
            token_out_type=tf.int32,
            unknown_token="[UNK]",
            no_pretokenization=True,
        )
        # Texts of printable ASCII (plus tab, LF, CR) take a faster path: there, tensorflow-text's
        # own BERT normalizer and pre-tokenizer agree with HF's, and bytes are characters.
        self._ascii_tokenizer = tf_text.FastBertTokenizer(
            self.vocabulary,
            max_bytes_per_word=self.max_chars_per_word,
            token_out_type=tf.int32,
            unknown_token="[UNK]",
            lower_case_nfd_strip_accents=self.lowercase,
        )
        self._vocabulary_tensor = tf.constant(self.vocabulary)
        self._special_ids = tf.constant(
            sorted(self._token_index[t] for t in SPECIAL_TOKENS), tf.int32
        )

    def _require_vocabulary(self):
        if self.vocabulary is None:
            raise ValueError(
                f"{self.name} has no vocabulary yet: it was made from a config without one "
                "(the vocabulary of a .keras file is an asset, loaded by keras.saving.load_model); "
                "call set_vocabulary(tokens) or load the .keras file."
            )

    @classmethod
    def from_vocabulary(cls, vocabulary, lowercase=True, **kwargs):
        """Creates a tokenizer from a `vocab.txt` path or a list of tokens.

        Args:
            vocabulary: path of a `vocab.txt` (one token per line) or a list of str tokens.
            lowercase: `True` for uncased vocabularies, `False` for cased ones.
            **kwargs: other constructor arguments (`strip_accents`, `name`, ...).

        Returns:
            A `BertTokenizer`.

        Example:
        >>> tokenizer = BertTokenizer.from_vocabulary("vocab.txt", lowercase=True)  # doctest: +SKIP
        """
        if isinstance(vocabulary, (str, os.PathLike)):
            path = os.fspath(vocabulary)
            tokens = read_vocabulary(path)
            _check_vocabulary(tokens, f"read from {path!r}")
            vocabulary = tokens
        return cls(vocabulary, lowercase=lowercase, **kwargs)

    @classmethod
    def from_pretrained(cls, path, **kwargs):
        """Creates a tokenizer from a Hugging Face model folder.

        Reads `vocab.txt` and, from `tokenizer_config.json` when present, `do_lower_case`
        (default `True`, as in HF), `strip_accents` and `tokenize_chinese_chars`.

        Args:
            path: folder holding `vocab.txt` (and usually `tokenizer_config.json`).
            **kwargs: constructor arguments overriding those read from the folder.

        Returns:
            A `BertTokenizer`.

        Example:
        >>> tokenizer = BertTokenizer.from_pretrained("models/all-MiniLM-L6-v2")  # doctest: +SKIP
        """
        path = os.fspath(path)
        if not os.path.isdir(path):
            raise FileNotFoundError(f"Hugging Face model folder not found: {path!r}")
        options = {"lowercase": True}
        config_path = os.path.join(path, "tokenizer_config.json")
        if os.path.isfile(config_path):
            with open(config_path, encoding="utf-8") as f:
                config = json.load(f)
            options["lowercase"] = bool(config.get("do_lower_case", True))
            options["strip_accents"] = config.get("strip_accents")
            options["tokenize_chinese_chars"] = bool(config.get("tokenize_chinese_chars", True))
        options.update(kwargs)
        return cls.from_vocabulary(os.path.join(path, "vocab.txt"), **options)

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                # The vocabulary is an asset (`save_assets`), not part of the config: a .keras
                # config of a 30k-token model stays small and readable.
                "vocabulary": None,
                "lowercase": self.lowercase,
                "strip_accents": self.strip_accents,
                "tokenize_chinese_chars": self.tokenize_chinese_chars,
                "max_chars_per_word": self.max_chars_per_word,
            }
        )
        return config

    def save_assets(self, dir_path):
        """Writes the vocabulary to `dir_path/vocabulary.json` (Keras calls this when saving).

        JSON keeps every token exactly (a token may be any string, even with a line break).
        """
        self._require_vocabulary()
        with open(os.path.join(dir_path, VOCABULARY_ASSET), "w", encoding="utf-8") as f:
            json.dump(self.vocabulary, f, ensure_ascii=False)

    def load_assets(self, dir_path):
        """Reads the vocabulary written by `save_assets` (Keras calls this when loading).

        Files saved before the vocabulary became an asset carry it inline in the config
        instead; their tokenizer already has it and there is nothing to read.
        """
        path = None if dir_path is None else os.path.join(dir_path, VOCABULARY_ASSET)
        if path is None or not os.path.isfile(path):
            self._require_vocabulary()
            return
        with open(path, encoding="utf-8") as f:
            self.set_vocabulary(json.load(f))

    # Vocabulary -------------------------------------------------------------------------------

    def vocabulary_size(self):
        """Number of tokens in the vocabulary."""
        self._require_vocabulary()
        return len(self.vocabulary)

    def get_vocabulary(self):
        """The vocabulary as a list of tokens (index = id)."""
        self._require_vocabulary()
        return list(self.vocabulary)

    def token_to_id(self, token):
        """Id of `token` (a str); raises `KeyError` for a token not in the vocabulary."""
        self._require_vocabulary()
        if token not in self._token_index:
            raise KeyError(f"Token {token!r} is not in the vocabulary.")
        return self._token_index[token]

    def id_to_token(self, token_id):
        """Token (a str) of id `token_id`; raises `IndexError` outside `[0, vocabulary_size())`."""
        self._require_vocabulary()
        token_id = int(token_id)
        if not 0 <= token_id < len(self.vocabulary):
            raise IndexError(
                f"Token id {token_id} is outside the vocabulary [0, {len(self.vocabulary)})."
            )
        return self.vocabulary[token_id]

    @property
    def pad_token_id(self):
        """Id of `[PAD]`."""
        self._require_vocabulary()
        return self._token_index["[PAD]"]

    @property
    def unk_token_id(self):
        """Id of `[UNK]`."""
        self._require_vocabulary()
        return self._token_index["[UNK]"]

    @property
    def cls_token_id(self):
        """Id of `[CLS]`."""
        self._require_vocabulary()
        return self._token_index["[CLS]"]

    @property
    def sep_token_id(self):
        """Id of `[SEP]`."""
        self._require_vocabulary()
        return self._token_index["[SEP]"]

    @property
    def mask_token_id(self):
        """Id of `[MASK]`."""
        self._require_vocabulary()
        return self._token_index["[MASK]"]

    # Tokenization -----------------------------------------------------------------------------

    def call(self, inputs):
        ids, _, _ = self._tokenize_any_rank(inputs, with_offsets=False)
        return ids

    def tokenize(self, inputs):
        """Token ids of `inputs`, like calling the layer."""
        return self(inputs)

    def tokenize_with_offsets(self, inputs):
        """Token ids with the UTF-8 byte span of each token in the original string.

        `text[start:end]` (on the UTF-8 bytes) is the original text of the token: accents, case
        and dropped characters inside it included. A word that became `[UNK]` spans the whole
        word; word pieces cut from one character (e.g. a Hangul syllable decomposed in uncased
        mode) share that character's span. Use `char_offsets` to turn the byte spans into
        Python `str` indices.

        Args:
            inputs: a scalar or 1-D batch of `tf.string` (or Python str/bytes).

        Returns:
            `(token_ids, starts, ends)`: int32 ids and int64 byte offsets, each a 1-D `tf.Tensor`
            for a scalar input or a `tf.RaggedTensor` `[batch, None]` for a batch.

        Example:
        >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "cafe", "!"]
        >>> ids, starts, ends = BertTokenizer(vocab).tokenize_with_offsets("Café!")
        >>> ids.numpy().tolist(), starts.numpy().tolist(), ends.numpy().tolist()
        ([5, 6], [0, 5], [5, 6])
        >>> BertTokenizer.char_offsets("Café!", starts, ends)
        [(0, 4), (4, 5)]
        """
        return self._tokenize_any_rank(inputs, with_offsets=True)

    @staticmethod
    def char_offsets(text, starts, ends):
        """Turns the UTF-8 byte offsets of `tokenize_with_offsets` into Python `str` indices.

        Args:
            text: the original string, as `str` or UTF-8 `bytes` (invalid bytes allowed).
            starts: byte start offsets of the tokens of this one string (tensor or list).
            ends: byte end offsets, same length.

        Returns:
            A list of `(start, end)` index pairs into `text` decoded with
            `errors="replace"` (so into `text` itself when it is a `str`).

        Example:
        >>> BertTokenizer.char_offsets("né ok", [0, 4], [3, 6])
        [(0, 2), (3, 5)]
        """
        data = text.encode("utf-8") if isinstance(text, str) else bytes(text)
        starts = [int(s) for s in np.asarray(starts).reshape(-1)]
        ends = [int(e) for e in np.asarray(ends).reshape(-1)]
        char_index, previous, index = {0: 0}, 0, 0
        for position in sorted(set(starts) | set(ends)):
            index += len(data[previous:position].decode("utf-8", errors="replace"))
            char_index[position], previous = index, position
        return [(char_index[s], char_index[e]) for s, e in zip(starts, ends)]

    def detokenize(self, token_ids, skip_special_tokens=False):
        """Joins token ids back into text: word pieces glued, words separated by one space.

        Equal to HF's WordPiece decoder without clean-up (`decoders.WordPiece(cleanup=False)`).
        Normalization is not undone: case, accents and spacing around punctuation are lost.

        Args:
            token_ids: int ids, 1-D (one sequence) or 2-D/ragged (a batch), e.g. padded
                `token_ids` of `BertPreprocessor`.
            skip_special_tokens: leave out `[PAD]`, `[UNK]`, `[CLS]`, `[SEP]` and `[MASK]`
                (like HF's `skip_special_tokens`).

        Returns:
            A scalar `tf.string` for 1-D input, else a 1-D `tf.string` batch.

        Example:
        >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "un", "##able", "!"]
        >>> BertTokenizer(vocab).detokenize([[2, 5, 6, 7, 3, 0]], skip_special_tokens=True)
        <tf.Tensor: shape=(1,), dtype=string, numpy=array([b'unable !'], dtype=object)>
        """
        self._require_vocabulary()
        if not isinstance(token_ids, tf.RaggedTensor):
            token_ids = tf.convert_to_tensor(token_ids)
        scalar = token_ids.shape.rank == 1
        if scalar:
            token_ids = token_ids[tf.newaxis]
        if not isinstance(token_ids, tf.RaggedTensor):
            token_ids = tf.RaggedTensor.from_tensor(token_ids)
        token_ids = tf.cast(token_ids, tf.int32)
        if skip_special_tokens:
            special = tf.reduce_any(
                tf.equal(token_ids.flat_values[:, tf.newaxis], self._special_ids), axis=-1
            )
            token_ids = tf.ragged.boolean_mask(token_ids, token_ids.with_flat_values(~special))
        tokens = tf.gather(self._vocabulary_tensor, token_ids)
        text = tf.strings.regex_replace(
            tf.strings.reduce_join(tokens, axis=-1, separator=" "), " ##", ""
        )
        return text[0] if scalar else text

    def _tokenize_any_rank(self, inputs, with_offsets):
        self._require_vocabulary()
        if not isinstance(inputs, tf.Tensor):
            inputs = tf.convert_to_tensor(inputs, dtype=tf.string)
        if inputs.dtype != tf.string:
            raise TypeError(
                f"BertTokenizer expects tf.string inputs, got {inputs.dtype} ({inputs})."
            )
        rank = inputs.shape.rank
        if rank not in (0, 1):
            raise ValueError(
                "BertTokenizer expects a scalar string or a 1-D batch of strings, got shape "
                f"{inputs.shape}."
            )
        texts = inputs[tf.newaxis] if rank == 0 else inputs
        outputs = self._tokenize(texts, with_offsets)
        if rank == 0:
            outputs = tuple(None if t is None else t.flat_values for t in outputs)
        return outputs

    def _tokenize(self, texts, with_offsets):
        """Tokenizes a 1-D string batch; returns ragged `(ids, starts, ends)` (offsets optional)."""
        is_ascii = tf.strings.regex_full_match(texts, r"[\t\n\r\x20-\x7e]*")
        index = tf.range(tf.size(texts))
        order = tf.concat([tf.boolean_mask(index, is_ascii), tf.boolean_mask(index, ~is_ascii)], 0)
        ascii_texts = tf.boolean_mask(texts, is_ascii)
        if with_offsets:
            ascii_outputs = self._ascii_tokenizer.tokenize_with_offsets(ascii_texts)
        else:
            ascii_outputs = (self._ascii_tokenizer.tokenize(ascii_texts), None, None)
        other_outputs = self._tokenize_general(tf.boolean_mask(texts, ~is_ascii), with_offsets)
        inverse = tf.math.invert_permutation(order)
        return tuple(
            None if a is None else tf.gather(tf.concat([a, b], 0), inverse)
            for a, b in zip(ascii_outputs, other_outputs)
        )

    def _tokenize_general(self, texts, with_offsets):
        """`_tokenize` for any text, with the code-point tables."""
        words, word_rows, sources, char_starts = self._splitter.split_with_sources(texts)
        word_strings = tf.strings.unicode_encode(words, "UTF-8")
        if with_offsets:
            pieces, piece_starts, piece_ends = self._wordpiece.tokenize_with_offsets(word_strings)
        else:
            pieces = self._wordpiece.tokenize(word_strings)

        # A word over max_chars_per_word characters becomes one [UNK] (its first piece, renamed).
        piece_word = pieces.value_rowids()
        piece_in_long_word = tf.gather(words.row_lengths() > self.max_chars_per_word, piece_word)
        is_first_piece = tf.range(tf.size(piece_word, out_type=tf.int64)) == tf.gather(
            pieces.row_splits, piece_word
        )
        keep_piece = ~piece_in_long_word | is_first_piece
        ids = tf.boolean_mask(
            tf.where(piece_in_long_word, self.unk_token_id, pieces.flat_values), keep_piece
        )
        piece_rows = tf.boolean_mask(tf.gather(word_rows, piece_word), keep_piece)
        num_texts = tf.size(texts, out_type=tf.int64)
        ids = tf.RaggedTensor.from_value_rowids(ids, piece_rows, nrows=num_texts, validate=False)
        if not with_offsets:
            return ids, None, None

        # Offsets: find the normalized characters at both ends of each piece (from its byte span
        # in the word), then the byte span of the original characters they came from.
        text_bytes = tf.cast(tf.strings.length(texts), tf.int64)
        text_base = tf.cumsum(text_bytes, exclusive=True)
        char_base = tf.gather(text_base, char_starts.value_rowids())
        global_starts = char_starts.flat_values + char_base
        global_ends = tf.concat([global_starts[1:], [tf.reduce_sum(text_bytes)]], 0)
        char_begin = tf.gather(global_starts - char_base, sources)
        char_end = tf.gather(global_ends - char_base, sources)
        code_points = words.flat_values
        char_bytes = (
            1
            + tf.cast(code_points >= 0x80, tf.int64)
            + tf.cast(code_points >= 0x800, tf.int64)
            + tf.cast(code_points >= 0x10000, tf.int64)
        )
        char_byte_pos = tf.cumsum(char_bytes, exclusive=True)
        piece_base = tf.gather(tf.gather(char_byte_pos, words.row_splits[:-1]), piece_word)

        def char_at(byte_pos):
            return tf.searchsorted(
                char_byte_pos[tf.newaxis], byte_pos[tf.newaxis], side="right", out_type=tf.int64
            )[0] - 1

        first_char = char_at(piece_base + tf.cast(piece_starts.flat_values, tf.int64))
        last_char = char_at(piece_base + tf.cast(piece_ends.flat_values, tf.int64) - 1)
        last_char = tf.where(
            piece_in_long_word, tf.gather(words.row_splits[1:] - 1, piece_word), last_char
        )
        starts = tf.boolean_mask(tf.gather(char_begin, first_char), keep_piece)
        ends = tf.boolean_mask(tf.gather(char_end, last_char), keep_piece)
        return ids, ids.with_flat_values(starts), ids.with_flat_values(ends)
