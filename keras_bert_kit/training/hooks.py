"""`TaskHooks`: what one task supplies to the `Runner`; the runner owns everything else.

The runner (`training/runner.py`) sets up the strategy, precision, XLA and seeds, builds the
optimizer from `OptimizerConfig`, compiles, assembles the callbacks (best-model checkpoint, CSV
history, `TerminateOnNaN`, backup and resume), trains, and writes `metrics.json`. A task
(`training/tasks/*.py`) subclasses `TaskHooks` and fills in the steps below; the runner calls
them in this order:

1. `validate()`: checks across fields, when the run is set up (nothing has run yet);
2. `read_data()`: reads the files, before anything is written (bad data: `UserError`);
3. `build_model()`: the Keras model, under `strategy.scope()`;
4. `datasets(model)`: `(training data, extra model.fit arguments)`; the training data is a
   `tf.data.Dataset`, or for a resumable task a `BatchStream` (the runner splits it over workers
   and replicas and starts it at the run's position) with `steps_per_epoch` among the arguments;
5. `schedule_batches()`: the learning-rate schedule's length in batches; `compile_arguments()`:
   `model.compile` arguments besides the optimizer (e.g. losses);
6. `monitor()`: `(log name, "max" | "min")` to keep the best epoch by, or None (keep the last);
7. `dev_scores(model)`: after each epoch, for tasks that score the dev set themselves:
   `(logs to add, payload kept for the best epoch)`;
8. `callbacks()`: extra callbacks that write files (the chief's only, under multi-worker);
9. `settings()`: the run's settings recorded in `metrics.json`;
10. `results(model, history, best)`: the task's part of the result dict;
11. `write_outputs(model, result)`: files beyond `model.keras`, `history.csv` and `metrics.json`
    (called on the chief only).

Under multi-worker training every worker runs every step (they all take part in the collectives:
training, evaluation, `dev_scores`); `runner.output_dir` is the run folder on the chief and a
temporary folder, removed at the end, on the other workers.

The class attributes describe the task to the runner and to the generated command line.
The module imports neither TensorFlow nor Keras: tasks import them inside their steps.
"""

import dataclasses
import os
import typing

from keras_bert_kit.errors import UserError
from keras_bert_kit.training.config import DataConfig, ModelConfig, OptimizerConfig, RunConfig

# Fields only pretraining reads; fine-tuning tasks reject them.
PRETRAINING_ONLY = ("preset", "config_overrides", "total_steps", "steps_per_epoch")
# How the fine-tuning commands describe the shared fields they read otherwise than pretraining.
FINE_TUNING_FLAGS = {"save_every_steps": {
    "help": "also back the run up every N training batches (default: after each epoch only)"}}


@dataclasses.dataclass(frozen=True)
class BatchStream:
    """A resumable task's endless stream of training batches (`TaskHooks.datasets`).

    Attributes:
        make: `make(batch_size, num_shards, shard_index) -> tf.data.Dataset`: shard
            `shard_index` of `num_shards` (one per worker) as an endless, deterministically
            shuffled dataset of batches of `batch_size` examples.
        batch_size: the global batch size (summed over workers and replicas).

    Example:
    >>> BatchStream(make=lambda batch_size, num_shards, shard_index: None, batch_size=32).batch_size
    32
    """

    make: typing.Callable
    batch_size: int


class TaskHooks:
    """One task's part of a training run (see the module docstring for the call order).

    Attributes:
        name: the task's name (`run(name, ...)`, `kbk finetune <name>`).
        help: one line for `kbk --help`.
        options_class: the task's options dataclass (e.g. `ClassifyOptions`).
        defaults: `{field name: value}` for the fields left at None ("the task's default").
        required: fields that must be given.
        unused: fields of the shared dataclasses this task does not read (refused when set).
        flags: `{field name: {"flag": ..., "aliases": (...), "nargs": ..., "help": ...}}`:
            how the task's command spells a shared field, when not the field's own way.
        resumable: the runner backs the run up (`callbacks.TrainingBackup`), resumes from the
            backup at the step it stopped at, and the task's training data is a `BatchStream`.
        resume_keys: settings a resumed run must share with the backed-up one (None: all of
            them but the number of replicas).
        final_results: a finished run (`metrics.json` in its folder) is final: a rerun into
            the folder is refused unless `run.overwrite`, and the backup is removed once
            `metrics.json` is written (pretraining keeps it: a rerun reports the same run).
        jit_default: what `jit_compile="auto"` means (see `jit_compile_setting`).

    Example:
    >>> from keras_bert_kit.training.config import TrainingConfig
    >>> class Echo(TaskHooks):
    ...     name, defaults = "echo", {"epochs": 2}
    >>> Echo.resolve(TrainingConfig()).run.epochs
    2
    """

    name = ""
    help = ""
    options_class = None
    defaults = {}
    required = ()
    unused = ()
    flags = {}
    resumable = False
    resume_keys = ()
    final_results = False
    jit_default = "auto"

    def __init__(self, config, runner=None):
        self.config = config
        self.runner = runner

    @classmethod
    def fields(cls):
        """`[(section name, dataclasses.Field)]` of every setting this task reads."""
        classes = {"model": ModelConfig, "data": DataConfig, "optimizer": OptimizerConfig,
                   "run": RunConfig, "options": cls.options_class}
        return [(section, field) for section, klass in classes.items() if klass is not None
                for field in dataclasses.fields(klass) if field.name not in cls.unused]

    @classmethod
    def flag_spec(cls, field):
        """How this task's command spells one setting: the field's metadata with the task's
        overrides (`flags`), `flag` always set (`--` + the field name with dashes by default)."""
        spec = {**field.metadata, **cls.flags.get(field.name, {})}
        spec["flag"] = spec.get("flag") or "--" + field.name.replace("_", "-")
        return spec

    @classmethod
    def default(cls, field):
        """The value a setting takes when not given: the task's default, else the field's."""
        return cls.defaults.get(field.name, field.default)

    @classmethod
    def resolve(cls, config):
        """`config` with the task's options and defaults filled in; refuses unused settings.

        Raises:
            UserError: a required field is missing, or an unused one is set.
        """
        if config.options is None and cls.options_class is not None:
            config = dataclasses.replace(config, options=cls.options_class())
        if cls.options_class is not None and not isinstance(config.options, cls.options_class):
            raise UserError(f"{cls.name} takes options={cls.options_class.__name__}(...), not "
                            f"{type(config.options).__name__}")
        defaults = {name: value for name, value in cls.defaults.items()
                    if dict(config.items())[name] is None}
        config = config.replace(**defaults)
        for section_name, section in config.sections().items():
            for field in dataclasses.fields(section):
                if field.name in cls.unused and getattr(section, field.name) != field.default:
                    raise UserError(f"{cls.name} does not use {section_name}.{field.name}")
        owners = {f.name: (section_name, getattr(section, f.name))
                  for section_name, section in config.sections().items()
                  for f in dataclasses.fields(section)}
        missing = [f"{owners[name][0]}.{name}" for name in cls.required if owners[name][1] is None]
        if missing:
            raise UserError(f"{cls.name} needs " + ", ".join(missing))
        return config

    def validate(self):
        pass

    def read_data(self):
        pass

    def build_model(self):
        raise NotImplementedError

    def datasets(self, model):
        raise NotImplementedError

    def schedule_batches(self):
        raise NotImplementedError

    def compile_arguments(self):
        return {}

    def backup_every_batches(self):
        """Batches between two backups within an epoch (None: at the epochs' ends only)."""
        return None

    def monitor(self):
        return None

    def dev_scores(self, model):
        return None

    def callbacks(self):
        return []

    def settings(self):
        return {}

    def results(self, model, history, best):
        return {}

    def write_outputs(self, model, result):
        pass


class FineTuningHooks(TaskHooks):
    """Shared parts of the fine-tuning tasks: required files, resumable epochs, the settings a
    resumed run must keep, epochs and history in the result.

    A fine-tuning run is resumable: its batches are planned per epoch from `(seed, epoch)`
    (`data/epoch_batches.py`: length buckets kept, every epoch the same number of batches), so
    a run killed mid-epoch and started again trains on exactly the batches an uninterrupted run
    would (`batch_stream`). Its results are final (`final_results`).
    """

    required = ("init", "train", "dev")
    unused = PRETRAINING_ONLY
    flags = FINE_TUNING_FLAGS
    resumable = True
    resume_keys = None
    final_results = True

    def batch_stream(self, buckets, batches):
        """The run's `BatchStream` over examples with length buckets `buckets`.

        Sets `steps_per_epoch`. `batches(indices)` maps a `tf.data.Dataset` of index vectors
        (one a batch) onto the model's batches (`classification_batches`, ...).
        """
        from keras_bert_kit.data.epoch_batches import (batches_per_epoch, index_batches,
                                                       replica_pieces)

        batch_size, run = self.config.data.batch_size, self.config.run
        self.steps_per_epoch = batches_per_epoch(buckets, batch_size)

        def make(replica_batch_size, num_shards, shard_index):
            replicas, pieces = replica_pieces(batch_size, replica_batch_size, num_shards,
                                              shard_index)
            return batches(index_batches(buckets, batch_size, run.seed, run.epochs,
                                         replicas=replicas, pieces=pieces))

        return BatchStream(make, batch_size)

    def fit_arguments(self, **more):
        """`model.fit` arguments of a `batch_stream` run: epochs, batches per epoch, `more`."""
        return {"epochs": self.config.run.epochs, "steps_per_epoch": self.steps_per_epoch,
                **more}

    def schedule_batches(self):
        return self.steps_per_epoch * self.config.run.epochs

    def backup_every_batches(self):
        return self.config.run.save_every_steps

    def settings(self):
        """Settings every fine-tuning run records (a task adds its own)."""
        config = self.config

        def paths(value):
            return (None if value is None else os.fspath(value)
                    if isinstance(value, str | os.PathLike) else [os.fspath(v) for v in value])

        return dict(train=paths(config.data.train), dev=paths(config.data.dev),
                    max_train_examples=config.data.max_train_examples, head=config.model.head,
                    epochs=config.run.epochs, seed=config.run.seed,
                    optimizer=config.optimizer.optimizer,
                    global_clipnorm=config.optimizer.global_clipnorm,
                    gradient_accumulation_steps=config.optimizer.gradient_accumulation_steps)

    def results(self, model, history, best):
        return {"epochs": self.config.run.epochs,
                "history": {k: [float(x) for x in v] for k, v in history.history.items()}}
