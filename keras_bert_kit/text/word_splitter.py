"""`WordSplitter`: BERT's text normalization and word splitting, in-graph.

Applies the per-code-point tables of `char_table.py` with TensorFlow ops, so that text is cleaned,
lower-cased/accent-stripped and split into words exactly as Hugging Face `tokenizers`'
`BertNormalizer` + `BertPreTokenizer` do. `BertTokenizer` cuts the words into word pieces;
`build_vocabulary` counts them.
"""

import numpy as np
import tensorflow as tf

from keras_bert_kit.text import char_table


class WordSplitter(tf.Module):
    """Normalizes strings and splits them into words like HF's BertNormalizer + BertPreTokenizer.

    Args:
        lowercase: lower-case the text (uncased vocabularies).
        strip_accents: decompose (NFD) and drop non-spacing marks; `None` follows `lowercase`.
        tokenize_chinese_chars: make every CJK ideograph a word of its own.
        name: optional `tf.Module` name.

    Example:
    >>> words = WordSplitter(lowercase=True).split(["Ça va? 北京", ""]).to_list()
    >>> [[w.decode("utf-8") for w in row] for row in words]
    [['ca', 'va', '?', '北', '京'], []]
    """

    def __init__(self, lowercase=True, strip_accents=None, tokenize_chinese_chars=True, name=None):
        super().__init__(name=name)
        table = char_table.CharTable.build(
            bool(lowercase),
            None if strip_accents is None else bool(strip_accents),
            bool(tokenize_chinese_chars),
        )
        self._block_index = tf.constant(table.block_index)
        self._blocks = tf.constant(table.blocks)
        self._mapped_row_splits = tf.constant(table.mapped_row_splits)
        # One padding element keeps the gathers valid when nothing is mapped (cased tables).
        self._mapped_lengths = tf.constant(
            np.append(np.diff(table.mapped_row_splits), 0).astype(np.int32)
        )
        self._mapped_code_points = tf.constant(
            np.append(table.mapped_code_points, 0).astype(np.int32)
        )
        self._mapped_kinds = tf.constant(
            np.append(table.mapped_kinds, char_table.WORD).astype(np.int32)
        )

    def split(self, texts):
        """Splits a 1-D batch of strings into normalized words.

        Args:
            texts: 1-D `tf.string` batch (invalid UTF-8 is read with U+FFFD replacements).

        Returns:
            A `tf.string` `RaggedTensor` `[batch, None]` of UTF-8 words.
        """
        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        words, word_rows, _, _ = self.split_with_sources(texts)
        return tf.RaggedTensor.from_value_rowids(
            tf.strings.unicode_encode(words, "UTF-8"),
            word_rows,
            nrows=tf.size(texts, out_type=tf.int64),
            validate=False,
        )

    def split_with_sources(self, texts):
        """`split`, with what `BertTokenizer` needs to map words back to the original bytes.

        Args:
            texts: 1-D `tf.string` batch.

        Returns:
            `(words, word_rows, sources, char_starts)`: `words`, int32 code points
            `[num_words, None]`; `word_rows`, the int64 index of the text of each word;
            `sources`, for each code point of `words.flat_values`, the index of the original
            character it came from among `char_starts.flat_values`, the byte offsets of the
            original characters (ragged `[batch, None]`).
        """
        decoded, char_starts = tf.strings.unicode_decode_with_offsets(
            texts, "UTF-8", errors="replace"
        )
        code_points = decoded.flat_values
        char_rows = decoded.value_rowids()

        # Normalize: each original character becomes 0..n characters, each of a kind.
        low_bits = (1 << char_table.BLOCK_BITS) - 1
        block = tf.gather(
            self._block_index, tf.bitwise.right_shift(code_points, char_table.BLOCK_BITS)
        )
        entry = tf.gather(
            self._blocks,
            tf.bitwise.left_shift(block, char_table.BLOCK_BITS)
            + tf.bitwise.bitwise_and(code_points, low_bits),
        )
        num_out = tf.where(
            entry >= char_table.MAPPED,
            tf.gather(self._mapped_lengths, tf.maximum(entry - char_table.MAPPED, 0)),
            tf.cast(entry != char_table.DROPPED, tf.int32),
        )
        source = tf.repeat(tf.range(tf.size(code_points, out_type=tf.int32)), num_out)
        out_entry = tf.gather(entry, source)
        out_is_mapped = out_entry >= char_table.MAPPED
        mapped_index = (
            tf.gather(self._mapped_row_splits, tf.maximum(out_entry - char_table.MAPPED, 0))
            + tf.range(tf.size(source))
            - tf.gather(tf.cumsum(num_out, exclusive=True), source)
        )
        out_code_points = tf.where(
            out_is_mapped,
            tf.gather(self._mapped_code_points, mapped_index),
            tf.gather(code_points, source),
        )
        kind = tf.where(out_is_mapped, tf.gather(self._mapped_kinds, mapped_index), out_entry)
        out_rows = tf.gather(char_rows, source)

        # Split: a word starts at an isolated character, or at a word character that does not
        # continue a word character of the same text; separators are removed.
        is_word_char = kind == char_table.WORD
        continues = tf.concat([[False], is_word_char], 0)[:-1] & tf.equal(
            tf.concat([[-1], out_rows], 0)[:-1], out_rows
        )
        starts_word = (kind == char_table.ISOLATED) | (is_word_char & ~continues)
        keep = kind != char_table.SEPARATOR
        word_of_char = tf.boolean_mask(tf.cumsum(tf.cast(starts_word, tf.int64)) - 1, keep)
        word_rows = tf.boolean_mask(out_rows, starts_word)
        words = tf.RaggedTensor.from_value_rowids(
            tf.boolean_mask(out_code_points, keep),
            word_of_char,
            nrows=tf.size(word_rows, out_type=tf.int64),
            validate=False,
        )
        return words, word_rows, tf.boolean_mask(source, keep), char_starts
