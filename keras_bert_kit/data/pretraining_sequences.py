"""Pretraining sequences made in `tf.data`: next-sentence pairs and packed documents, masked.

- `dynamic_pretraining_dataset`: raw text (through `BertTokenizer`) or token-id sequences ->
  masked batches, as next-sentence pairs `[CLS] a [SEP] b [SEP]` (a random b half the time) or
  packed documents;
- `pack_sequences`: packs several short documents into one `[CLS] d1 [SEP] d2 [SEP] ...` sequence.

The masks come from `masking.DynamicMasker`, fresh every epoch; the batches have the structure
of `masking.model_batch`. The static records of `kbk pretrain-data` are made elsewhere
(`pretraining_data.py`).
"""

import tensorflow as tf
import tensorflow_text as tf_text

from keras_bert_kit.data.masking import DynamicMasker


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
        A `tf.data.Dataset` of `(x, y, sample_weight)` as `masking.model_batch` arranges them.

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
