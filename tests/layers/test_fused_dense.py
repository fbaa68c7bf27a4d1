"""`inference_dense`: the same numbers as `Dense` (+ GELU), and a graph TF actually fuses."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.layers.fused_dense import inference_dense
from keras_bert_kit.models.bert_backbone import BertBackbone
from tests.cpu_path import kernels_run, onednn_in_effect, skip_where_bfloat16_matmuls_crash
from tests.helpers import TINY, random_inputs

pytestmark = pytest.mark.numerics  # graph rewrites and numbers that differ per CPU kernel path


def dense(units=24, features=16, dtype="float32"):
    layer = keras.layers.Dense(units, dtype=dtype)
    layer.build((None, None, features))
    return layer


@pytest.mark.parametrize("gelu", [False, True])
def test_matches_the_dense_call_in_float32(gelu):
    layer = dense()
    x = np.random.default_rng(0).normal(size=(3, 7, 16)).astype("float32")
    want = layer(x)
    if gelu:
        want = keras.activations.gelu(want, approximate=False)
    got = tf.function(lambda x: inference_dense(layer, x, gelu=gelu))(x)
    assert got.shape == (3, 7, 24) and got.dtype == tf.float32
    np.testing.assert_allclose(got, want, atol=1e-6, rtol=0)


def test_bfloat16_computes_in_bfloat16_close_to_float32():
    skip_where_bfloat16_matmuls_crash()
    layer, reference = dense(dtype="bfloat16"), dense()
    reference.set_weights([w.astype("float32") for w in
                           (np.asarray(v, np.float32) for v in layer.get_weights())])
    x = np.random.default_rng(1).normal(size=(2, 5, 16)).astype("float32")
    got = inference_dense(layer, x, gelu=True)
    assert got.dtype == tf.bfloat16
    want = keras.activations.gelu(reference(x), approximate=False)
    np.testing.assert_allclose(tf.cast(got, tf.float32), want, atol=0.05)


def test_layers_it_does_not_cover_are_called():
    # Bitwise by design: the same layer call in the same process.
    layer = dense()
    layer.quantize("int8")
    x = np.random.default_rng(2).normal(size=(2, 3, 16)).astype("float32")
    np.testing.assert_array_equal(inference_dense(layer, x), layer(x))
    with_activation = keras.layers.Dense(4, activation="relu")
    with_activation.build((None, 16))
    np.testing.assert_array_equal(inference_dense(with_activation, x[:, 0]), with_activation(x[:, 0]))


def test_backbone_inference_graph_fuses_bias_and_gelu_into_the_matmuls(tmp_path):
    """Saved and run as TF Serving does (the TF1 session loader): every dense layer is one fused
    matmul kernel. With oneDNN the GELU is fused too; Eigen's `_FusedMatMul` takes the bias but
    not GELU (its remapper fuses GELU only for oneDNN and GPUs), which stays separate there."""
    backbone = BertBackbone(**TINY)
    inputs = random_inputs()
    archive = keras.export.ExportArchive()
    archive.track(backbone)
    spec = tf.TensorSpec([None, None], tf.int32)
    archive.add_endpoint(
        "serving_default",
        lambda token_ids, segment_ids, padding_mask: {"sequence_output": backbone(
            {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask},
            training=False)["sequence_output"]},
        input_signature=[spec, spec, spec])
    archive.write_out(str(tmp_path / "m"), verbose=False)
    with tf.compat.v1.Session(graph=tf.Graph()) as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], str(tmp_path / "m"))
        signature = meta.signature_def["serving_default"]
        ops = kernels_run(session, signature.outputs["sequence_output"].name,
                          {signature.inputs[k].name: v for k, v in inputs.items()})
    # Q/K/V, attention output, intermediate and output dense: four per layer.
    fused = sum(n for op, n in ops.items() if op.endswith("FusedMatMul"))
    assert fused == 4 * TINY["num_layers"], sorted(ops)
    assert not ops.keys() & {"MatMul", "_MklMatMul", "BiasAdd"}, sorted(ops)
    if onednn_in_effect():
        assert not ops.keys() & {"Erf", "Erfc"}, sorted(ops)
