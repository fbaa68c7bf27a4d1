"""Dropout kernels of a BERT block: the keyed-hash dropout mask and the fused training chains.

`hash_bits` / `hash_dropout` draw a dropout mask from a keyed integer hash of each position, so the
same seed gives the same mask anywhere (eager, graph, XLA) and a backward pass can redraw it
instead of storing it. The `HashDropout` layer (`hash_dropout.py`), `BertSelfAttention`
(`attention.py`) and `TransformerEncoder` (`transformer_encoder.py`) import them from here.

The fused chains (`dropout`, `gelu_exact`, `dropout_add_layer_norm`, `softmax_dropout`) are the
training-time elementwise chains of a BERT block, each one XLA kernel forward and one backward.
With `jit_compile=True` XLA fuses these chains by itself. The path that does not compile the
whole step (bfloat16 on a CPU: XLA:CPU has no bfloat16 GEMM, so TF's oneDNN matmuls must run in a
plain graph) would otherwise run each chain as many separate passes over memory. Here each chain
is a `tf.function(jit_compile=True)` (XLA compiles just that cluster) with a `tf.custom_gradient`
whose backward is a second fused kernel that recomputes what it needs from the chain's inputs
(the hash masks are cheap to redraw), so no intermediate is stored. Numerics follow the plain
ops: statistics and softmax in float32, outputs in the input dtype. Layers call them only when
training outside XLA (`use_fused`). `bench/probe_fused_ops.py` times each against the plain ops
and the whole step with and without.
"""

import tensorflow as tf
from keras import ops

_GOLDEN = 0x9E3779B1
_SQRT_HALF = 0.7071067811865476
_INV_SQRT_2PI = 0.3989422804014327


# === Keyed-hash dropout masks ===

def _u32(value):
    return ops.convert_to_tensor(value, "uint32")


def _mix(h):
    """lowbias32 (C. Wellons' hash prospector): a bijective, well-avalanched uint32 mix.

    Every operand is a uint32 tensor: a Python int would promote the arithmetic to int64.
    """
    h = ops.bitwise_xor(h, ops.right_shift(h, _u32(16)))
    h = ops.multiply(h, _u32(0x7FEB352D))
    h = ops.bitwise_xor(h, ops.right_shift(h, _u32(15)))
    h = ops.multiply(h, _u32(0x846CA68B))
    return ops.bitwise_xor(h, ops.right_shift(h, _u32(16)))


def hash_bits(shape, seed):
    """Pseudo-random uint32 bits of `shape`, one keyed hash per position.

    Args:
        shape: the output shape (static or dynamic).
        seed: a `[2]` integer tensor (a `keras.random.SeedGenerator` state); each seed gives an
            unrelated stream, the same seed the same bits.

    Example:
    >>> bits = np.asarray(hash_bits((2, 3), np.array([1, 2])))
    >>> bits.shape, bits.dtype.name, len(set(bits.ravel().tolist()))
    ((2, 3), 'uint32', 6)
    >>> bool(np.all(bits == np.asarray(hash_bits((2, 3), np.array([1, 2])))))  # same seed
    True
    """
    seed = ops.cast(seed, "uint32")
    key_a = _mix(ops.bitwise_xor(seed[0], _mix(ops.add(seed[1], _u32(_GOLDEN)))))
    key_b = _mix(ops.add(key_a, ops.bitwise_xor(seed[1], _u32(0x85EBCA6B))))
    size = 1
    for dim in shape:
        size = size * dim
    index = ops.cast(ops.reshape(ops.arange(size, dtype="int32"), shape), "uint32")
    h = _mix(ops.bitwise_xor(ops.multiply(index, _u32(_GOLDEN)), key_a))
    return _mix(ops.bitwise_xor(h, key_b))


def hash_dropout(inputs, seed, rate):
    """Training-time dropout of `inputs` with the keyed-hash mask of `seed`.

    Keeps an element when its `hash_bits` value is at least `rate * 2**32` and scales the kept
    ones by `1 / (1 - rate)`; the same seed gives the same mask (the fused kernels redraw it in
    the backward pass instead of storing it).

    Args:
        inputs: float tensor.
        seed: a `[2]` integer tensor (a `keras.random.SeedGenerator` state).
        rate: Python float in [0, 1).

    Example:
    >>> y = np.asarray(hash_dropout(np.ones((4, 1000), "float32"), np.array([3, 4]), 0.25))
    >>> sorted(set(y.ravel().tolist())), bool(0.7 < (y > 0).mean() < 0.8)
    ([0.0, 1.3333333730697632], True)
    """
    bits = hash_bits(ops.shape(inputs), seed)
    keep = ops.greater_equal(bits, _u32(int(rate * 2 ** 32)))
    scale = ops.cast(1.0 / (1.0 - rate), inputs.dtype)
    return ops.where(keep, inputs * scale, ops.zeros_like(inputs))


# === When layers take the fused chains ===

def in_xla_compilation():
    """True while tracing for XLA (`jit_compile=True`): XLA fuses these chains itself there.

    Inside an XLA-compiled step the custom-gradient kernels were no consistent win
    (`bench/probe_fused_ops.py --step` times both), so layers use them only outside XLA.
    `tf.__internal__.get_enclosing_xla_context` is the endpoint TensorFlow exports (for Keras)
    for this question: it looks for the XLA context that `tf.function(jit_compile=True)` enters
    while tracing, in the current graph and the graphs enclosing it.

    Example:
    >>> in_xla_compilation()
    False
    >>> bool(tf.function(lambda: tf.constant(in_xla_compilation()), jit_compile=True)())
    True
    """
    find = getattr(getattr(tf, "__internal__", None), "get_enclosing_xla_context", None)
    if find is None:  # a TF without the endpoint: assume no XLA context
        return False
    return find() is not None


def use_fused(training):
    """Whether a layer's training call should take the fused kernels (training, outside XLA).

    Layers call it as `dropout_kernels.use_fused(...)` (a module attribute), so a probe can swap
    it: `bench/probe_fused_ops.py --step` times whole steps with it forced on and off.
    """
    return bool(training) and not in_xla_compilation()


# === Fused chains ===

def _check_rate(rate):
    if not 0 <= rate < 1:
        raise ValueError(f"dropout rate must be in [0, 1), got {rate}")


def _drop(x, seed, rate):
    return hash_dropout(x, seed, rate) if rate else x


@tf.function(jit_compile=True)
def _dropout_kernel(x, seed, rate):
    return _drop(x, seed, rate)


def dropout(x, seed, rate):
    """`HashDropout`'s training-time dropout of `x` with `seed`, as one kernel each way.

    Args:
        x: float tensor.
        seed: `[2]` integer tensor (a `keras.random.SeedGenerator.next()` value).
        rate: Python float in [0, 1).

    Example:
    >>> x, seed = tf.ones((2, 8)), tf.constant([1, 2])
    >>> bool(tf.reduce_all(dropout(x, seed, 0.5) == hash_dropout(x, seed, 0.5)))
    True
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
    """Exact (erf) GELU, `x · Φ(x)`, computed in float32 and returned in `x.dtype`.

    Example:
    >>> np.round(np.asarray(gelu_exact(tf.constant([-1.0, 0.0, 2.0]))), 4).tolist()
    [-0.1587, 0.0, 1.9545]
    """
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

    Example:
    >>> y = dropout_add_layer_norm(tf.constant([[1.0, 2.0]]), tf.constant([[1.0, 0.0]]),
    ...                            tf.ones([2]), tf.zeros([2]), 1e-12)
    >>> np.round(np.asarray(y), 4).tolist()
    [[0.0, 0.0]]
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

    Example:
    >>> probs = softmax_dropout(tf.zeros([1, 1, 1, 3]), tf.constant([[[[0.0, 0.0, -1e4]]]]),
    ...                         "float32")
    >>> np.asarray(probs).ravel().tolist()
    [0.5, 0.5, 0.0]
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
