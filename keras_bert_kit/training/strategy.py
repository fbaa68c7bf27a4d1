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
