"""Dynamic masking for BERT pretraining in `tf.data`: fresh masked-LM masks every epoch, in-graph.

- `mask_tokens`: chooses and replaces masked-LM positions of a dense batch (BERT's rule: `masked_lm_prob`
  of the tokens, at most `max_predictions_per_seq`; 80 % `[MASK]`, 10 % kept, 10 % random id),
  optionally by whole words, with stateless random ops driven by an explicit seed.
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
    >>> out["mask_weights"].numpy().tolist()
    [[1.0, 0.0]]
    """
    token_ids = tf.cast(tf.convert_to_tensor(token_ids), tf.int32)
    valid = tf.cast(padding_mask, tf.bool)
    candidate = valid & ~tf.reduce_any(
        token_ids[..., tf.newaxis] == tf.constant(special_token_ids, tf.int32), axis=-1
    )
    batch_size, seq_length = tf.shape(token_ids)[0], tf.shape(token_ids)[1]
    choice_seed, decision_seed, random_id_seed = tf.unstack(
        tf.random.experimental.stateless_split(tf.cast(seed, tf.int64), 3)
    )
    num_tokens = tf.reduce_sum(tf.cast(valid, tf.float32), axis=1)
    num_to_predict = tf.cast(tf.minimum(
        float(max_predictions_per_seq), tf.maximum(1.0, tf.round(num_tokens * masked_lm_prob))
    ), tf.int32)

    # Group the candidates into words: a word starts at a candidate that is not a `##` piece
    # right after another candidate. Each word is a segment (other tokens go to a dummy one).
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
    start_position = tf.gather(tf.math.unsorted_segment_min(position, segment, num_segments), segment)
    start_position = tf.where(candidate, start_position, position)
    word_length = tf.gather(
        tf.math.unsorted_segment_sum(tf.ones_like(position), segment, num_segments), segment
    )
    # Every token gets the random key of its word's first token; a stable sort by key keeps each
    # word's tokens together and in order. A word is chosen when it ends within the row's budget.
    key = tf.random.stateless_uniform(tf.shape(token_ids), choice_seed)
    key = tf.where(candidate, tf.gather(key, start_position, batch_dims=1), 2.0)
    rank = tf.argsort(tf.argsort(key, axis=1, stable=True), axis=1, stable=True)
    end_rank = rank - (position - start_position) + word_length
    chosen = candidate & (end_rank <= num_to_predict[:, tf.newaxis])

    width = max_predictions_per_seq
    chosen = tf.pad(chosen, [[0, 0], [0, tf.maximum(width - seq_length, 0)]])
    padded_position = tf.range(tf.shape(chosen)[1])
    order = tf.argsort(tf.where(chosen, padded_position, padded_position + tf.shape(chosen)[1]),
                       axis=1, stable=True)[:, :width]
    mask_weights = tf.gather(chosen, order, batch_dims=1)
    mask_positions = tf.where(mask_weights, order, 0)
    mask_ids = tf.where(mask_weights, tf.gather(token_ids, mask_positions, batch_dims=1), 0)

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
    masked_token_ids = tf.tensor_scatter_nd_update(
        token_ids, indices, tf.boolean_mask(replacement, mask_weights)
    )
    return {
        "token_ids": masked_token_ids,
        "mask_positions": mask_positions,
        "mask_ids": mask_ids,
        "mask_weights": tf.cast(mask_weights, tf.float32),
    }
