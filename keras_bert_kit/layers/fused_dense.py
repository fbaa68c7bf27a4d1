"""Inference form of a `keras.layers.Dense` on `[batch, seq, features]`: one 2-D matmul whose bias
(and exact GELU) TF fuses into it.

Keras' `Dense` multiplies a rank-3 input with `tensordot` and adds the bias after the reshape
back, so TF runs a MatMul, then the bias add and each op of the GELU separately. Written as a 2-D
`MatMul → BiasAdd → Gelu`, TF's graph optimizer (remapper) fuses them on either CPU kernel path:
with oneDNN (the default on AVX512-VNNI/BF16 and AMX CPUs) all three become one
`_MklNativeFusedMatMul`: the bias and the activation are applied while the result is still in
registers, computed in float32 for bfloat16 inputs, and the elementwise ops that bfloat16 does
not make faster are gone. On Eigen (the default on AVX2 CPUs) the bias is fused (`_FusedMatMul`)
and the GELU runs after it, as Eigen's remapper fuses GELU only for oneDNN and GPUs. The one form
is the faster one on both paths: a served float32 L4/H512 backbone at sequence 128 took 1.38x
(batch 1) and 1.17x (batch 32) longer with Keras' `Dense` call on Eigen, 1.28x and 1.31x with
oneDNN (`bench/probe_fused_dense_paths.py`). Training keeps the `Dense` layer's own call (its
gradients, and the fused dropout kernels around it, are unchanged).
"""

import keras
import tensorflow as tf


def _plain(layer):
    """True for a `Dense` this module can compute itself (no quantization, LoRA or activation)."""
    return (getattr(layer, "quantization_mode", None) is None
            and not getattr(layer, "lora_enabled", False)
            and getattr(layer, "use_bias", False)
            and layer.activation is keras.activations.linear)


def inference_dense(layer, inputs, gelu=False):
    """`layer(inputs)` followed, with `gelu`, by exact GELU; as one fusable 2-D matmul.

    Same result as the layer's call (float rounding of the fused bias and GELU aside); layers
    this form does not cover (quantized, LoRA, no bias, an activation of their own) are called.

    Args:
        layer: a built `keras.layers.Dense`.
        inputs: `[..., features]`.
        gelu: apply exact (erf) GELU to the result.

    Example:
    >>> dense = keras.layers.Dense(4)
    >>> x = np.random.default_rng(0).normal(size=(2, 3, 5)).astype("float32")
    >>> want = keras.activations.gelu(dense(x), approximate=False)
    >>> bool(np.allclose(inference_dense(dense, x, gelu=True), want, atol=1e-6))
    True
    """
    if not _plain(layer):
        outputs = layer(inputs)
        return keras.activations.gelu(outputs, approximate=False) if gelu else outputs
    dtype = layer.compute_dtype
    inputs = tf.cast(inputs, dtype)
    kernel = tf.cast(layer.kernel, dtype)
    features, units = kernel.shape
    outputs = tf.nn.bias_add(tf.matmul(tf.reshape(inputs, [-1, features]), kernel),
                             tf.cast(layer.bias, dtype))
    if gelu:
        outputs = tf.nn.gelu(outputs, approximate=False)
    outputs = tf.reshape(outputs, tf.concat([tf.shape(inputs)[:-1], [units]], axis=0))
    if not tf.executing_eagerly():  # keep the static shape the reshape lost
        outputs.set_shape(inputs.shape[:-1].concatenate([units]))
    return outputs
