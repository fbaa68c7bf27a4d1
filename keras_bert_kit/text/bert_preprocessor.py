"""`BertPreprocessor`: raw text (single texts or pairs) -> padded BERT model inputs, in-graph.

Tokenizes with a `BertTokenizer`, truncates like Hugging Face `tokenizers`' `longest_first`
strategy, packs `[CLS] a [SEP] (b [SEP])` with tensorflow-text's `combine_segments` and pads with
`pad_model_inputs`.
"""

import keras
import tensorflow as tf
import tensorflow_text as tf_text

from keras_bert_kit.text.bert_tokenizer import BertTokenizer

OUTPUT_KEYS = ("token_ids", "segment_ids", "padding_mask")


def longest_first_lengths(length_a, length_b, budget):
    """Per-example kept lengths of a pair under HF `tokenizers`' `longest_first` truncation.

    `tokenizers` (`utils/truncation.rs`) keeps the shorter sequence whole and cuts the longer one
    to the rest of the budget when the shorter takes at most half of it; otherwise the shorter
    gets `budget // 2` and the longer the rest. On equal lengths the first sequence counts as the
    shorter one, so with an odd budget the second keeps one token more. Pairs that fit are kept.

    Args:
        length_a: int64 `[batch]` token counts of the first sequences.
        length_b: int64 `[batch]` token counts of the second sequences.
        budget: number of tokens left for both (sequence length minus the 3 special tokens).

    Returns:
        `(kept_a, kept_b)`, int64 `[batch]`.

    Example:
    >>> a, b = longest_first_lengths(tf.constant([3, 10, 6]), tf.constant([20, 10, 5]), 9)
    >>> a.numpy().tolist(), b.numpy().tolist()
    ([3, 4, 5], [6, 5, 4])
    """
    half = budget // 2
    a_is_shorter = length_a <= length_b
    shorter = tf.minimum(length_a, length_b)
    shorter_fits = 2 * shorter <= budget
    kept_shorter = tf.where(shorter_fits, shorter, half)
    kept_longer = tf.where(shorter_fits, budget - shorter, budget - half)
    fits = length_a + length_b <= budget
    kept_a = tf.where(fits, length_a, tf.where(a_is_shorter, kept_shorter, kept_longer))
    kept_b = tf.where(fits, length_b, tf.where(a_is_shorter, kept_longer, kept_shorter))
    return kept_a, kept_b


def _check_multiple(pad_to_multiple_of):
    """`pad_to_multiple_of` as an int >= 1, or one clear error."""
    if int(pad_to_multiple_of) < 1:
        raise ValueError(f"pad_to_multiple_of must be >= 1, got {pad_to_multiple_of}.")
    return int(pad_to_multiple_of)


def _round_up(length, multiple):
    return -(-length // multiple) * multiple


def trim_padding(packed, pad_to_multiple_of=8):
    """Cuts packed inputs to the longest sequence of the batch, rounded up to a multiple.

    Padding is masked out of attention, so a model's outputs on the trimmed inputs equal those
    on the full-length ones (up to float rounding) while costing only the real length: a short
    request to a 128-token model runs at, say, 32 positions.

    Args:
        packed: a dict of `[batch, length]` tensors with a `padding_mask` (the preprocessor's
            output); every entry is cut on its second axis.
        pad_to_multiple_of: round the kept length up to a multiple of this (fewer shapes).

    Returns:
        The same dict with `[batch, kept]` tensors, `kept <= length`.

    Example:
    >>> packed = {"token_ids": tf.constant([[2, 5, 3, 0, 0, 0]]),
    ...           "padding_mask": tf.constant([[1, 1, 1, 0, 0, 0]])}
    >>> trim_padding(packed, 2)["token_ids"].numpy().tolist()
    [[2, 5, 3, 0]]
    """
    multiple = _check_multiple(pad_to_multiple_of)
    mask = packed["padding_mask"]
    full = tf.shape(mask)[1]
    longest = tf.reduce_max(tf.concat([tf.reduce_sum(tf.cast(mask, tf.int32), axis=1), [1]], 0))
    kept = tf.minimum(_round_up(longest, multiple), full)
    return {name: value[:, :kept] for name, value in packed.items()}


def _keep_first(ids, lengths):
    positions = tf.ragged.range(ids.row_lengths(), dtype=tf.int64)
    return tf.ragged.boolean_mask(ids, positions < tf.expand_dims(lengths, 1))


def _is_segment_tuple(inputs):
    if isinstance(inputs, tuple):
        return True
    return (
        isinstance(inputs, list)
        and 1 <= len(inputs) <= 2
        and not any(isinstance(x, (str, bytes)) for x in inputs)
    )


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class BertPreprocessor(keras.layers.Layer):
    """Packs texts or text pairs into BERT inputs: `[CLS] a [SEP] (b [SEP])`, truncated, padded.

    Call it on a batch of strings (`pre(texts)`) or on a tuple of two batches for pairs
    (`pre((texts_a, texts_b))`); a Python list of str is one batch, a tuple (or a list of one or
    two tensors/lists) is segments. It returns a dict of int32 `[batch, sequence_length]` tensors:
    `token_ids`, `segment_ids` (0 for `[CLS] a [SEP]`, 1 for `b [SEP]`) and `padding_mask` (1 on
    tokens, 0 on padding). A scalar string (or pair of scalars) gives unbatched `[sequence_length]`
    outputs. Ids, truncation and padding equal HF `BertTokenizerFast` called with
    `truncation="longest_first", padding="max_length"` (or `padding="longest"`).

    Args:
        tokenizer: the `BertTokenizer`.
        sequence_length: total length including special tokens; longer inputs are truncated
            (a single text to `sequence_length - 2` tokens, a pair to `sequence_length - 3`
            with HF's `longest_first` rule). `None`: no truncation, padding to the longest
            sequence of the batch.
        pad_to_multiple_of: with `sequence_length=None`, round the padded length up to a
            multiple of this (fewer distinct shapes for XLA).
        **kwargs: base `keras.layers.Layer` arguments (`name`, ...).

    Example:
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "."]
    >>> pre = BertPreprocessor(BertTokenizer(vocab), sequence_length=8)
    >>> out = pre((["The cat sat."], ["The cat."]))
    >>> out["token_ids"].numpy().tolist(), out["segment_ids"].numpy().tolist()
    ([[2, 5, 6, 7, 3, 5, 6, 3]], [[0, 0, 0, 0, 0, 1, 1, 1]])
    >>> pre("the cat")["padding_mask"].numpy().tolist()
    [1, 1, 1, 1, 0, 0, 0, 0]
    """

    def __init__(self, tokenizer, sequence_length=512, pad_to_multiple_of=None, **kwargs):
        super().__init__(**kwargs)
        if not isinstance(tokenizer, BertTokenizer):
            raise TypeError(f"tokenizer must be a BertTokenizer, got {type(tokenizer).__name__}.")
        if sequence_length is not None and int(sequence_length) < 3:
            raise ValueError(
                f"sequence_length must be >= 3 ([CLS] a [SEP] b [SEP] needs 3 special tokens) "
                f"or None, got {sequence_length}."
            )
        if pad_to_multiple_of is not None:
            if sequence_length is not None:
                raise ValueError(
                    "pad_to_multiple_of only applies with sequence_length=None (dynamic "
                    f"padding); got sequence_length={sequence_length}, "
                    f"pad_to_multiple_of={pad_to_multiple_of}."
                )
            _check_multiple(pad_to_multiple_of)
        self.tokenizer = tokenizer
        self.sequence_length = None if sequence_length is None else int(sequence_length)
        self.pad_to_multiple_of = None if pad_to_multiple_of is None else int(pad_to_multiple_of)
        self._convert_input_args = False
        self._allow_non_tensor_positional_args = True
        self.built = True

    def get_config(self):
        config = super().get_config()
        config.update(
            {
                "tokenizer": keras.saving.serialize_keras_object(self.tokenizer),
                "sequence_length": self.sequence_length,
                "pad_to_multiple_of": self.pad_to_multiple_of,
            }
        )
        return config

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["tokenizer"] = keras.saving.deserialize_keras_object(config["tokenizer"])
        return cls(**config)

    @classmethod
    def from_preprocessor(cls, preprocessor):
        """This class on the tokenizer and settings of another `BertPreprocessor`.

        How a task model takes a plain `BertPreprocessor` (e.g. from a `.keras` file saved
        before per-task preprocessors): the packing is the same, the tokenizer is shared.

        Example:
        >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a"]
        >>> plain = BertPreprocessor(BertTokenizer(vocab), sequence_length=8)
        >>> BertPreprocessor.from_preprocessor(plain) is plain
        True
        """
        if isinstance(preprocessor, cls):
            return preprocessor
        return cls(preprocessor.tokenizer, sequence_length=preprocessor.sequence_length,
                   pad_to_multiple_of=preprocessor.pad_to_multiple_of, name=preprocessor.name,
                   dtype=preprocessor.dtype_policy)

    def call(self, inputs):
        segments = list(inputs) if _is_segment_tuple(inputs) else [inputs]
        if len(segments) not in (1, 2):
            raise ValueError(
                f"BertPreprocessor takes one text batch or a pair (texts_a, texts_b), got "
                f"{len(segments)} segments."
            )
        segments = [
            s if isinstance(s, tf.Tensor) else tf.convert_to_tensor(s, dtype=tf.string)
            for s in segments
        ]
        ranks = {s.shape.rank for s in segments}
        if len(ranks) != 1 or not ranks <= {0, 1}:
            raise ValueError(
                "BertPreprocessor expects scalar strings or 1-D string batches of the same rank, "
                f"got shapes {[s.shape for s in segments]}."
            )
        scalar = ranks == {0}
        if scalar:
            segments = [s[tf.newaxis] for s in segments]
        ids = [self.tokenizer(s) for s in segments]
        if self.sequence_length is not None:
            if len(ids) == 1:
                budget = tf.constant(self.sequence_length - 2, tf.int64)
                ids = [_keep_first(ids[0], tf.fill([ids[0].nrows()], budget))]
            else:
                kept = longest_first_lengths(
                    ids[0].row_lengths(),
                    ids[1].row_lengths(),
                    tf.constant(self.sequence_length - 3, tf.int64),
                )
                ids = [_keep_first(i, k) for i, k in zip(ids, kept)]
        token_ids, segment_ids = tf_text.combine_segments(
            ids,
            start_of_sequence_id=self.tokenizer.cls_token_id,
            end_of_segment_id=self.tokenizer.sep_token_id,
        )
        if self.sequence_length is not None:
            length = self.sequence_length
        else:
            length = tf.reduce_max(tf.concat([token_ids.row_lengths(), [0]], 0))
            if self.pad_to_multiple_of is not None:
                length = _round_up(length, self.pad_to_multiple_of)
        token_ids, padding_mask = tf_text.pad_model_inputs(
            token_ids, length, pad_value=self.tokenizer.pad_token_id
        )
        segment_ids, _ = tf_text.pad_model_inputs(segment_ids, length, pad_value=0)
        outputs = {
            "token_ids": tf.cast(token_ids, tf.int32),
            "segment_ids": tf.cast(segment_ids, tf.int32),
            "padding_mask": tf.cast(padding_mask, tf.int32),
        }
        if scalar:
            outputs = {k: v[0] for k, v in outputs.items()}
        return outputs

    def pack_windows(self, texts, stride, max_windows=None):
        """Packs each text as overlapping windows, so that a long text is used whole.

        Window `j` of a text holds its tokens `[j * stride, j * stride + sequence_length - 2)`,
        packed as `[CLS] window [SEP]` and padded; windows follow until one reaches the end of
        the text. A text that fits gives exactly the one input `call` gives it.

        Args:
            texts: `[batch]` strings.
            stride: tokens between window starts (at most `sequence_length - 2`, so no token
                is skipped).
            max_windows: at most this many windows per text (the first ones); None: no limit.

        Returns:
            `(packed, text_index)`: the packed dict of `[windows, sequence_length]` int32
            tensors and the int32 `[windows]` index of the text each window came from.

        Example:
        >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "b", "c", "d", "e"]
        >>> pre = BertPreprocessor(BertTokenizer(vocab), sequence_length=5)
        >>> packed, index = pre.pack_windows(tf.constant(["a b c d e", "a"]), stride=2)
        >>> packed["token_ids"].numpy().tolist(), index.numpy().tolist()
        ([[2, 5, 6, 7, 3], [2, 7, 8, 9, 3], [2, 5, 3, 0, 0]], [0, 0, 1])
        """
        if self.sequence_length is None:
            raise ValueError("pack_windows needs a fixed sequence_length")
        width = self.sequence_length - 2
        stride = int(stride)
        if not 1 <= stride <= width:
            raise ValueError(f"stride={stride}: expected 1 <= stride <= sequence_length - 2 "
                             f"({width}), so that windows overlap or touch and no token is skipped")
        texts = tf.convert_to_tensor(texts, dtype=tf.string)
        if texts.shape.rank != 1:
            raise ValueError(f"pack_windows takes a [batch] string tensor, got shape {texts.shape}")
        ids = self.tokenizer(texts)
        lengths = ids.row_lengths()
        counts = 1 + (tf.maximum(lengths - width, 0) + stride - 1) // stride
        if max_windows is not None:
            counts = tf.minimum(counts, int(max_windows))
        text_index = tf.repeat(tf.range(tf.size(lengths, out_type=tf.int64)), counts)
        starts = tf.ragged.range(counts).flat_values * stride
        ends = tf.minimum(starts + width, tf.gather(lengths, text_index))
        positions = (tf.ragged.range(starts, ends)
                     + tf.expand_dims(tf.gather(ids.row_starts(), text_index), 1))
        windows = tf.gather(ids.flat_values, positions)
        token_ids, segment_ids = tf_text.combine_segments(
            [windows], start_of_sequence_id=self.tokenizer.cls_token_id,
            end_of_segment_id=self.tokenizer.sep_token_id)
        token_ids, padding_mask = tf_text.pad_model_inputs(
            token_ids, self.sequence_length, pad_value=self.tokenizer.pad_token_id)
        segment_ids, _ = tf_text.pad_model_inputs(segment_ids, self.sequence_length, pad_value=0)
        packed = {"token_ids": tf.cast(token_ids, tf.int32),
                  "segment_ids": tf.cast(segment_ids, tf.int32),
                  "padding_mask": tf.cast(padding_mask, tf.int32)}
        return packed, tf.cast(text_index, tf.int32)

    def compute_output_spec(self, inputs):
        first = inputs[0] if _is_segment_tuple(inputs) else inputs
        shape = tuple(getattr(first, "shape", ())) + (self.sequence_length,)
        return {k: keras.KerasTensor(shape, dtype="int32") for k in OUTPUT_KEYS}
