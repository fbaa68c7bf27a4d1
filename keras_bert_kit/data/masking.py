"""Dynamic masking for BERT pretraining in `tf.data`: fresh masked-LM masks every epoch, in-graph.

- `mask_tokens`: chooses and replaces masked-LM positions of a dense batch (BERT's rule:
  `masked_lm_prob` of the tokens, at most `max_predictions_per_seq`; 80 % `[MASK]`, 10 % kept,
  10 % random id), optionally by whole words, with stateless random ops driven by a seed.
- `DynamicMasker`: applies `mask_tokens` to batches of packed sequences and returns the model's
  `(x, y, sample_weight)` structure (see `model_batch`), with per-epoch fresh seeds (`apply`).
- `model_batch`: the `(x, y, sample_weight)` structure of every pretraining batch.

Every batch has the structure that `read_pretraining_records` gives for static records, so
`model.fit` takes either. Making the sequences that get masked (next-sentence pairs, packed
documents) is `pretraining_sequences.py`'s.
"""

import tensorflow as tf

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
