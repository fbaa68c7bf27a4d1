"""Training-time elementwise chains of a BERT block, each one XLA kernel forward and one backward.

With `jit_compile=True` XLA fuses these chains by itself. The path that does not compile the
whole step (bfloat16 on a CPU: XLA:CPU has no bfloat16 GEMM, so TF's oneDNN matmuls must run in a
plain graph) would otherwise run each chain as many separate passes over memory: exact GELU is
≈ 8 TF ops forward and more backward, a residual + dropout + LayerNorm ≈ 15. Here each chain is
a `tf.function(jit_compile=True)` (XLA compiles just that cluster) with a `tf.custom_gradient`
whose backward is a second fused kernel that recomputes what it needs from the chain's inputs
(`hash_dropout` masks are a keyed hash, cheap to redraw), so no intermediate is stored. Numerics follow the plain ops: statistics and softmax in float32,
outputs in the input dtype. Layers call them only when training outside XLA (`use_fused`).
`bench/probe_fused_ops.py` times each against the plain ops and the whole step with and without.
"""

import tensorflow as tf

from keras_bert_kit.layers.hash_dropout import hash_dropout

_SQRT_HALF = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


def in_xla_compilation():
    """True while tracing for XLA (`jit_compile=True`): XLA fuses these chains itself there.

    Measured inside an XLA-compiled pretraining step in two runs, the custom-gradient kernels
    were 0.99× / 0.85× at BERT-base and 1.10× / 1.03× (slower) at L4/H256 b32
    (`bench/probe_fused_ops.py --step`): no consistent win, so layers use them only outside XLA.
    """
    try:
        from tensorflow.python.ops import control_flow_util
    except ImportError:  # a TF without the helper: assume no XLA context
        return False
    return control_flow_util.GraphOrParentsInXlaContext(tf.compat.v1.get_default_graph())


def use_fused(training):
    """Whether a layer's training call should take the fused kernels (training, outside XLA)."""
    return bool(training) and not in_xla_compilation()


def _check_rate(rate):
    if not 0 <= rate < 1:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")


def _drop(x, seed, rate):
    return hash_dropout(x, seed, rate) if rate else x


@tf.function(jit_compile=True)
def _dropout_kernel(x, seed, rate):
    return _drop(x, seed, rate)


def dropout(x, seed, rate):
    """`HashDropout`'s training-time dropout of `x` with `seed` (a `[2]` int tensor).

    Args:
        x: float tensor.
        seed: `[2]` integer tensor (a `keras.random.SeedGenerator.next()` value).
        rate: Python float in [0, 1).
    """
    _check_rate(rate)
    seed = tf.stop_gradient(tf.cast(seed, tf.int32))

    @tf.custom_gradient
    def fn(x):
        return _dropout_kernel(x, seed, rate), lambda dy: _dropout_kernel(dy, seed, rate)
    return fn(x)


@tf.function(jit_compile=True)
def _gelu_forward(x):
    xf = tf.cast(x, tf.float32)
    return tf.cast(0.5 * xf * (1.0 + tf.math.erf(xf * _SQRT_HALF)), x.dtype)


@tf.function(jit_compile=True)
def _gelu_backward(x, dy):
    xf = tf.cast(x, tf.float32)
    cdf = 0.5 * (1.0 + tf.math.erf(xf * _SQRT_HALF))
    pdf = tf.exp(-0.5 * xf * xf) * _INV_SQRT_2PI
    return tf.cast(tf.cast(dy, tf.float32) * (cdf + xf * pdf), x.dtype)


@tf.custom_gradient
def gelu_exact(x):
    """Exact (erf) GELU, `x · Φ(x)`, computed in float32 and returned in `x.dtype`."""
    return _gelu_forward(x), lambda dy: _gelu_backward(x, dy)


def _normalize(x, residual, seed, rate, epsilon):
    total = tf.cast(residual, tf.float32) + tf.cast(_drop(x, seed, rate), tf.float32)
    mean, variance = tf.nn.moments(total, axes=[-1], keepdims=True)
    inv_std = tf.math.rsqrt(variance + epsilon)
    return (total - mean) * inv_std, inv_std


@tf.function(jit_compile=True)
def _add_norm_forward(x, residual, gamma, beta, seed, rate, epsilon):
    normed, _ = _normalize(x, residual, seed, rate, epsilon)
    return tf.cast(normed * gamma + beta, x.dtype)


@tf.function(jit_compile=True)
def _add_norm_backward(x, residual, gamma, seed, rate, epsilon, dy):
    normed, inv_std = _normalize(x, residual, seed, rate, epsilon)
    dy = tf.cast(dy, tf.float32)
    rows = list(range(len(dy.shape) - 1))
    d_gamma = tf.reduce_sum(dy * normed, axis=rows)
    d_beta = tf.reduce_sum(dy, axis=rows)
    g = dy * gamma
    d_total = inv_std * (g - tf.reduce_mean(g, axis=-1, keepdims=True)
                         - normed * tf.reduce_mean(g * normed, axis=-1, keepdims=True))
    d_x = _drop(tf.cast(d_total, x.dtype), seed, rate)
    return d_x, tf.cast(d_total, residual.dtype), d_gamma, d_beta


def dropout_add_layer_norm(x, residual, gamma, beta, epsilon, seed=None, rate=0.0):
    """`LayerNorm(residual + dropout(x)) · gamma + beta` over the last axis, in float32.

    Args:
        x: the branch output `[..., hidden]` (dropped out when `rate` > 0).
        residual: the skip input, same shape.
        gamma, beta: float32 `[hidden]` LayerNorm scale and offset.
        epsilon: LayerNorm epsilon (Python float).
        seed: `[2]` int tensor for the dropout mask (unused when `rate` is 0).
        rate: dropout rate on `x` (Python float).

    Returns the result in `x.dtype`.
    """
    _check_rate(rate)
    seed = tf.zeros([2], tf.int32) if seed is None else tf.stop_gradient(tf.cast(seed, tf.int32))
    gamma = tf.cast(gamma, tf.float32)
    beta = tf.cast(beta, tf.float32)

    @tf.custom_gradient
    def fn(x, residual, gamma, beta):
        out = _add_norm_forward(x, residual, gamma, beta, seed, rate, epsilon)

        def grad(dy):
            return _add_norm_backward(x, residual, gamma, seed, rate, epsilon, dy)
        return out, grad
    return fn(x, residual, gamma, beta)


@tf.function(jit_compile=True)
def _softmax_forward(scores, bias, seed, rate, out_dtype):
    probs = tf.nn.softmax(tf.cast(scores, tf.float32) + bias, axis=-1)
    probs = tf.cast(probs, out_dtype)
    return _drop(probs, seed, rate), probs


@tf.function(jit_compile=True)
def _softmax_backward(probs, seed, rate, scores_dtype, dy):
    g = tf.cast(_drop(dy, seed, rate), tf.float32)
    p = tf.cast(probs, tf.float32)
    return tf.cast(p * (g - tf.reduce_sum(g * p, axis=-1, keepdims=True)), scores_dtype)


def softmax_dropout(scores, bias, out_dtype, seed=None, rate=0.0):
    """`dropout(softmax(float32(scores) + bias))` over the last axis, returned in `out_dtype`.

    The backward keeps only the (pre-dropout) probabilities, in `out_dtype`.

    Args:
        scores: attention logits `[batch, heads, q, k]`.
        bias: float32 additive bias broadcastable to `scores` (padding mask), or None.
        out_dtype: dtype of the returned probabilities (the block's compute dtype).
        seed: `[2]` int tensor for the dropout mask (unused when `rate` is 0).
        rate: dropout rate on the probabilities (Python float).
    """
    _check_rate(rate)
    seed = tf.zeros([2], tf.int32) if seed is None else tf.stop_gradient(tf.cast(seed, tf.int32))
    bias = tf.zeros([], tf.float32) if bias is None else tf.cast(tf.stop_gradient(bias), tf.float32)
    out_dtype = tf.as_dtype(out_dtype)

    @tf.custom_gradient
    def fn(scores):
        dropped, probs = _softmax_forward(scores, bias, seed, rate, out_dtype)
        return dropped, lambda dy: _softmax_backward(probs, seed, rate, scores.dtype, dy)
    return fn(scores)
