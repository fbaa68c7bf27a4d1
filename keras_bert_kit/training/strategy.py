"""Distribution strategy selection, precision/XLA switches, and the multi-worker helpers of the runner."""

import contextlib
import json
import logging
import os

import keras
import tensorflow as tf

from keras_bert_kit.errors import UserError
from keras_bert_kit.training.config import STRATEGIES

logger = logging.getLogger(__name__)


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
        raise UserError(f"strategy={name!r}: expected one of {STRATEGIES}")
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
            raise UserError("strategy='multi_worker' needs the TF_CONFIG environment variable")
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
        raise UserError(f"mixed_precision={mixed_precision!r}: expected auto, bf16, fp16 or none")
    keras.config.set_dtype_policy(policy)
    return policy


def jit_compile_setting(jit_compile="auto", policy="float32", default="auto"):
    """`Model.compile`'s `jit_compile` for a recipe's train step.

    XLA:CPU has no bfloat16 GEMM: it runs bfloat16 matmuls at float32 speed or below, while TF's
    oneDNN kernels (a plain `tf.function`) use the AVX512-BF16/AMX instructions, so bfloat16 on a
    CPU trains faster without XLA (`bench/probe_xla_cpu.py --bf16-step` measures both).

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


def num_workers(strategy):
    """The number of workers (chief included) of a multi-worker `strategy`; 1 otherwise."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, len(spec.get("worker", [])) + len(spec.get("chief", [])))


def worker_output_dir(output_dir, strategy):
    """`output_dir` for the chief (or a single worker), `output_dir/workers/<type>-<i>` otherwise.

    Example:
    >>> worker_output_dir("runs/x", choose_strategy("one_device"))
    'runs/x'
    """
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return output_dir
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    is_chief = resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief)
    if is_chief:
        return output_dir
    return os.path.join(output_dir, "workers", f"{resolver.task_type}-{resolver.task_id}")


@contextlib.contextmanager
def multi_worker_keras_fix(model, strategy):
    """Works around Keras 3's `fit`/`evaluate` under `MultiWorkerMirroredStrategy`.

    Two steps of Keras' TF trainer fail across workers (keras-team/keras#20585): averaging a
    whole input batch across replicas before training (`_maybe_symbolic_build`), and averaging
    each step's scalar logs with `axis=0`. With the model's own strategy unset, the first is
    skipped and Keras builds the loss and metrics when it traces the step (inside
    `strategy.scope()` it still distributes data and steps with `strategy`); the steps' logs
    get a length-1 axis to average over. Gradients are all-reduced as usual, and the metrics
    (variables summed across replicas when read) cover all workers' data. With one worker this
    does nothing.
    """
    if num_workers(strategy) == 1:
        yield
        return

    def with_batch_axis(step):
        return lambda data: {k: tf.reshape(v, [1]) for k, v in step(data).items()}

    saved, model._distribute_strategy = model._distribute_strategy, None
    model.train_step = with_batch_axis(type(model).train_step.__get__(model))
    model.test_step = with_batch_axis(type(model).test_step.__get__(model))
    try:
        with strategy.scope():
            yield
    finally:
        model._distribute_strategy = saved
        del model.train_step, model.test_step
        model.train_function = model.test_function = None
