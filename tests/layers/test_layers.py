"""Each layer: config mirrors the constructor, `.keras` round trip is exact, numerics as numpy."""

import keras
import numpy as np
import pytest

from keras_bert_kit.layers import (BertEmbeddings, BertPooler, MaskedLMHead, NextSentenceHead,
                                   TransformerEncoder)
from keras_bert_kit.layers.activations import get_activation
from tests.layers import reference
from tests.layers.checks import assert_config_round_trip, assert_layer_keras_round_trip

pytestmark = pytest.mark.numerics  # compared with the numpy reference (`reference.py`)


def test_embeddings(tmp_path):
    layer = BertEmbeddings(vocabulary_size=50, hidden_dim=8, max_sequence_length=16, dropout=0.0)
    ids = np.array([[2, 5, 3, 0]], "int32")
    segments = np.array([[0, 0, 1, 1]], "int32")
    out = np.asarray(layer(ids, segments))
    summed = (layer.token_embedding.embeddings.numpy()[ids[0]]
              + layer.segment_embedding.embeddings.numpy()[segments[0]]
              + layer.position_embeddings.numpy()[:4])
    normed = (summed - summed.mean(-1, keepdims=True)) / np.sqrt(summed.var(-1, keepdims=True) + 1e-12)
    np.testing.assert_allclose(out[0], normed, atol=1e-5)
    assert_config_round_trip(layer)
    assert_layer_keras_round_trip(layer, [ids, segments], tmp_path)


def test_transformer_encoder_matches_reference(tmp_path):
    block = TransformerEncoder(hidden_dim=16, num_heads=4, intermediate_dim=24, dropout=0.0,
                               attention_dropout=0.0)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(2, 5, 16)).astype("float32")
    mask = np.array([[1, 1, 1, 1, 1], [1, 1, 1, 0, 0]], "int32")
    out = np.asarray(block(x, padding_mask=mask))
    expected = reference.encoder_block(block, x.astype("float64"), mask)
    np.testing.assert_allclose(out[mask.astype(bool)], expected[mask.astype(bool)], atol=1e-4)
    assert_config_round_trip(block)
    assert_layer_keras_round_trip(block, [x, mask], tmp_path)


def test_padding_does_not_change_valid_positions():
    block = TransformerEncoder(hidden_dim=16, num_heads=4, intermediate_dim=24, dropout=0.0)
    x = np.random.default_rng(1).normal(size=(1, 7, 16)).astype("float32")
    full = np.asarray(block(x, padding_mask=np.array([[1, 1, 1, 1, 0, 0, 0]])))
    short = np.asarray(block(x[:, :4], padding_mask=np.ones((1, 4), "int32")))
    np.testing.assert_allclose(full[:, :4], short, atol=1e-5)


@pytest.mark.parametrize("jit", [False, True])
def test_transformer_encoder_query_positions_equal_gathered_rows(jit):
    import tensorflow as tf

    block = TransformerEncoder(hidden_dim=16, num_heads=4, intermediate_dim=24, dropout=0.0,
                               attention_dropout=0.0)
    rng = np.random.default_rng(2)
    x = rng.normal(size=(2, 9, 16)).astype("float32")
    mask = np.array([[1] * 9, [1] * 6 + [0] * 3], "int32")
    # Repeats, position 0, the last position and a padded one.
    positions = np.array([[0, 8, 3, 3], [0, 5, 1, 7]], "int32")
    full = np.asarray(block(x, padding_mask=mask))
    fn = tf.function(lambda a, m, p: block(a, padding_mask=m, query_positions=p), jit_compile=jit)
    rows = np.asarray(fn(x, mask, positions))
    assert rows.shape == (2, 4, 16)
    np.testing.assert_allclose(rows, np.take_along_axis(full, positions[..., None], axis=1),
                               atol=1e-5)
    # The gradient wrt the inputs equals the full path's, restricted to those rows.
    weights = rng.normal(size=rows.shape).astype("float32")
    xt = tf.constant(x)
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(xt)
        loss_rows = tf.reduce_sum(block(xt, padding_mask=mask, query_positions=positions) * weights)
        gathered = tf.gather(block(xt, padding_mask=mask), positions, batch_dims=1)
        loss_full = tf.reduce_sum(gathered * weights)
    for a, b in zip(tape.gradient(loss_rows, [xt] + block.trainable_weights),
                    tape.gradient(loss_full, [xt] + block.trainable_weights)):
        np.testing.assert_allclose(np.asarray(a), np.asarray(b), atol=1e-5)


def test_masked_lm_head_gathers_and_ties(tmp_path):
    embedding = keras.layers.Embedding(30, 8)
    embedding.build(None)
    head = MaskedLMHead(vocabulary_size=30, hidden_dim=8, token_embedding=embedding)
    sequence = np.random.default_rng(2).normal(size=(2, 6, 8)).astype("float32")
    positions = np.array([[1, 4], [0, 5]], "int32")
    logits = np.asarray(head(sequence, positions))
    assert logits.shape == (2, 2, 30)
    gathered = np.stack([sequence[0, [1, 4]], sequence[1, [0, 5]]])
    x = gathered @ head.transform_dense.kernel.numpy() + head.transform_dense.bias.numpy()
    x = np.asarray(get_activation("gelu")(x))
    x = (x - x.mean(-1, keepdims=True)) / np.sqrt(x.var(-1, keepdims=True) + 1e-12)
    expected = x @ embedding.embeddings.numpy().T + head.output_bias.numpy()
    np.testing.assert_allclose(logits, expected, atol=1e-4)
    # Rows gathered beforehand (BertPretrainer's path): the same logits.
    np.testing.assert_allclose(np.asarray(head(gathered)), logits, atol=1e-6)
    assert len(head.trainable_weights) == 5  # transform kernel/bias, LN gamma/beta, output bias
    assert_config_round_trip(head)


def test_untied_head_round_trip(tmp_path):
    head = MaskedLMHead(vocabulary_size=30, hidden_dim=8)
    sequence = np.random.default_rng(3).normal(size=(2, 6, 8)).astype("float32")
    assert_layer_keras_round_trip(head, [sequence, np.array([[1, 2], [3, 0]], "int32")], tmp_path)


@pytest.mark.parametrize("layer_cls", [BertPooler, NextSentenceHead])
def test_pooler_and_nsp_head(layer_cls, tmp_path):
    layer = layer_cls(hidden_dim=8)
    x = np.random.default_rng(4).normal(size=(3, 5, 8) if layer_cls is BertPooler else (3, 8))
    x = x.astype("float32")
    out = np.asarray(layer(x))
    first = x[:, 0] if layer_cls is BertPooler else x
    expected = first @ layer.dense.kernel.numpy() + layer.dense.bias.numpy()
    np.testing.assert_allclose(out, np.tanh(expected) if layer_cls is BertPooler else expected, atol=1e-5)
    assert_config_round_trip(layer)
    assert_layer_keras_round_trip(layer, [x], tmp_path)
