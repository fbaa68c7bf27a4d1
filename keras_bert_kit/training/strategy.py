"""Distribution strategy selection, precision/XLA switches, and the multi-worker helpers of the runner.

Which strategy when: `docs/distributed.md`. Under `MultiWorkerMirroredStrategy` the chief
(`is_chief`) writes the run's files; every worker reads its own share of a resumable task's batch
stream, started at the run's position (`positioned_batches`).
"""

import contextlib
import json
import logging
import os
import shutil

import keras
import tensorflow as tf

from keras_bert_kit.errors import UserError
from keras_bert_kit.training.config import STRATEGIES

logger = logging.getLogger(__name__)


def choose_strategy(name="auto", tpu_address=None):
    """Returns a `tf.distribute.Strategy`.

    `auto`: `TPUStrategy` when a TPU address is given (or the `TPU_NAME` environment variable),
    `MultiWorkerMirroredStrategy` when `TF_CONFIG` names more than one worker or the process is
    one of several tasks of a Slurm job step (`srun`: `SlurmClusterResolver`), `MirroredStrategy`
    with 2+ GPUs, else one device.

    Args:
        name: one of `STRATEGIES`.
        tpu_address: TPU name/address for `tpu` (or `auto`); `"local"` for a TPU VM; default:
            the `TPU_NAME` environment variable.

    Example:
    >>> strategy = choose_strategy("one_device")
    >>> with strategy.scope():
    ...     pass
    """
    if name not in STRATEGIES:
        raise UserError(f"strategy={name!r}: expected one of {STRATEGIES}")
    tpu_address = tpu_address or os.environ.get("TPU_NAME")
    if name == "auto":
        cluster = json.loads(os.environ.get("TF_CONFIG", "{}")).get("cluster", {})
        workers = (len(cluster.get("worker", [])) + len(cluster.get("chief", []))
                   or int(os.environ.get("SLURM_STEP_NUM_TASKS", "1")))
        if tpu_address:
            name = "tpu"
        elif workers > 1:
            name = "multi_worker"
        elif len(tf.config.list_logical_devices("GPU")) > 1:
            name = "mirrored"
        else:
            name = "one_device"
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu_address or "")
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        strategy = tf.distribute.TPUStrategy(resolver)
    elif name == "multi_worker":
        strategy = tf.distribute.MultiWorkerMirroredStrategy(cluster_resolver=cluster_resolver())
    elif name == "mirrored":
        # Every GPU, else every logical CPU device (several only when configured, e.g. in tests).
        devices = tf.config.list_logical_devices("GPU") or tf.config.list_logical_devices("CPU")
        strategy = tf.distribute.MirroredStrategy([d.name for d in devices])
    else:
        gpus = tf.config.list_physical_devices("GPU")
        strategy = tf.distribute.OneDeviceStrategy("/gpu:0" if gpus else "/cpu:0")
    logger.info("strategy: %s with %d replica(s)", type(strategy).__name__,
                strategy.num_replicas_in_sync)
    return strategy


def cluster_resolver():
    """The multi-worker cluster: `TF_CONFIG` (None: TF's default resolver reads it), else Slurm's.

    In a Slurm job step of several tasks (`srun`), `SlurmClusterResolver` makes the cluster from
    the step's variables (`SLURM_PROCID`, `SLURM_STEP_NODELIST`, ...): one worker per task, ports
    from 20000 + `SLURM_JOB_ID` mod 20000 (so two jobs on one node do not collide), and each task
    its share of the node's GPUs (none on CPU nodes).

    Raises:
        UserError: neither `TF_CONFIG` nor a Slurm step of several tasks.
    """
    if "TF_CONFIG" in os.environ:
        return None
    tasks = int(os.environ.get("SLURM_STEP_NUM_TASKS", "1"))
    if tasks < 2:
        raise UserError("strategy='multi_worker' needs the TF_CONFIG environment variable (or "
                        "several tasks of a Slurm job step: srun)")
    port_base = 20000 + int(os.environ.get("SLURM_JOB_ID", "0")) % 20000
    gpus = {} if shutil.which("nvidia-smi") else {
        # CPU nodes: the resolver still hands out "GPU" ids; give each task one, unused.
        "gpus_per_node": tasks, "gpus_per_task": 1, "auto_set_gpu": False}
    return tf.distribute.cluster_resolver.SlurmClusterResolver(port_base=port_base, **gpus)


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


def is_chief(strategy):
    """Whether this process writes the run's files: a multi-worker run's chief, or the one process.

    Example:
    >>> is_chief(choose_strategy("one_device"))
    True
    """
    return bool(getattr(strategy.extended, "should_checkpoint", True))


def positioned_batches(strategy, make, batch_size, skip_batches=0):
    """A resumable task's batch stream, split over workers and replicas, `skip_batches` steps in.

    Each worker builds its own pipeline (`strategy.distribute_datasets_from_function`): `make(
    per_replica_batch_size, num_workers, worker_index)` returns that worker's endless dataset of
    per-replica batches; its replicas take consecutive batches of it. So one step takes
    `replicas per worker` batches from each worker's pipeline, and a run resumed after
    `skip_batches` global steps skips exactly those on every worker, whatever the number of
    workers and replicas.

    Args:
        strategy: the run's strategy.
        make: `make(batch_size, num_shards, shard_index) -> tf.data.Dataset`.
        batch_size: the global batch size.
        skip_batches: global steps already trained.

    Raises:
        UserError: `batch_size` is not a multiple of the number of replicas.
    """
    replicas = strategy.num_replicas_in_sync
    if batch_size % replicas:
        raise UserError(f"batch_size={batch_size} must be a multiple of the {replicas} replicas "
                        "(it is the global batch, split evenly)")

    def dataset_fn(context):
        per_replica = context.get_per_replica_batch_size(batch_size)
        shards, index = context.num_input_pipelines, context.input_pipeline_id
        # Built inside `flat_map`, the stream's datasets are made anew for every iterator (Keras
        # reads one batch with an iterator of its own before training): iterators of one
        # dataset share its `reshuffle_each_iteration` seed generator, so a second one would see
        # another order, and a resumed run other batches than an uninterrupted one.
        build = tf.autograph.experimental.do_not_convert(
            lambda _: make(per_replica, shards, index))
        dataset = tf.data.Dataset.from_tensors(0).flat_map(build)
        per_pipeline = context.num_replicas_in_sync // context.num_input_pipelines
        return dataset.skip(skip_batches * per_pipeline)

    return strategy.distribute_datasets_from_function(dataset_fn)


def check_same_position(strategy, batches):
    """Checks that every worker resumes at the same step (they read the chief's backup).

    Raises:
        UserError: the workers see different backups (the output folder is not shared storage).
    """
    if num_workers(strategy) == 1:
        return
    value = float(batches)
    per_replica = strategy.run(lambda: tf.constant([value, value * value], tf.float64))
    total, squares = strategy.reduce("SUM", per_replica, axis=None).numpy()
    replicas = strategy.num_replicas_in_sync
    if total != replicas * value or squares * replicas != total * total:
        raise UserError(f"the workers resume at different steps (this one at batch {batches}): "
                        "--output must be one folder that every worker reads (shared storage)")


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
