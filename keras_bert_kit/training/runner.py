"""The training runner: `run(task, model=..., data=..., optimizer=..., run=...)` for every task.

One `Runner` trains any task (`classify`, `tag`, `squad`, `pretrain`: `training/tasks/`). It
owns what every run shares: the distribution strategy (`choose_strategy`), the dtype policy
(`set_precision`), XLA (`jit_compile_setting`), seeds, the optimizer and its schedule
(`create_optimizer` from `OptimizerConfig`), the callbacks (best-epoch checkpoint to
`model.keras`, `history.csv`, `TerminateOnNaN`, and for resumable tasks a `BackupAndRestore`
backup with the dropout seed states), multi-worker output folders and `metrics.json`. The task's
`TaskHooks` read the data, build the model, make the datasets and score the dev set.

Every run writes `model.keras` (best dev epoch; pretraining: the latest), `history.csv` and
`metrics.json` (the returned dict: dev scores, wall time, settings) to `run.output_dir`.

Example (a tiny random BERT learns a two-word sentiment task):
>>> import os
>>> words = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "a", "good", "bad", "film"]
>>> BertBackbone(vocabulary_size=len(words), num_layers=1, num_heads=2, hidden_dim=16,
...              intermediate_dim=32, max_sequence_length=16).save_pretrained("init")
>>> _ = open("init/vocab.txt", "w").write("\\n".join(words) + "\\n")
>>> rows = [f"a {w} film\\t{w}" for w in ["good", "bad"] * 8]
>>> _ = open("train.tsv", "w").write("text\\tlabel\\n" + "\\n".join(rows) + "\\n")
>>> result = run("classify", model=ModelConfig(init="init", sequence_length=8),
...              data=DataConfig(train="train.tsv", dev="train.tsv", batch_size=8),
...              optimizer=OptimizerConfig(learning_rate=1e-3),
...              run=RunConfig(output_dir="runs/tiny", epochs=1, jit_compile=False, verbose=0))
>>> sorted(result["dev_metrics"])
['accuracy', 'f1', 'loss', 'matthews_correlation']
>>> sorted(os.listdir("runs/tiny"))
['history.csv', 'metrics.json', 'model.keras']
"""

import json
import logging
import os
import time

from keras_bert_kit.errors import UserError
from keras_bert_kit.training.config import (DataConfig, ModelConfig, OptimizerConfig, RunConfig,
                                            TrainingConfig)
from keras_bert_kit.training.resume import BACKUP_DIR, check_resume, truncate_history
from keras_bert_kit.training.tasks import get_task

logger = logging.getLogger(__name__)


def run(task, *, model=None, data=None, optimizer=None, run=None, options=None):
    """Trains one task and returns its result (also written to `run.output_dir/metrics.json`).

    Args:
        task: `"classify"`, `"tag"`, `"squad"`, `"pretrain"` (or a `TaskHooks` subclass).
        model: a `ModelConfig` (the starting weights, sequence length).
        data: a `DataConfig` (files, batch size).
        optimizer: an `OptimizerConfig` (default: AdamW at the task's learning rate).
        run: a `RunConfig` (output folder, epochs, strategy, precision, XLA, seed).
        options: the task's options (`ClassifyOptions`, `TagOptions`, `SquadOptions`,
            `PretrainOptions`; default: their defaults).

    Returns:
        The result dict: the task's dev scores, `train_seconds`, `settings`, ...

    Raises:
        UserError: a missing or unused setting, bad data, a sequence length beyond the model's.

    Example:
    >>> run("squad", model=ModelConfig(init="bert-base-uncased/"),
    ...     data=DataConfig(train="train-v1.1.json", dev="dev-v1.1.json"))  # doctest: +SKIP
    """
    config = TrainingConfig(model=model or ModelConfig(), data=data or DataConfig(),
                            optimizer=optimizer or OptimizerConfig(), run=run or RunConfig(),
                            options=options)
    return Runner(task, config).run()


class Runner:
    """Trains one task from a `TrainingConfig` (see the module docstring for what it owns).

    Args:
        task: a task name or `TaskHooks` subclass.
        config: a `TrainingConfig`; the task's defaults fill the fields left at None.

    Attributes:
        config: the resolved `TrainingConfig`.
        hooks: the task's `TaskHooks`.
        strategy, policy, output_dir: set when `run()` starts (a worker's own folder under
            multi-worker training).
        restored_epoch: the epoch a resumed run starts from (0: a new run).

    Example:
    >>> runner = Runner("squad", TrainingConfig(
    ...     model=ModelConfig(init="bert/"), data=DataConfig(train="t.json", dev="d.json")))
    >>> runner.config.model.sequence_length, runner.config.run.output_dir
    (384, 'runs/squad')
    """

    def __init__(self, task, config):
        hooks_class = get_task(task)
        self.config = hooks_class.resolve(config)
        self.hooks = hooks_class(self.config, self)
        self.hooks.validate()
        self.strategy = self.policy = self.output_dir = None
        self.restored_epoch = 0
        self.resuming = hooks_class.resumable and self.config.run.resume

    def run(self):
        """Trains; returns the result dict also written to `metrics.json`."""
        import keras

        from keras_bert_kit.training.strategy import (choose_strategy, multi_worker_keras_fix,
                                                      set_precision, worker_output_dir)

        config = self.config
        # Multi-worker collectives must be set up before TensorFlow runs anything else.
        self.strategy = choose_strategy(config.run.strategy, config.run.tpu_address)
        keras.utils.set_random_seed(config.run.seed)
        self.policy = set_precision(config.run.mixed_precision)
        self.hooks.read_data()  # bad data fails here, before anything is written
        self.output_dir = worker_output_dir(os.fspath(config.run.output_dir), self.strategy)
        settings = self.settings()
        if self.resuming:
            self.restored_epoch = check_resume(self.output_dir, settings, self.hooks.resume_keys)
        with self.strategy.scope():
            model = self.hooks.build_model()
        self._check_positions(model)
        train, fit_arguments = self.hooks.datasets(model)
        self._compile(model)
        os.makedirs(self.output_dir, exist_ok=True)
        callbacks, checkpoint = self._callbacks(model)
        start = time.perf_counter()
        with multi_worker_keras_fix(model, self.strategy):
            # The datasets shuffle themselves (Keras' `shuffle` is for arrays only).
            history = model.fit(train, callbacks=callbacks, verbose=config.run.verbose,
                                **{"shuffle": False, **fit_arguments})
        train_seconds = round(time.perf_counter() - start, 1)
        result = {**self.hooks.results(model, history, checkpoint),
                  "train_seconds": train_seconds, "settings": settings}
        self.hooks.write_outputs(model, result)
        with open(os.path.join(self.output_dir, "metrics.json"), "w", encoding="utf-8") as f:
            json.dump(result, f, indent=2)
        return result

    def settings(self):
        """The run's settings recorded in `metrics.json` (and `run_settings.json` to resume)."""
        config = self.config
        init = config.model.init
        return {"init": None if init is None else os.fspath(init),
                "learning_rate": config.optimizer.learning_rate,
                "batch_size": config.data.batch_size,
                "warmup_ratio": config.optimizer.warmup_ratio,
                "weight_decay": config.optimizer.weight_decay,
                **self.hooks.settings(), "dtype_policy": self.policy,
                "replicas": self.strategy.num_replicas_in_sync}

    def evaluate(self, model, dataset, steps=None):
        """`model.evaluate` as a `{name: float}` dict, under this run's strategy."""
        from keras_bert_kit.training.strategy import multi_worker_keras_fix

        with multi_worker_keras_fix(model, self.strategy):
            scores = model.evaluate(dataset, steps=steps, return_dict=True, verbose=0)
        return {k: float(v) for k, v in scores.items()}

    def _check_positions(self, model):
        length = self.config.model.sequence_length
        positions = model.backbone.max_sequence_length
        if "sequence_length" not in self.hooks.unused and length > positions:
            raise UserError(f"sequence_length={length} is more than the {positions} positions of "
                            f"the model in {self.config.model.init}; use --sequence-length "
                            f"{positions} or less")

    def _compile(self, model):
        from keras_bert_kit.training.optimization import (create_optimizer,
                                                           layerwise_learning_rate_multipliers)
        from keras_bert_kit.training.strategy import jit_compile_setting

        settings = self.config.optimizer
        multipliers = layerwise_learning_rate_multipliers(
            model.backbone.num_layers, layer_decay=settings.layer_decay,
            head_multiplier=settings.head_learning_rate_multiplier)
        jit_compile = jit_compile_setting(self.config.run.jit_compile, self.policy,
                                          default=self.hooks.jit_default)
        with self.strategy.scope():
            optimizer = create_optimizer(
                settings.learning_rate, self.hooks.schedule_batches(),
                warmup_ratio=settings.warmup_ratio, optimizer=settings.optimizer,
                weight_decay=settings.weight_decay, global_clipnorm=settings.global_clipnorm,
                gradient_accumulation_steps=settings.gradient_accumulation_steps,
                learning_rate_multipliers=multipliers or None)
            model.compile(optimizer=optimizer, jit_compile=jit_compile)

    def _callbacks(self, model):
        """The run's callbacks, and the checkpoint callback (the best epoch, for the results)."""
        import keras

        from keras_bert_kit.training.callbacks import BestModelCheckpoint, seed_state_backup

        path = os.path.join(self.output_dir, "model.keras")
        monitor = self.hooks.monitor()
        if monitor is None:
            checkpoint = keras.callbacks.ModelCheckpoint(path)
        else:
            checkpoint = BestModelCheckpoint(path, *monitor, score=self.hooks.dev_scores)
        history = os.path.join(self.output_dir, "history.csv")
        callbacks = [checkpoint, *self.hooks.callbacks(),
                     keras.callbacks.CSVLogger(history, append=self.resuming),
                     keras.callbacks.TerminateOnNaN()]
        if self.resuming:
            backup = os.path.join(self.output_dir, BACKUP_DIR)
            if self.restored_epoch:
                truncate_history(history, self.restored_epoch)
                logger.info("resuming %s after epoch %d", self.output_dir, self.restored_epoch)
            # The backup's metadata marks an epoch as saved, so it is written after everything.
            callbacks += [seed_state_backup(model, backup),
                          keras.callbacks.BackupAndRestore(backup, save_freq="epoch",
                                                           delete_checkpoint=False,
                                                           double_checkpoint=True)]
        return callbacks, checkpoint
