"""Measures this machine's float32 matmul throughput: `tf.matmul` of two 2048x2048 matrices.

The pretraining MFU is achieved GFLOP/s divided by this figure (2·n³ FLOPs per matmul), measured
in its own process in the same rounds as the training steps.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.pop("TF_USE_LEGACY_KERAS", None)

import _common as C  # noqa: E402

if __name__ == "__main__":
    C.worker_main("peak", {"peak": C.peak_matmul})
