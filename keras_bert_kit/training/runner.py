"""The training runner: `run(task, model=..., data=..., optimizer=..., run=...)` for every task.

One `Runner` trains any task (`classify`, `tag`, `squad`, `pretrain`: `training/tasks/`). It
owns what every run shares: the distribution strategy (`choose_strategy`), the dtype policy
(`set_precision`), XLA (`jit_compile_setting`), seeds, the optimizer and its schedule
(`create_optimizer` from `OptimizerConfig`), the callbacks (best-epoch checkpoint to
`model.keras`, `history.csv`, `TerminateOnNaN`), SIGTERM (`training/preemption.py`), for
resumable tasks the backup and the exact resume (`training/resume.py`: each worker's share of
the batch stream starts where the run stopped), which process writes what, and `metrics.json`.
The task's `TaskHooks` read the data, build the model, make the datasets and score the dev set.

Every run writes `model.keras` (best dev epoch; pretraining: the latest), `history.csv` and
`metrics.json` (the returned dict: dev scores, wall time, settings) to `run.output_dir`. Under
multi-worker training only the chief writes there; the other workers write nothing that outlives
the run (a temporary folder for what a task's callbacks must write, removed at the end), and
resume from the chief's backup. A SIGTERM ends the run with status 143 (`Preempted`), after a
backup of the step it stopped at when the task is resumable.

Every task is resumable. A fine-tuning run (`TaskHooks.final_results`) backs up after each epoch
(and every `save_every_steps` batches), resumes a killed run's backup in its folder with a line
`<output>: resuming from epoch N, step S (...)` on standard error, and removes the backup once
`metrics.json` is written; a folder holding a finished run is refused unless `run.overwrite`
(`resume.start_mode`), before anything runs.

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

import contextlib
import json
import logging
import os
import shutil
import tempfile
import time

from keras_bert_kit.errors import UserError
from keras_bert_kit.training.config import (DataConfig, ModelConfig, OptimizerConfig, RunConfig,
                                            TrainingConfig)
from keras_bert_kit.training.hooks import BatchStream
from keras_bert_kit.training.resume import (BACKUP_DIR, FINISHED_FILE, RUN_SETTINGS_FILE,
                                            Position, check_resume, load_backup, resume_message,
                                            start_mode, truncate_history)
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
        strategy, policy, output_dir, is_chief: set when `run()` starts (`output_dir`: the run
            folder on the chief, a temporary folder on other workers).
        position: the `resume.Position` a resumed run starts from (`Position()`: a new run).
        watch: the run's `TerminationWatch` (SIGTERM), while `run()` runs.

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
        self.strategy = self.policy = self.output_dir = self.watch = None
        self.is_chief = True
        self.position = Position()
        self.history = None
        self.restored = {}
        run = self.config.run
        # Pretraining backs up and resumes unless --no-resume; fine-tuning always backs up, and
        # resumes a killed run's backup (a finished run is refused here, before anything runs).
        self.backing_up = hooks_class.resumable and (run.resume or hooks_class.final_results)
        self.resuming = hooks_class.resumable and run.resume
        if hooks_class.final_results:
            mode = start_mode(run.output_dir, resume=run.resume, overwrite=run.overwrite)
            self.resuming = self.backing_up and mode == "resume"

    def run(self):
        """Trains; returns the result dict also written to `metrics.json`.

        Raises:
            Preempted: SIGTERM (a `SystemExit` with status 143), after the backup of a
                resumable task.
        """
        from keras_bert_kit.training.preemption import Preempted, TerminationWatch

        with TerminationWatch(self.config.run.grace_period) as self.watch:
            try:
                return self._run()
            except Preempted as stop:
                logger.warning("%s (exit status %d): run the same command again to resume", stop,
                               stop.code)
                raise
            finally:
                if not self.is_chief and self.output_dir:
                    shutil.rmtree(self.output_dir, ignore_errors=True)

    def _run(self):
        import keras

        from keras_bert_kit.files import sweep_leftovers
        from keras_bert_kit.training.strategy import choose_strategy, is_chief, set_precision

        config = self.config
        # Multi-worker collectives must be set up before TensorFlow runs anything else.
        self.strategy = choose_strategy(config.run.strategy, config.run.tpu_address)
        self.watch.install()  # TF's multi-worker coordination service takes SIGTERM for itself
        keras.utils.set_random_seed(config.run.seed)
        self.policy = set_precision(config.run.mixed_precision)
        self.hooks.read_data()  # bad data fails here, before anything is written
        self.is_chief = is_chief(self.strategy)
        run_dir = os.fspath(config.run.output_dir)
        self.output_dir = run_dir if self.is_chief else tempfile.mkdtemp(prefix="kbk-worker-")
        settings, keys = self.settings(), self._resume_keys()
        if self.resuming:  # other settings than the backup's: refused before anything is built
            check_resume(run_dir, settings, keys, write=False)
        with self.strategy.scope():
            model = self.hooks.build_model()
        self._check_positions(model)
        train, fit_arguments = self.hooks.datasets(model)
        self._compile(model)
        # Nothing is written before here: a bad checkpoint or setting leaves the folder as it was.
        if self.backing_up:
            self._record_settings(run_dir, settings, keys)
        os.makedirs(self.output_dir, exist_ok=True)
        if self.is_chief:
            sweep_leftovers(self.output_dir)  # a killed run's half-written model.keras
        backup = self._restore(model, run_dir, fit_arguments) if self.backing_up else None
        callbacks, checkpoint = self._callbacks(model, backup)
        start = time.perf_counter()
        self._fit(model, train, fit_arguments, callbacks, backup)
        train_seconds = round(time.perf_counter() - start, 1)
        result = {**self.hooks.results(model, self.history, checkpoint),
                  "train_seconds": train_seconds, "settings": settings}
        if self.is_chief:
            self.hooks.write_outputs(model, result)
            with open(os.path.join(self.output_dir, FINISHED_FILE), "w", encoding="utf-8") as f:
                json.dump(result, f, indent=2)
            if self.hooks.final_results and backup is not None:  # the run is done: no resuming
                shutil.rmtree(os.path.join(run_dir, BACKUP_DIR), ignore_errors=True)
                with contextlib.suppress(FileNotFoundError):
                    os.remove(os.path.join(run_dir, RUN_SETTINGS_FILE))
        return result

    def _resume_keys(self):
        """The settings a resumed run must share with its backup (default: all but replicas)."""
        keys = self.hooks.resume_keys
        return [k for k in self.settings() if k != "replicas"] if keys is None else keys

    def _record_settings(self, run_dir, settings, keys):
        """Writes `run_settings.json` (refusing other settings than the backup's).

        A fresh start of a run with final results first discards a backup left in the folder (a
        finished run's, or a killed one's under --no-resume --overwrite).
        """
        if not self.resuming and self.hooks.final_results and self.is_chief:
            shutil.rmtree(os.path.join(run_dir, BACKUP_DIR), ignore_errors=True)
        check_resume(run_dir, settings, keys, write=self.is_chief)

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
            model.compile(optimizer=optimizer, jit_compile=jit_compile,
                          **self.hooks.compile_arguments())

    def _restore(self, model, run_dir, fit_arguments):
        """Loads the run's backup (every worker reads the chief's); the run's `TrainingBackup`."""
        from keras_bert_kit.training.callbacks import TrainingBackup
        from keras_bert_kit.training.preemption import preemption_handler
        from keras_bert_kit.training.strategy import check_same_position

        backup_dir = os.path.join(run_dir, BACKUP_DIR)
        per_epoch = fit_arguments["steps_per_epoch"]
        if self.resuming:
            with self.strategy.scope():
                self.position = load_backup(model, backup_dir, per_epoch, state=self.restored)
            check_same_position(self.strategy, self.position.batches(per_epoch))
            if self.position != Position():
                logger.warning("%s", resume_message(run_dir, self.position, per_epoch,
                                                    fit_arguments["epochs"]))
        requested = self.watch.requested

        def handler(save, stop):
            return preemption_handler(self.strategy, save, stop, requested,
                                      os.path.join(backup_dir, "tf-preemption"))

        backup = TrainingBackup(backup_dir, per_epoch, write=self.is_chief, watch=self.watch,
                                handler=handler, every_batches=self.hooks.backup_every_batches(),
                                metrics=self.strategy.num_replicas_in_sync == 1)
        backup.restored_metrics = self.restored.get("metrics")
        return backup

    def _callbacks(self, model, backup):
        """The run's callbacks, and the checkpoint callback (the best epoch, for the results)."""
        import keras

        from keras_bert_kit.training.callbacks import BestModelCheckpoint, RunHistory

        monitor = self.hooks.monitor() or (None, "max")
        # Every worker scores the dev set (collectives); the others save to a temporary folder.
        checkpoint = BestModelCheckpoint(os.path.join(self.output_dir, "model.keras"), *monitor,
                                         score=self.hooks.dev_scores)
        self.history = RunHistory()
        states = {"checkpoint": checkpoint, "history": self.history}
        for name, state in self.restored.get("callbacks", {}).items():
            states[name].set_state(state)
        callbacks = [keras.callbacks.TerminateOnNaN()]
        if self.is_chief or monitor[0] is not None:
            callbacks.append(checkpoint)
        callbacks.append(self.history)  # after the checkpoint, which adds the dev scores
        if self.is_chief:
            history = os.path.join(self.output_dir, "history.csv")
            if self.resuming:  # rows logged after the backup are trained (and logged) again
                truncate_history(history, self.position.epoch)
            callbacks += [*self.hooks.callbacks(),
                          keras.callbacks.CSVLogger(history, append=self.resuming)]
        if backup is not None:
            backup.states = states
        # The backup comes last: it writes after the epoch's log row and checkpoint.
        return callbacks + ([backup] if backup is not None else []), checkpoint

    def _fit(self, model, train, fit_arguments, callbacks, backup):
        """`model.fit`; a `BatchStream` starts at the run's position (a preempted virtual epoch
        is finished first, by a `fit` of its remaining batches)."""
        from keras_bert_kit.training.strategy import multi_worker_keras_fix, positioned_batches

        fit_arguments = {"shuffle": False, **fit_arguments}  # the datasets shuffle themselves
        verbose = self.config.run.verbose
        stream = isinstance(train, BatchStream)
        with multi_worker_keras_fix(model, self.strategy):
            self.watch.in_training = True
            try:
                if not stream:
                    return model.fit(train, callbacks=callbacks, verbose=verbose, **fit_arguments)
                epochs = fit_arguments.pop("epochs")
                per_epoch = fit_arguments.pop("steps_per_epoch")
                epoch, history = self.position.epoch, None
                if self.position.batch:
                    backup.offset = self.position.batch
                    data = positioned_batches(self.strategy, train.make, train.batch_size,
                                              self.position.batches(per_epoch))
                    history = model.fit(data, callbacks=callbacks, verbose=verbose,
                                        initial_epoch=epoch, epochs=epoch + 1,
                                        steps_per_epoch=per_epoch - self.position.batch,
                                        **fit_arguments)
                    epoch += 1
                if epoch < epochs:
                    data = positioned_batches(self.strategy, train.make, train.batch_size,
                                              epoch * per_epoch)
                    history = model.fit(data, callbacks=callbacks, verbose=verbose,
                                        initial_epoch=epoch, epochs=epochs,
                                        steps_per_epoch=per_epoch, **fit_arguments)
                return history
            finally:
                self.watch.in_training = False
