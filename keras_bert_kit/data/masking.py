"""Dynamic masking for BERT pretraining in `tf.data`: fresh masked-LM masks every epoch, in-graph.

- `mask_tokens`: chooses and replaces masked-LM positions of a dense batch (BERT's rule:
  `masked_lm_prob` of the tokens, at most `max_predictions_per_seq`; 80 % `[MASK]`, 10 % kept,
  10 % random id), optionally by whole words, with stateless random ops driven by a seed.
- `DynamicMasker`: applies `mask_tokens` to batches of packed sequences and returns the model's
  `(x, y, sample_weight)` structure (see `model_batch`), with per-epoch fresh seeds (`apply`).
- `pack_sequences`: packs several short documents into one `[CLS] d1 [SEP] d2 [SEP] ...` sequence.
- `dynamic_pretraining_dataset`: raw text (through `BertTokenizer`) or token-id sequences ->
  masked batches, as next-sentence pairs `[CLS] a [SEP] b [SEP]` or packed documents.

Every batch has the structure that `read_pretraining_records` gives for static records, so
`model.fit` takes either.
"""

import tensorflow as tf
import tensorflow_text as tf_text

MASK_TOKEN_RATE = 0.8
RANDOM_TOKEN_RATE = 0.1


def model_batch(token_ids, segment_ids, padding_mask, mask_positions, mask_ids, mask_weights,
                next_sentence_labels, next_sentence_weights):
    """Arranges a pretraining batch as the `(x, y, sample_weight)` that `BertPretrainer.fit` takes.

    Args:
        token_ids, segment_ids, padding_mask: `[batch, seq]` model inputs.
        mask_positions, mask_ids, mask_weights: `[batch, max_predictions]` masked-LM positions,
            original ids at them and 1.0/0.0 weights (0.0 for padding entries).
        next_sentence_labels: `[batch]` 0 = B follows A, 1 = B is random.
        next_sentence_weights: `[batch]` weight of the next-sentence loss (0.0 for packed
            sequences, which have no next-sentence task).

    Returns:
        `(x, y, sample_weight)`: `x` = dict `token_ids`, `segment_ids`, `padding_mask`,
        `mask_positions` (int32); `y` = dict `mlm` (int32 mask ids), `nsp` (int32 labels);
        `sample_weight` = dict `mlm`, `nsp` (float32).

    Example:
    >>> x, y, w = model_batch(*[tf.zeros([2, 8], tf.int32)] * 3, *[tf.zeros([2, 3])] * 3,
    ...                       tf.zeros([2]), tf.ones([2]))
    >>> sorted(x), sorted(y), sorted(w)
    (['mask_positions', 'padding_mask', 'segment_ids', 'token_ids'], ['mlm', 'nsp'], ['mlm', 'nsp'])
    """
    as_int = lambda t: tf.cast(t, tf.int32)  # noqa: E731
    x = {
        "token_ids": as_int(token_ids),
        "segment_ids": as_int(segment_ids),
        "padding_mask": as_int(padding_mask),
        "mask_positions": as_int(mask_positions),
    }
    y = {"mlm": as_int(mask_ids), "nsp": as_int(next_sentence_labels)}
    sample_weight = {
        "mlm": tf.cast(mask_weights, tf.float32),
        "nsp": tf.cast(next_sentence_weights, tf.float32),
    }
    return x, y, sample_weight


def mask_tokens(
    token_ids,
    padding_mask,
    seed,
    *,
    vocabulary_size,
    mask_token_id,
    special_token_ids,
    max_predictions_per_seq=20,
    masked_lm_prob=0.15,
    mask_token_rate=MASK_TOKEN_RATE,
    random_token_rate=RANDOM_TOKEN_RATE,
    is_continuation=None,
):
    """Chooses masked-LM positions of a batch and replaces their tokens, like BERT's data creation.

    Each row gets `min(max_predictions_per_seq, max(1, round(length * masked_lm_prob)))` positions
    (`length` counts all non-padding tokens, special ones included, as Google does), chosen
    uniformly among tokens that are not special; of those, `mask_token_rate` become `[MASK]`,
    `random_token_rate` a uniformly random id in `[0, vocabulary_size)` and the rest stay. With
    `is_continuation`, whole words (a piece and the `##` pieces that follow it) are chosen in
    random order while they fit in the budget (the first word that does not fit ends the choice).
    The result depends only on the inputs and `seed` (stateless random ops).

    Args:
        token_ids: int `[batch, seq]` token ids, padded.
        padding_mask: `[batch, seq]` 1 for real tokens, 0 for padding.
        seed: int `[2]` seed of the stateless random ops.
        vocabulary_size: number of ids, for random replacements.
        mask_token_id: id of `[MASK]`.
        special_token_ids: ids never chosen (`[CLS]`, `[SEP]`, `[PAD]`, ...).
        max_predictions_per_seq: most masked positions per row (the output width).
        masked_lm_prob: fraction of each row's tokens to choose.
        mask_token_rate: fraction of chosen tokens replaced by `[MASK]`.
        random_token_rate: fraction of chosen tokens replaced by a random id.
        is_continuation: optional bool `[vocabulary_size]` table, true for `##` pieces; enables
            whole-word masking.

    Returns:
        A dict: `token_ids` (masked, int32 `[batch, seq]`), `mask_positions` (int32
        `[batch, max_predictions_per_seq]`, ascending, 0-padded), `mask_ids` (original ids there,
        0-padded) and `mask_weights` (float32, 1.0 for real entries).

    Example:
    >>> out = mask_tokens([[2, 7, 8, 9, 3, 0]], [[1, 1, 1, 1, 1, 0]], [1, 2], vocabulary_size=10,
    ...                   mask_token_id=4, special_token_ids=[0, 2, 3], max_predictions_per_seq=2)
    >>> out["mask_weights"].numpy().tolist()  # round(5 * 0.15) = 1 position, 0-padded to 2
    [[1.0, 0.0]]
    >>> position = int(out["mask_positions"][0, 0])  # one of the non-special tokens 7, 8, 9
    >>> position in (1, 2, 3), int(out["mask_ids"][0, 0]) == [2, 7, 8, 9][position]
    (True, True)
    """
    token_ids = tf.cast(tf.convert_to_tensor(token_ids), tf.int32)
    choice_seed, decision_seed, random_id_seed = tf.unstack(
        tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    )
    candidate, num_to_predict = _candidates_and_budget(
        token_ids, padding_mask, special_token_ids, masked_lm_prob, max_predictions_per_seq
    )
    position, start_position, word_length = _word_spans(token_ids, candidate, is_continuation)
    chosen = _choose_words(
        candidate, position, start_position, word_length, num_to_predict, choice_seed
    )
    width = max_predictions_per_seq
    mask_positions, mask_ids, mask_weights = _chosen_entries(token_ids, chosen, width)
    masked_token_ids = _replace_chosen(
        token_ids, mask_positions, mask_ids, mask_weights, width, decision_seed, random_id_seed,
        vocabulary_size=vocabulary_size, mask_token_id=mask_token_id,
        mask_token_rate=mask_token_rate, random_token_rate=random_token_rate,
    )
    predictions_shape = [token_ids.shape[0], width]  # static where the batch size is
    return {
        "token_ids": masked_token_ids,
        "mask_positions": tf.ensure_shape(mask_positions, predictions_shape),
        "mask_ids": tf.ensure_shape(mask_ids, predictions_shape),
        "mask_weights": tf.ensure_shape(tf.cast(mask_weights, tf.float32), predictions_shape),
    }


def _candidates_and_budget(token_ids, padding_mask, special_token_ids, masked_lm_prob,
                           max_predictions_per_seq):
    """Which tokens may be chosen (bool `[batch, seq]`: real and not special) and how many to
    choose per row (int32 `[batch]`: `min(max_predictions_per_seq, max(1, round(n * prob)))`)."""
    valid = tf.cast(padding_mask, tf.bool)
    candidate = valid & ~tf.reduce_any(
        tf.equal(token_ids[..., tf.newaxis], tf.constant(special_token_ids, tf.int32)), axis=-1
    )
    # In float64, so that rounding (half to even) matches Python's `round` in Google's script.
    num_tokens = tf.reduce_sum(tf.cast(valid, tf.float64), axis=1)
    rounded = tf.cast(tf.round(num_tokens * masked_lm_prob), tf.int32)
    return candidate, tf.minimum(max_predictions_per_seq, tf.maximum(1, rounded))


def _word_spans(token_ids, candidate, is_continuation):
    """Groups the candidates into words; returns, per token, its position, the position where its
    word starts and the word's length (all int32 `[batch, seq]`).

    A word starts at a candidate that is not a `##` piece right after another candidate (without
    `is_continuation`, every candidate is a word). Each word is a segment of
    `unsorted_segment_*`; the other tokens go to one dummy segment.
    """
    batch_size, seq_length = tf.shape(token_ids)[0], tf.shape(token_ids)[1]
    position = tf.broadcast_to(tf.range(seq_length), tf.shape(token_ids))
    if is_continuation is None:
        word_start = candidate
    else:
        continues = tf.gather(tf.constant(is_continuation, tf.bool), token_ids)
        previous_candidate = tf.pad(candidate[:, :-1], [[0, 0], [1, 0]])
        word_start = candidate & ~(continues & previous_candidate)
    word_index = tf.cumsum(tf.cast(word_start, tf.int32), axis=1) - 1
    num_segments = batch_size * seq_length + 1
    segment = tf.where(
        candidate, word_index + seq_length * tf.range(batch_size)[:, tf.newaxis], num_segments - 1
    )
    start_position = tf.where(
        candidate,
        tf.gather(tf.math.unsorted_segment_min(position, segment, num_segments), segment),
        position,
    )
    word_length = tf.gather(
        tf.math.unsorted_segment_sum(tf.ones_like(position), segment, num_segments), segment
    )
    return position, start_position, word_length


def _choose_words(candidate, position, start_position, word_length, num_to_predict, seed):
    """Chooses whole words in random order while they fit in each row's budget (bool
    `[batch, seq]`, true at the chosen tokens).

    Every token gets the random key of its word's first token; a stable sort by key keeps each
    word's tokens together and in order. A word is chosen when it ends within the row's budget.
    """
    key = tf.random.stateless_uniform(tf.shape(position), seed)
    key = tf.where(candidate, tf.gather(key, start_position, batch_dims=1), 2.0)
    rank = tf.argsort(tf.argsort(key, axis=1, stable=True), axis=1, stable=True)
    end_rank = rank - (position - start_position) + word_length
    return candidate & (end_rank <= num_to_predict[:, tf.newaxis])


def _chosen_entries(token_ids, chosen, width):
    """The chosen positions of each row, ascending and 0-padded to `width`: int32 positions, the
    original ids there and bool weights (true for real entries), each `[batch, width]`."""
    seq_length = tf.shape(token_ids)[1]
    chosen = tf.pad(chosen, [[0, 0], [0, tf.maximum(width - seq_length, 0)]])
    padded_position = tf.range(tf.shape(chosen)[1])
    order = tf.argsort(tf.where(chosen, padded_position, padded_position + tf.shape(chosen)[1]),
                       axis=1, stable=True)[:, :width]
    mask_weights = tf.gather(chosen, order, batch_dims=1)
    mask_positions = tf.where(mask_weights, order, 0)
    mask_ids = tf.where(mask_weights, tf.gather(token_ids, mask_positions, batch_dims=1), 0)
    return mask_positions, mask_ids, mask_weights


def _replace_chosen(token_ids, mask_positions, mask_ids, mask_weights, width, decision_seed,
                    random_id_seed, *, vocabulary_size, mask_token_id, mask_token_rate,
                    random_token_rate):
    """`token_ids` with the chosen tokens replaced: `[MASK]`, a random id or kept, at random."""
    batch_size = tf.shape(token_ids)[0]
    decision = tf.random.stateless_uniform([batch_size, width], decision_seed)
    random_ids = tf.random.stateless_uniform(
        [batch_size, width], random_id_seed, minval=0, maxval=vocabulary_size, dtype=tf.int32
    )
    replacement = tf.where(
        decision < mask_token_rate,
        mask_token_id,
        tf.where(decision >= 1.0 - random_token_rate, random_ids, mask_ids),
    )
    row = tf.broadcast_to(tf.range(batch_size)[:, tf.newaxis], [batch_size, width])
    indices = tf.boolean_mask(tf.stack([row, mask_positions], axis=-1), mask_weights)
    return tf.tensor_scatter_nd_update(
        token_ids, indices, tf.boolean_mask(replacement, mask_weights)
    )


class DynamicMasker:
    """Applies fresh masked-LM masks to batches of packed sequences, as a `tf.data` map function.

    Args:
        vocabulary_size: number of token ids (random replacements are drawn from all of them).
        mask_token_id: id of `[MASK]`.
        special_token_ids: ids never masked (`[PAD]`, `[CLS]`, `[SEP]`, `[MASK]`).
        max_predictions_per_seq: masked positions per sequence (the width of `mask_positions`).
        masked_lm_prob: fraction of each sequence's tokens to mask.
        mask_token_rate: fraction of masked tokens replaced by `[MASK]`.
        random_token_rate: fraction of masked tokens replaced by a random id.
        is_continuation: optional bool table over the vocabulary, true for `##` pieces; enables
            whole-word masking (use `from_tokenizer(..., whole_word_mask=True)`).

    Example:
    >>> tokenizer = BertTokenizer.from_vocabulary(
    ...     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "##s"])
    >>> masker = DynamicMasker.from_tokenizer(tokenizer, max_predictions_per_seq=2)
    >>> batch = {"token_ids": tf.constant([[2, 5, 6, 7, 3, 0]]),
    ...          "segment_ids": tf.zeros([1, 6], tf.int32),
    ...          "padding_mask": tf.constant([[1, 1, 1, 1, 1, 0]])}
    >>> x, y, w = masker(batch, seed=[1, 2])  # no next-sentence labels: that loss gets weight 0
    >>> w["mlm"].numpy().tolist(), w["nsp"].numpy().tolist()
    ([[1.0, 0.0]], [0.0])
    >>> epochs = masker.apply(tf.data.Dataset.from_tensors(batch), seed=1)  # new masks each epoch
    >>> [int(w["mlm"].numpy().sum()) for _, _, w in epochs]
    [1]
    """

    def __init__(self, vocabulary_size, mask_token_id, special_token_ids, *,
                 max_predictions_per_seq=20, masked_lm_prob=0.15, mask_token_rate=MASK_TOKEN_RATE,
                 random_token_rate=RANDOM_TOKEN_RATE, is_continuation=None):
        self.vocabulary_size = int(vocabulary_size)
        self.mask_token_id = int(mask_token_id)
        self.special_token_ids = [int(i) for i in special_token_ids]
        self.max_predictions_per_seq = int(max_predictions_per_seq)
        self.masked_lm_prob = float(masked_lm_prob)
        self.mask_token_rate = float(mask_token_rate)
        self.random_token_rate = float(random_token_rate)
        self.is_continuation = is_continuation

    @classmethod
    def from_tokenizer(cls, tokenizer, *, whole_word_mask=False, **kwargs):
        """A masker for the vocabulary of a `BertTokenizer`.

        Args:
            tokenizer: the `BertTokenizer` whose ids are masked.
            whole_word_mask: mask whole words (a piece and its `##` continuations) together.
            **kwargs: other constructor arguments (`max_predictions_per_seq`, ...).

        Returns:
            A `DynamicMasker`.

        Example:
        >>> tokenizer = BertTokenizer.from_vocabulary(
        ...     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "##s"])
        >>> masker = DynamicMasker.from_tokenizer(tokenizer, whole_word_mask=True)
        >>> masker.vocabulary_size, masker.special_token_ids, masker.is_continuation[-1]
        (9, [0, 2, 3, 4], True)
        """
        vocabulary = tokenizer.get_vocabulary()
        is_continuation = [t.startswith("##") for t in vocabulary] if whole_word_mask else None
        special = [tokenizer.pad_token_id, tokenizer.cls_token_id, tokenizer.sep_token_id,
                   tokenizer.mask_token_id]
        return cls(len(vocabulary), tokenizer.mask_token_id, special,
                   is_continuation=is_continuation, **kwargs)

    def __call__(self, features, seed):
        """Masks one batch.

        Args:
            features: dict of `[batch, seq]` `token_ids` (unmasked), `segment_ids`, `padding_mask`
                and optionally `[batch]` `next_sentence_labels` and `next_sentence_weights` (without
                labels the next-sentence loss gets weight 0; with labels the weights default to 1).
            seed: int `[2]` seed of this batch's stateless random ops.

        Returns:
            `(x, y, sample_weight)` as `model_batch` arranges them.

        Example:
        >>> masker = DynamicMasker(10, mask_token_id=4, special_token_ids=[0, 2, 3, 4],
        ...                        max_predictions_per_seq=3)
        >>> features = {"token_ids": [[2, 5, 6, 7, 8, 9, 3]], "segment_ids": tf.zeros([1, 7]),
        ...             "padding_mask": tf.ones([1, 7]), "next_sentence_labels": [1]}
        >>> x, y, w = masker(features, seed=[0, 1])
        >>> y["nsp"].numpy().tolist(), w["nsp"].numpy().tolist(), w["mlm"].numpy().tolist()
        ([1], [1.0], [[1.0, 0.0, 0.0]])
        """
        masked = mask_tokens(
            features["token_ids"], features["padding_mask"], seed,
            vocabulary_size=self.vocabulary_size, mask_token_id=self.mask_token_id,
            special_token_ids=self.special_token_ids,
            max_predictions_per_seq=self.max_predictions_per_seq,
            masked_lm_prob=self.masked_lm_prob, mask_token_rate=self.mask_token_rate,
            random_token_rate=self.random_token_rate, is_continuation=self.is_continuation,
        )
        batch_size = tf.shape(features["token_ids"])[:1]
        if "next_sentence_labels" in features:
            labels = tf.reshape(features["next_sentence_labels"], batch_size)
            weights = features.get("next_sentence_weights", tf.ones(batch_size))
        else:
            labels, weights = tf.zeros(batch_size, tf.int32), tf.zeros(batch_size)
        return model_batch(
            masked["token_ids"], features["segment_ids"], features["padding_mask"],
            masked["mask_positions"], masked["mask_ids"], masked["mask_weights"], labels, weights,
        )

    def apply(self, dataset, seed=None):
        """Maps a dataset of batched feature dicts (see `__call__`) to `(x, y, sample_weight)`.

        Every batch gets its own seed from `tf.data.Dataset.random(seed,
        rerandomize_each_iteration=True)`: new masks each time the dataset is iterated (each
        epoch), reproducible for a given `seed`.

        Args:
            dataset: a `tf.data.Dataset` of batched feature dicts.
            seed: int seed, or `None` for TensorFlow's global seed.

        Returns:
            The mapped `tf.data.Dataset`.

        Example:
        >>> masker = DynamicMasker(1000, mask_token_id=4, special_token_ids=[0, 2, 3, 4])
        >>> ids = tf.constant([[2] + list(range(10, 40)) + [3]])  # [CLS] 30 ids [SEP]
        >>> features = {"token_ids": ids, "segment_ids": tf.zeros_like(ids),
        ...             "padding_mask": tf.ones_like(ids)}
        >>> masked = masker.apply(tf.data.Dataset.from_tensors(features), seed=7)
        >>> epochs = [[x["mask_positions"].numpy().tolist() for x, _, _ in masked] for _ in range(2)]
        >>> epochs[0] != epochs[1]  # each iteration (epoch) draws new positions
        True
        >>> again = masker.apply(tf.data.Dataset.from_tensors(features), seed=7)
        >>> [x["mask_positions"].numpy().tolist() for x, _, _ in again] == epochs[0]  # same seed
        True
        """
        seeds = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True).batch(2)
        return tf.data.Dataset.zip((dataset, seeds)).map(self, num_parallel_calls=tf.data.AUTOTUNE)


def pack_sequences(dataset, *, max_seq_length, cls_token_id, sep_token_id):
    """Packs documents (token-id sequences) greedily into `[CLS] d1 [SEP] d2 [SEP] ...` sequences.

    Documents are taken in order and appended while they fit in `max_seq_length`; a document longer
    than `max_seq_length - 2` tokens is first cut into pieces of that size. Segment ids alternate
    0, 1, 0, ... from one document to the next, so document boundaries show in both the `[SEP]`
    tokens and the segment ids. Empty documents are skipped.

    Args:
        dataset: a `tf.data.Dataset` of 1-D int token-id sequences without special tokens.
        max_seq_length: length of the packed (and padded) sequences.
        cls_token_id: id of `[CLS]`.
        sep_token_id: id of `[SEP]`.

    Returns:
        A `tf.data.Dataset` of dicts `token_ids`, `segment_ids`, `padding_mask` (int32
        `[max_seq_length]`, zero-padded).

    Example:
    >>> docs = tf.data.Dataset.from_generator(lambda: iter([[5, 6], [7], [8, 9, 10]]),
    ...                                       output_signature=tf.TensorSpec([None], tf.int32))
    >>> packed = pack_sequences(docs, max_seq_length=8, cls_token_id=2, sep_token_id=3)
    >>> [p["token_ids"].numpy().tolist() for p in packed]
    [[2, 5, 6, 3, 7, 3, 0, 0], [2, 8, 9, 10, 3, 0, 0, 0]]
    """
    limit = max_seq_length - 2
    if limit < 1:
        raise ValueError(f"max_seq_length must be >= 3 to pack sequences, got {max_seq_length}.")
    chunks = dataset.flat_map(
        lambda ids: tf.data.Dataset.from_tensor_slices(tf.cast(ids, tf.int32)).batch(limit)
    )
    # An empty sequence (chunks are never empty) marks the end and flushes the last sequence.
    chunks = chunks.concatenate(tf.data.Dataset.from_tensors(tf.zeros([0], tf.int32)))

    def add_chunk(state, chunk):
        ids, segments, num_docs = state
        at_end = tf.equal(tf.size(chunk), 0)
        fits = tf.size(ids) + tf.size(chunk) + 2 <= max_seq_length
        emit = (at_end | ~fits) & (tf.size(ids) > 0)
        kept = tf.where(fits, tf.size(ids), 0)
        num_docs = tf.where(fits, num_docs, 0)
        new_state = (
            tf.concat([ids[:kept], chunk, [sep_token_id]], 0),
            tf.concat([segments[:kept], tf.fill([tf.size(chunk) + 1], num_docs % 2)], 0),
            num_docs + 1,
        )
        packed = (tf.concat([[cls_token_id], ids], 0), tf.concat([[0], segments], 0))
        return new_state, (emit, packed)

    initial = (tf.zeros([0], tf.int32), tf.zeros([0], tf.int32), tf.constant(0))
    packed = chunks.scan(initial, add_chunk).filter(lambda emit, _: emit)
    return packed.map(lambda _, sequence: _pad_sequence(*sequence, max_seq_length))


def dynamic_pretraining_dataset(
    source,
    tokenizer,
    *,
    batch_size,
    max_seq_length=128,
    max_predictions_per_seq=20,
    masked_lm_prob=0.15,
    next_sentence=True,
    whole_word_mask=False,
    seed=None,
    shuffle_buffer_size=10_000,
    drop_remainder=True,
):
    """Batches of pretraining inputs with fresh masks each epoch, from raw text or token ids.

    With `next_sentence`, consecutive elements of `source` become sentence pairs
    `[CLS] a [SEP] b [SEP]` (trimmed to `max_seq_length`, longer segment first): half the time b is
    the element after a (label 0), otherwise a random element from a shuffle buffer (label 1). An
    empty element marks a document boundary (as a blank line does in Google's format): it never
    starts a pair, and an element before it always gets a random b. Without `next_sentence`, the
    elements are documents packed into sequences by `pack_sequences` and the next-sentence loss
    gets weight 0.

    Args:
        source: a `tf.data.Dataset` of scalar `tf.string` texts (tokenized here in batches) or of
            1-D int token-id sequences (no special tokens), in reading order (not shuffled).
        tokenizer: the `BertTokenizer` (for text and for the special and `##` ids).
        batch_size: sequences per batch.
        max_seq_length: tokens per sequence, special ones included.
        max_predictions_per_seq: masked positions per sequence.
        masked_lm_prob: fraction of the tokens to mask.
        next_sentence: build next-sentence pairs (else pack documents).
        whole_word_mask: mask whole words.
        seed: int seed of the masks, pairs and shuffling; `None` for TensorFlow's global seed.
        shuffle_buffer_size: buffer of the shuffled copy of `source` that random b's come from.
        drop_remainder: drop the last partial batch (static batch shape).

    Returns:
        A `tf.data.Dataset` of `(x, y, sample_weight)` as `model_batch` arranges them.

    Example:
    >>> tokenizer = BertTokenizer.from_vocabulary(
    ...     ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "cat", "sat", "ran", "."])
    >>> with open("corpus.txt", "w") as f:
    ...     _ = f.write("The cat sat.\\nThe cat ran.\\n\\nThe cat sat.\\nThe cat ran.\\n")
    >>> lines = tf.data.TextLineDataset(["corpus.txt"])  # a blank line ends a document
    >>> ds = dynamic_pretraining_dataset(lines, tokenizer, batch_size=2, max_seq_length=12,
    ...                                  max_predictions_per_seq=2, seed=1)
    >>> x, y, w = next(iter(ds))
    >>> x["token_ids"].shape, x["mask_positions"].shape, w["nsp"].numpy().tolist()
    (TensorShape([2, 12]), TensorShape([2, 2]), [1.0, 1.0])
    >>> x["token_ids"][:, 0].numpy().tolist()  # each row is [CLS] a [SEP] b [SEP]
    [2, 2]
    """
    masker = DynamicMasker.from_tokenizer(
        tokenizer, whole_word_mask=whole_word_mask,
        max_predictions_per_seq=max_predictions_per_seq, masked_lm_prob=masked_lm_prob,
    )
    pair_seed = None if seed is None else seed + 1  # the coin flips must not reuse the mask seeds
    is_text = source.element_spec.dtype == tf.string
    cls_id, sep_id = tokenizer.cls_token_id, tokenizer.sep_token_id
    if next_sentence:
        pairs = _next_sentence_pairs(source, is_text, pair_seed, shuffle_buffer_size)
        if is_text:
            batches = pairs.batch(batch_size, drop_remainder=drop_remainder).map(
                lambda a, b, label: (tokenizer(a), tokenizer(b), label)
            )
        else:
            batches = pairs.ragged_batch(batch_size, drop_remainder=drop_remainder)
        trimmer = tf_text.RoundRobinTrimmer(max_seq_length - 3)

        def combine(a, b, label):
            ids, segments = tf_text.combine_segments(
                trimmer.trim([tf.cast(a, tf.int32), tf.cast(b, tf.int32)]), cls_id, sep_id
            )
            features = _pad_batch(ids, segments, label.shape[0], max_seq_length)
            features["next_sentence_labels"] = label
            return features

        batches = batches.map(combine, num_parallel_calls=tf.data.AUTOTUNE)
    else:
        documents = source
        if is_text:
            documents = source.batch(256).map(tokenizer).unbatch()
        batches = pack_sequences(
            documents, max_seq_length=max_seq_length, cls_token_id=cls_id, sep_token_id=sep_id
        ).batch(batch_size, drop_remainder=drop_remainder)
    return masker.apply(batches, seed).prefetch(tf.data.AUTOTUNE)


def _next_sentence_pairs(source, is_text, seed, shuffle_buffer_size):
    """`(a, b, label)` from consecutive elements, b replaced by a random element half the time."""
    def is_empty(element):
        return tf.equal(tf.strings.length(tf.strings.strip(element)), 0) if is_text else (
            tf.equal(tf.size(element), 0))

    empty = tf.constant("") if is_text else tf.zeros([0], source.element_spec.dtype)
    consecutive = source.scan(empty, lambda previous, element: (element, (previous, element)))
    random_elements = source.filter(lambda e: ~is_empty(e)).shuffle(
        shuffle_buffer_size, seed=seed, reshuffle_each_iteration=True
    ).repeat()
    coins = tf.data.Dataset.random(seed=seed, rerandomize_each_iteration=True)

    def choose(pair, random_element, coin):
        a, b = pair
        is_random = is_empty(b) | tf.equal(coin % 2, 1)
        b = tf.cond(is_random, lambda: random_element, lambda: b)
        return a, b, tf.cast(is_random, tf.int32)

    triples = tf.data.Dataset.zip((consecutive, random_elements, coins))
    return triples.filter(lambda pair, _, __: ~is_empty(pair[0])).map(choose)


def _pad_sequence(token_ids, segment_ids, length):
    pad = [[0, length - tf.size(token_ids)]]
    return {
        "token_ids": tf.ensure_shape(tf.pad(token_ids, pad), [length]),
        "segment_ids": tf.ensure_shape(tf.pad(segment_ids, pad), [length]),
        "padding_mask": tf.ensure_shape(tf.pad(tf.ones_like(token_ids), pad), [length]),
    }


def _pad_batch(ids, segments, batch_size, length):
    shape = [batch_size, length]
    return {
        "token_ids": tf.cast(ids, tf.int32).to_tensor(shape=shape),
        "segment_ids": tf.cast(segments, tf.int32).to_tensor(shape=shape),
        "padding_mask": tf.ones_like(ids, tf.int32).to_tensor(shape=shape),
    }
