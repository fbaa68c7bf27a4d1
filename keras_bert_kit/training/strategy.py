"""Distribution strategy selection and precision/XLA switches for training scripts."""

import json
import logging
import os

import keras
import tensorflow as tf

logger = logging.getLogger(__name__)

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")


def choose_strategy(name="auto", tpu_address=None):
    """Returns a `tf.distribute.Strategy`.

    `auto`: `TPUStrategy` when a TPU address is given, `MultiWorkerMirroredStrategy` when
    `TF_CONFIG` names more than one worker, `MirroredStrategy` with 2+ GPUs, else one device.

    Args:
        name: one of `STRATEGIES`.
        tpu_address: TPU name/address for `tpu` (or `auto`); `"local"` for a TPU VM.

    Example:
    >>> strategy = choose_strategy("one_device")
    >>> with strategy.scope():
    ...     pass
    """
    if name not in STRATEGIES:
        raise ValueError(f"strategy={name!r}: expected one of {STRATEGIES}")
    if name == "auto":
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
        workers = len(cluster.get("worker", [])) + len(cluster.get("chief", []))
        if tpu_address:
            name = "tpu"
        elif workers > 1:
            name = "multi_worker"
        elif len(tf.config.list_physical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "one_device"
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
    elif name == "multi_worker":
        if "TF_CONFIG" not in os.environ:
            raise ValueError("strategy='multi_worker' needs the TF_CONFIG environment variable")
        strategy = tf.distribute.MultiWorkerMirroredStrategy()
    elif name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
    else:
        gpus = tf.config.list_physical_devices("GPU")
        strategy = tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    logger.info("strategy: %s with %d replica(s)", type(strategy).__name__,
                strategy.num_replicas_in_sync)
    return strategy


def set_precision(mixed_precision="auto"):
    """Sets Keras' global dtype policy and returns its name.

    Args:
        mixed_precision: `"auto"` (bfloat16 on GPUs/TPUs that support it, float32 on CPU),
            `"bf16"`/`"mixed_bfloat16"`, `"fp16"`/`"mixed_float16"`, or `"none"`/`"float32"`.
    """
    aliases = {"bf16": "mixed_bfloat16", "fp16": "mixed_float16", "none": "float32",
               "fp32": "float32", None: "float32"}
    policy = aliases.get(mixed_precision, mixed_precision)
    if policy == "auto":
        policy = "mixed_bfloat16" if tf.config.list_physical_devices("GPU") else "float32"
    if policy not in ("float32", "mixed_bfloat16", "mixed_float16"):
        raise ValueError(f"mixed_precision={mixed_precision!r}: expected auto, bf16, fp16 or none")
    keras.config.set_dtype_policy(policy)
    return policy


def jit_compile_setting(jit_compile="auto", policy="float32", default="auto"):
    """`Model.compile`'s `jit_compile` for a recipe's train step.

    XLA:CPU has no bfloat16 GEMM: it runs bfloat16 matmuls at float32 speed or below, while TF's
    oneDNN kernels (a plain `tf.function`) use the AVX512-BF16/AMX instructions. Measured on a
    2-core Zen 4 (`bench/probe_xla_cpu.py --bf16-step`): 2048² bfloat16 matmul 158 GFLOP/s under
    XLA vs 362 in graph mode; a BERT-base pretraining step 4.25 s under XLA vs 2.28 s in graph
    mode (float32 XLA: 3.38 s).

    Args:
        jit_compile: `True`/`False` are used as given; `"auto"` is `default`, except for
            `mixed_bfloat16` on a machine with no GPU or TPU, where it is `False`.
        policy: the dtype policy name the model is built with (`set_precision`'s result).
        default: what `"auto"` means otherwise (`"auto"` leaves the choice to Keras, which turns
            XLA off on CPU-only machines and under `tf.distribute`).

    Example:
    >>> jit_compile_setting("auto", "float32", default=True)
    True
    >>> jit_compile_setting(True, "mixed_bfloat16")
    True
    """
    if jit_compile != "auto":
        return bool(jit_compile)
    accelerators = [d for d in tf.config.list_physical_devices() if d.device_type != "CPU"]
    if policy == "mixed_bfloat16" and not accelerators:
        return False
    return default
