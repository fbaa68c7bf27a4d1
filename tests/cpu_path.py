"""The CPU kernel path this test process runs on, and the tolerance numbers from elsewhere need.

TensorFlow's x86-64 builds run matmuls, softmax and friends through oneDNN (`_Mkl*` kernels)
when `TF_ENABLE_ONEDNN_OPTS=1`, or by default on CPUs with AVX512-VNNI / AVX512-BF16 / AMX, and
through Eigen otherwise (AVX2 CPUs such as AMD Zen 3, by default). The two sum in different
orders, and oneDNN's own code differs per ISA (`ONEDNN_MAX_CPU_ISA`), so one float32 model's
outputs differ in the last bits between paths and machines. Numbers made in another process or
stored in a fixture are compared with `FLOAT32_ACROSS_PATHS`; bitwise equality is kept for what
is bitwise by design (the same process: save/reload, resume, determinism).
"""

import os
from collections import Counter

import numpy as np
import pytest
import tensorflow as tf

# Float32 reordering: a few ulps of each output, plus an absolute floor for values near zero.
FLOAT32_ACROSS_PATHS = dict(rtol=1e-5, atol=1e-6)


def assert_close_across_paths(actual, desired, err_msg=""):
    """`actual` (this process) equals `desired` (another process, machine or kernel path) up to
    float32 reordering."""
    np.testing.assert_allclose(np.asarray(actual), np.asarray(desired), err_msg=err_msg,
                               **FLOAT32_ACROSS_PATHS)


def kernels_run(session, fetches, feed_dict):
    """How often each kernel ran in one traced `session.run` (after Grappler's rewrites), by
    name: `{"_FusedMatMul": 8, "Erfc": 2, ...}`."""
    metadata = tf.compat.v1.RunMetadata()
    options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
    session.run(fetches, feed_dict, options=options, run_metadata=metadata)
    return Counter(node.timeline_label.split("=")[-1].split("(")[0].strip()
                   for device in metadata.step_stats.dev_stats for node in device.node_stats)


def onednn_in_effect():
    """True when this process's matmuls run on oneDNN, False on Eigen: seen from the kernel a
    tiny graph's MatMul becomes (the public API does not say), and checked against
    `TF_ENABLE_ONEDNN_OPTS` where that is set."""
    with tf.Graph().as_default() as graph:
        x = tf.compat.v1.placeholder(tf.float32, [2, 2])
        product = tf.matmul(x, x)
    with tf.compat.v1.Session(graph=graph) as session:
        ops = kernels_run(session, product, {x: np.eye(2, dtype=np.float32)})
    onednn = any(op.startswith("_Mkl") for op in ops)
    asked = os.environ.get("TF_ENABLE_ONEDNN_OPTS", "").strip().lower()
    if asked in ("0", "false", "1", "true"):
        assert onednn == (asked in ("1", "true")), (
            f"TF_ENABLE_ONEDNN_OPTS={asked} but a MatMul ran as {sorted(ops)}")
    return onednn


def skip_where_bfloat16_matmuls_crash():
    """Skips the calling test where oneDNN is on but held below AVX-512 by `ONEDNN_MAX_CPU_ISA`
    (`.ci/run`'s AVX2 emulation): TensorFlow, reading the CPU's own bfloat16 units, still hands
    bfloat16 matmuls to oneDNN, which has no kernel for them at that ISA and kills the process
    (SIGSEGV, or "could not create a primitive descriptor for the matmul primitive")."""
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA", "").strip().upper()
    if isa in ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2") and onednn_in_effect():
        pytest.skip(f"bfloat16 matmuls crash oneDNN held to ONEDNN_MAX_CPU_ISA={isa}")
