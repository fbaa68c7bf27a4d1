"""`pretrain`: preemption-safe BERT pretraining (masked LM + next sentence), and its command lines.

A run reads pretraining TFRecords (from `create_pretraining_data` or Google's script) or raw text
(masked on the fly), trains a `BertPretrainer` and writes under `output_dir`:

- `backup/`: Keras `BackupAndRestore` state (weights, optimizer, epoch) plus the dropout
  seed-generator states, written every `save_every_steps` optimizer steps;
- `model.keras` (latest checkpoint), `history.csv`, `logs/` (TensorBoard, when installed);
- at the end: `backbone/` (Hugging Face `BertModel` folder with `vocab.txt` and
  `tokenizer_config.json`), `pretrainer.keras` and `metrics.json`.

Resuming: Keras restores weights, optimizer and the *epoch*, not the position inside an epoch.
So training runs as `total_steps // save_every_steps` "virtual epochs" of `save_every_steps`
steps over an endless, deterministically shuffled stream of batches; a restarted run skips the
`restored_epoch * steps_per_epoch` batches already trained on, so running the same command again
after a kill sees exactly the batches (and, with the seed-generator states restored, the dropout
masks) of an uninterrupted run and ends at the same optimizer step.

Command lines: `add_pretrain_arguments` / `run_from_args` (`kbk pretrain`, `recipes/pretrain.py`),
`add_pretrain_data_arguments` / `run_pretrain_data_from_args` (`kbk pretrain-data`) and
`add_vocab_arguments` / `run_vocab_from_args` (`kbk vocab`).
"""

import argparse
import contextlib
import csv
import glob
import importlib.util
import inspect
import json
import logging
import os
import shutil
import time

import numpy as np

logger = logging.getLogger(__name__)

BACKUP_DIR = "backup"
RUN_SETTINGS_FILE = "run_settings.json"
# Settings that fix the batch stream and the schedule: a resumed run must use the same ones.
_RESUME_SETTINGS = ("train_files", "batch_size", "total_steps", "save_every_steps", "seed",
                    "gradient_accumulation_steps", "dynamic_masking", "learning_rate",
                    "warmup_ratio", "optimizer")
_TEXT_SUFFIXES = (".txt",)


def pretrain(train_files, output_dir, *, vocab_file, preset=None, init=None, config_overrides=None,
             eval_files=None, batch_size=32, epochs=1, steps_per_epoch=None, total_steps=None,
             save_every_steps=None, learning_rate=1e-4, warmup_ratio=0.1, optimizer="adamw",
             weight_decay=0.01, global_clipnorm=1.0, gradient_accumulation_steps=None,
             strategy="auto", mixed_precision="auto", jit_compile="auto", seed=0,
             dynamic_masking=False, max_seq_length=128, max_predictions_per_seq=20,
             masked_lm_prob=0.15, whole_word_mask=False, do_lower_case=None, eval_steps=None,
             verbose=1):
    """Pretrains BERT on masked-LM + next-sentence prediction; resumes a killed run where it stopped.

    Running the same call again after a kill or preemption continues from the last backup (every
    `save_every_steps` optimizer steps) and ends where the uninterrupted run would, on the same
    batches. Under `MultiWorkerMirroredStrategy` every worker runs this same call; the chief
    writes to `output_dir`, other workers to `output_dir/workers/<type>-<index>`.

    Args:
        train_files: TFRecord paths or glob patterns (static masks, or fresh ones with
            `dynamic_masking`), or `.txt` files (one sentence per line, blank line between
            documents; always masked on the fly, as next-sentence pairs).
        output_dir: the run folder (see the module docstring for its content).
        vocab_file: the WordPiece `vocab.txt` the data was made with.
        preset: architecture of a new model (`BertConfig` preset, e.g. `"bert_tiny_uncased"`);
            its vocabulary size is set to the vocabulary's.
        init: continue from weights instead: a Hugging Face / Google BERT checkpoint folder
            (heads initialised if it has none, MLM output tied to the embeddings) or a `.keras`
            `BertPretrainer`. Exactly one of `preset` and `init`.
        config_overrides: dict of backbone arguments overriding the preset / checkpoint config
            (e.g. `{"num_layers": 1, "dropout": 0.0}`).
        eval_files: held-out files (same kinds as `train_files`), evaluated after every virtual
            epoch (`val_*` in `history.csv`) and at the end (`metrics.json`).
        batch_size: global batch size (summed over replicas).
        epochs, steps_per_epoch: used only when `total_steps` is None: `total_steps = epochs *
            steps_per_epoch`, `steps_per_epoch` defaulting to one pass over the TFRecords.
        total_steps: optimizer steps of the whole run.
        save_every_steps: optimizer steps per virtual epoch (backup, checkpoint, log row, eval);
            must divide `total_steps`. Default: `min(total_steps, 1000)`.
        learning_rate, warmup_ratio, optimizer, weight_decay, global_clipnorm: see
            `create_optimizer` (linear warm-up, then linear decay to 0 at `total_steps`).
        gradient_accumulation_steps: batches per optimizer step (then each step sees
            `batch_size * gradient_accumulation_steps` examples).
        strategy: see `choose_strategy`.
        mixed_precision: see `set_precision`.
        jit_compile: XLA for the train step; `"auto"`: see `jit_compile_setting` (Keras'
            default, which is off on CPU; off for bfloat16 on CPU).
        seed: initialisation, shuffling, dropout and dynamic-masking seed.
        dynamic_masking: re-mask TFRecords on the fly (new masks on every pass over the data).
        max_seq_length, max_predictions_per_seq, masked_lm_prob, whole_word_mask: masking of
            `.txt` inputs and of `dynamic_masking` (records keep their sequence length).
        do_lower_case: tokenizer casing written to `backbone/tokenizer_config.json` (and used for
            `.txt` inputs); None: from `init`'s `tokenizer_config.json`, else from the preset name
            (`*_cased` = False), else True.
        eval_steps: evaluate on at most this many batches (None: all of `eval_files`).
        verbose: Keras progress output (0, 1 or 2).

    Returns:
        The dict also written to `metrics.json`: `eval` (held-out loss / `mlm_accuracy` /
        `nsp_accuracy`, when `eval_files`), `train` (last row of `history.csv`),
        `optimizer_steps`, `train_seconds`, `resumed_from_step` and the settings.

    Raises:
        ValueError: the vocabulary does not fit the model or the records (the message names the
            file), bad step counts, or a resumed run with different settings.
        tf.errors.DataLossError: a corrupt or truncated TFRecord file (the message names it).

    Example:
    >>> metrics = pretrain("data/train/*.tfrecord", "runs/tiny", vocab_file="vocab.txt",
    ...                    preset="bert_tiny_uncased", total_steps=2000, save_every_steps=200,
    ...                    eval_files="data/eval/*.tfrecord")  # doctest: +SKIP
    >>> metrics["eval"]["mlm_accuracy"]  # doctest: +SKIP
    """
    import keras
    import tensorflow as tf

    from keras_bert_kit.text.bert_tokenizer import BertTokenizer, read_vocabulary
    from keras_bert_kit.training.callbacks import training_callbacks
    from keras_bert_kit.training.optimization import create_optimizer
    from keras_bert_kit.training.strategy import (choose_strategy, jit_compile_setting,
                                                  set_precision)

    if (preset is None) == (init is None):
        raise ValueError("pretrain needs exactly one of preset= (a new model) and init= (weights)")
    # Multi-worker collectives must be set up before TensorFlow runs anything else.
    strategy = choose_strategy(strategy)
    keras.utils.set_random_seed(seed)
    policy = set_precision(mixed_precision)
    vocab_file = os.fspath(vocab_file)
    vocabulary = read_vocabulary(vocab_file)
    if do_lower_case is None:
        do_lower_case = _default_lower_case(preset, init)
    train_files, is_text = _expand_files(train_files, "train_files")
    eval_files, eval_is_text = _expand_files(eval_files, "eval_files") if eval_files else (None, None)
    tokenizer = None  # only text inputs and dynamic masking need one
    if is_text or eval_is_text or dynamic_masking:
        tokenizer = BertTokenizer.from_vocabulary(vocabulary, lowercase=do_lower_case)
    output_dir = _worker_output_dir(os.fspath(output_dir), strategy)
    os.makedirs(output_dir, exist_ok=True)

    # Reading every record file once up front names a corrupt one before anything else runs.
    counts = {f: _count_records(f) for f in ([] if is_text else train_files)
              + ([] if eval_is_text or not eval_files else eval_files)}
    accumulation = gradient_accumulation_steps or 1
    if total_steps is None:
        if steps_per_epoch is None:
            if is_text:
                raise ValueError("train_files are text: give total_steps (or steps_per_epoch)")
            steps_per_epoch = sum(counts[f] for f in train_files) // (batch_size * accumulation)
        total_steps = epochs * steps_per_epoch
    save_every_steps = save_every_steps or min(total_steps, 1000)
    if total_steps <= 0 or save_every_steps <= 0 or total_steps % save_every_steps:
        raise ValueError(f"save_every_steps={save_every_steps} must be positive and divide "
                         f"total_steps={total_steps}")
    virtual_epochs = total_steps // save_every_steps
    batches_per_epoch = save_every_steps * accumulation
    settings = dict(train_files=train_files, eval_files=eval_files, vocab_file=vocab_file,
                    preset=preset, init=None if init is None else os.fspath(init),
                    config_overrides=config_overrides, batch_size=batch_size,
                    total_steps=total_steps, save_every_steps=save_every_steps,
                    learning_rate=learning_rate, warmup_ratio=warmup_ratio, optimizer=optimizer,
                    weight_decay=weight_decay, gradient_accumulation_steps=gradient_accumulation_steps,
                    seed=seed, dynamic_masking=dynamic_masking, do_lower_case=do_lower_case,
                    dtype_policy=policy, replicas=strategy.num_replicas_in_sync)
    restored_epoch = _check_resume(output_dir, settings)

    with strategy.scope():
        model = _build_model(preset, init, config_overrides or {}, len(vocabulary), vocab_file)
        # Keras' LR schedule counts batches, also with gradient accumulation.
        model.compile(
            optimizer=create_optimizer(learning_rate, total_steps * accumulation,
                                       warmup_ratio=warmup_ratio, optimizer=optimizer,
                                       weight_decay=weight_decay, global_clipnorm=global_clipnorm,
                                       gradient_accumulation_steps=gradient_accumulation_steps),
            jit_compile=jit_compile_setting(jit_compile, policy))
    backbone = model.backbone
    for path in counts:
        _check_records(path, len(vocabulary), backbone, vocab_file)

    masking = dict(max_seq_length=max_seq_length, max_predictions_per_seq=max_predictions_per_seq,
                   masked_lm_prob=masked_lm_prob, whole_word_mask=whole_word_mask)
    train_ds = _dataset(train_files, is_text, tokenizer, batch_size, seed, training=True,
                        dynamic_masking=dynamic_masking, workers=_num_workers(strategy), **masking)
    train_ds = train_ds.skip(restored_epoch * batches_per_epoch)
    eval_ds = None
    if eval_files:
        eval_ds = _dataset(eval_files, eval_is_text, tokenizer, batch_size, seed, training=False,
                           dynamic_masking=False, workers=_num_workers(strategy), **masking)
        if not eval_is_text:  # a known length lets Keras end each pass without a warning
            batches = -(-sum(counts[f] for f in eval_files) // batch_size)
            eval_ds = eval_ds.apply(tf.data.experimental.assert_cardinality(batches))

    callbacks = training_callbacks(output_dir, backup=True, save_freq="epoch",
                                   tensorboard=importlib.util.find_spec("tensorboard") is not None)
    # The backup's metadata marks an epoch as saved, so it is written after everything else.
    backup = [c for c in callbacks if isinstance(c, keras.callbacks.BackupAndRestore)]
    callbacks = ([c for c in callbacks if c not in backup]
                 + [seed_state_backup(model, os.path.join(output_dir, BACKUP_DIR))] + backup)
    if restored_epoch:
        _truncate_history(os.path.join(output_dir, "history.csv"), restored_epoch)
        logger.info("resuming %s at optimizer step %d of %d", output_dir,
                    restored_epoch * save_every_steps, total_steps)
    start = time.perf_counter()
    with _multi_worker_keras_fix(model, strategy):
        model.fit(train_ds, epochs=virtual_epochs, steps_per_epoch=batches_per_epoch,
                  validation_data=eval_ds, validation_steps=eval_steps, callbacks=callbacks,
                  shuffle=False, verbose=verbose)
    train_seconds = time.perf_counter() - start

    result = {"optimizer_steps": int(model.optimizer.iterations.numpy()),
              "resumed_from_step": restored_epoch * save_every_steps,
              "train_seconds": round(train_seconds, 1),
              "train": _last_history_row(os.path.join(output_dir, "history.csv"))}
    if eval_ds is not None:
        with _multi_worker_keras_fix(model, strategy):
            scores = model.evaluate(eval_ds, steps=eval_steps, return_dict=True, verbose=0)
        result["eval"] = {k: float(v) for k, v in scores.items()}
    result["settings"] = settings

    backbone_dir = os.path.join(output_dir, "backbone")
    backbone.save_pretrained(backbone_dir)
    shutil.copyfile(vocab_file, os.path.join(backbone_dir, "vocab.txt"))
    with open(os.path.join(backbone_dir, "tokenizer_config.json"), "w", encoding="utf-8") as f:
        json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": do_lower_case,
                   "model_max_length": backbone.max_sequence_length}, f, indent=2)
    model.save(os.path.join(output_dir, "pretrainer.keras"))
    with open(os.path.join(output_dir, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    return result


def seed_state_backup(model, backup_dir):
    """A callback that backs up and restores `model`'s dropout seed-generator states.

    Keras' `BackupAndRestore` saves weights and optimizer but not the `SeedGenerator` states, so a
    resumed run would draw other dropout masks than an uninterrupted one. This callback writes
    them at every epoch end to `backup_dir/seed_generators-<epoch>.npz` (keeping the previous
    one) and, when training starts, restores those of the epoch `BackupAndRestore` restores.
    Put it before `BackupAndRestore`, whose metadata marks the epoch as saved.

    Args:
        model: the model being trained.
        backup_dir: the `BackupAndRestore` folder.

    Returns:
        A `keras.callbacks.LambdaCallback`.

    Example:
    >>> callbacks = [seed_state_backup(model, "run/backup"),
    ...              keras.callbacks.BackupAndRestore("run/backup")]  # doctest: +SKIP
    """
    import keras

    states = [v for v in model.variables if v.name == "seed_generator_state"]

    def path(epoch):
        return os.path.join(backup_dir, f"seed_generators-{epoch}.npz")

    def restore(logs=None):
        epoch = _backup_epoch(backup_dir)
        if not epoch:
            return
        if not os.path.exists(path(epoch)):
            logger.warning("%s is missing; the resumed run's dropout masks will differ from an "
                           "uninterrupted run's", path(epoch))
            return
        with np.load(path(epoch)) as saved:
            for i, state in enumerate(states):
                state.assign(saved[f"state_{i}"])

    def save(epoch, logs=None):
        os.makedirs(backup_dir, exist_ok=True)
        temporary = path(epoch + 1) + ".tmp.npz"
        np.savez(temporary, **{f"state_{i}": keras.ops.convert_to_numpy(v)
                               for i, v in enumerate(states)})
        os.replace(temporary, path(epoch + 1))
        if os.path.exists(path(epoch - 1)):
            os.remove(path(epoch - 1))

    return keras.callbacks.LambdaCallback(on_train_begin=restore, on_epoch_end=save)


def restored_epoch(output_dir):
    """The number of virtual epochs a run in `output_dir` has backed up (0 for a new run).

    Args:
        output_dir: the run folder given to `pretrain`.

    Example:
    >>> restored_epoch("runs/austen")  # doctest: +SKIP
    12
    """
    return _backup_epoch(os.path.join(output_dir, BACKUP_DIR))


def _backup_epoch(backup_dir):
    path = os.path.join(backup_dir, "training_metadata.json")
    if not os.path.exists(path):
        return 0
    with open(path, encoding="utf-8") as f:
        return int(json.load(f)["epoch"])


def _check_resume(output_dir, settings):
    """Restored epoch; the run's settings file is written anew or must match the backup's."""
    epoch = restored_epoch(output_dir)
    path = os.path.join(output_dir, RUN_SETTINGS_FILE)
    if epoch and os.path.exists(path):
        with open(path, encoding="utf-8") as f:
            previous = json.load(f)
        changed = [k for k in _RESUME_SETTINGS if previous.get(k) != settings[k]]
        if changed:
            raise ValueError(
                f"{output_dir} holds a backup of a run with other settings ({path}: "
                + ", ".join(f"{k}={previous.get(k)!r} now {settings[k]!r}" for k in changed)
                + "); use a new output folder or the same settings")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(settings, f, indent=2)
    return epoch


def _build_model(preset, init, overrides, vocabulary_size, vocab_file):
    import keras

    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.models.bert_pretrainer import BertPretrainer

    if preset is not None:
        model = BertPretrainer(BertBackbone.from_preset(
            preset, **{"vocabulary_size": vocabulary_size, **overrides}))
        source = f"preset {preset!r} with config_overrides"
    elif os.fspath(init).endswith(".keras"):
        model = keras.saving.load_model(init, compile=False)
        if not isinstance(model, BertPretrainer):
            raise ValueError(f"{init}: a {type(model).__name__}, not a BertPretrainer")
        source = os.fspath(init)
    else:
        model = BertPretrainer.from_pretrained(init, **overrides)
        source = os.fspath(init)
    if model.backbone.vocabulary_size != vocabulary_size:
        raise ValueError(
            f"{vocab_file}: {vocabulary_size} tokens, but the model ({source}) has "
            f"vocabulary_size={model.backbone.vocabulary_size}; use the vocab.txt the model and "
            "data were made with")
    return model


def _check_records(path, vocabulary_size, backbone, vocab_file):
    """Checks the first records of one TFRecord file against the vocabulary and the model."""
    from keras_bert_kit.data.pretraining_records import read_pretraining_records

    dataset = read_pretraining_records(path, batch_size=256, shuffle=False, validate=False,
                                       drop_remainder=False)
    for x, y, _ in dataset.take(1):
        largest = int(max(np.max(x["token_ids"]), np.max(y["mlm"])))
        if largest >= vocabulary_size:
            raise ValueError(
                f"{path}: token id {largest} is out of range for the {vocabulary_size}-token "
                f"vocabulary {vocab_file}; the records were made with another vocabulary")
        length = x["token_ids"].shape[1]
        if length > backbone.max_sequence_length:
            raise ValueError(f"{path}: sequences of {length} tokens, but the model has only "
                             f"{backbone.max_sequence_length} positions")


def _count_records(path):
    from keras_bert_kit.data.pretraining_records import count_records

    return count_records(path)


def _dataset(files, is_text, tokenizer, batch_size, seed, *, training, dynamic_masking, workers,
             max_seq_length, max_predictions_per_seq, masked_lm_prob, whole_word_mask):
    """Batches of one split: endless and shuffled for training, one ordered pass otherwise."""
    import tensorflow as tf

    from keras_bert_kit.data.masking import DynamicMasker, dynamic_pretraining_dataset
    from keras_bert_kit.data.pretraining_records import read_pretraining_records

    if is_text:
        lines = tf.data.Dataset.from_tensor_slices(files).flat_map(
            lambda f: tf.data.TextLineDataset(f).concatenate(tf.data.Dataset.from_tensors("")))
        dataset = dynamic_pretraining_dataset(
            lines, tokenizer, batch_size=batch_size, max_seq_length=max_seq_length,
            max_predictions_per_seq=max_predictions_per_seq, masked_lm_prob=masked_lm_prob,
            whole_word_mask=whole_word_mask, seed=seed, drop_remainder=training)
        if training:
            dataset = dataset.shuffle(256, seed=seed, reshuffle_each_iteration=True).repeat()
    else:
        masker = None
        if dynamic_masking and training:
            masker = DynamicMasker.from_tokenizer(
                tokenizer, whole_word_mask=whole_word_mask,
                max_predictions_per_seq=max_predictions_per_seq, masked_lm_prob=masked_lm_prob)
        dataset = read_pretraining_records(
            files, batch_size, shuffle=training, repeat=training, seed=seed, validate=False,
            masker=masker, drop_remainder=training)
    if workers > 1 and len(files) < workers:
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
        dataset = dataset.with_options(options)
    return dataset


def _expand_files(patterns, name):
    """Sorted files matching paths / glob patterns, and whether they are text files."""
    patterns = [patterns] if isinstance(patterns, (str, os.PathLike)) else list(patterns)
    files = []
    for pattern in map(os.fspath, patterns):
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches or not all(os.path.isfile(m) for m in matches):
            raise FileNotFoundError(f"{name}: no file matches {pattern!r}")
        files.extend(m for m in matches if m not in files)
    text = [f.endswith(_TEXT_SUFFIXES) for f in files]
    if any(text) and not all(text):
        raise ValueError(f"{name} mixes text files and TFRecords: {files}")
    return files, all(text)


def _default_lower_case(preset, init):
    if init is not None:
        config = os.path.join(os.fspath(init), "tokenizer_config.json")
        if os.path.isfile(config):
            with open(config, encoding="utf-8") as f:
                return bool(json.load(f).get("do_lower_case", True))
    return not (preset or "").endswith("_cased")


@contextlib.contextmanager
def _multi_worker_keras_fix(model, strategy):
    """Works around Keras 3's `fit`/`evaluate` under `MultiWorkerMirroredStrategy`.

    Two steps of Keras' TF trainer fail across workers (keras-team/keras#20585): averaging a
    whole input batch across replicas before training (`_maybe_symbolic_build`), and averaging
    each step's scalar logs with `axis=0`. With the model's own strategy unset, the first is
    skipped and Keras builds the loss and metrics when it traces the step (inside
    `strategy.scope()` it still distributes data and steps with `strategy`); the steps' logs
    get a length-1 axis to average over. Gradients are all-reduced as usual, and the metrics
    (variables summed across replicas when read) cover all workers' data.
    """
    if _num_workers(strategy) == 1:
        yield
        return
    import tensorflow as tf

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


def _num_workers(strategy):
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None:
        return 1
    spec = resolver.cluster_spec().as_dict()
    return max(1, len(spec.get("worker", [])) + len(spec.get("chief", [])))


def _worker_output_dir(output_dir, strategy):
    """`output_dir` for the chief (or a single worker), `output_dir/workers/<type>-<i>` otherwise."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if resolver is None or not resolver.task_type:
        return output_dir
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    is_chief = resolver.task_type == "chief" or (
        resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief)
    if is_chief:
        return output_dir
    return os.path.join(output_dir, "workers", f"{resolver.task_type}-{resolver.task_id}")


def _truncate_history(path, epochs):
    """Drops rows of epochs a killed run logged after its last backup (they are trained again)."""
    if not os.path.exists(path):
        return
    with open(path, encoding="utf-8", newline="") as f:
        lines = f.readlines()
    kept = lines[:1] + [line for line in lines[1:] if int(float(line.split(",")[0])) < epochs]
    if len(kept) < len(lines):
        with open(path, "w", encoding="utf-8", newline="") as f:
            f.writelines(kept)


def _last_history_row(path):
    if not os.path.exists(path):
        return {}
    with open(path, encoding="utf-8", newline="") as f:
        rows = list(csv.DictReader(f))
    # Keras' CSVLogger writes "NA" in the `val_*` columns of runs without validation data.
    return {k: float(v) for k, v in rows[-1].items() if v not in ("", "NA")} if rows else {}


# === Command lines ===

# Flags of `kbk pretrain` (dest -> `pretrain` argument); defaults live in `pretrain`'s signature
# so that a `--config` YAML can fill whatever the command line leaves out.
_PRETRAIN_ALIASES = {"vocab": "vocab_file", "output": "output_dir"}
_REQUIRED = ("train_files", "vocab_file", "output_dir")


def add_pretrain_arguments(parser):
    """Adds the `kbk pretrain` flags to an `argparse` parser (see `run_from_args`).

    Args:
        parser: an `argparse.ArgumentParser` (or subparser).

    Example:
    >>> parser = argparse.ArgumentParser()
    >>> add_pretrain_arguments(parser)
    >>> args = parser.parse_args(["--config", "recipes/pretrain_austen.yaml", "--seed", "1"])
    """
    add = parser.add_argument
    add("--config", help="YAML file of `pretrain` arguments (keys: these flags with _ or any "
                         "`pretrain` parameter); flags given here override it")
    add("--train-files", nargs="+", help="TFRecord files / glob patterns, or .txt files")
    add("--eval-files", nargs="+", help="held-out files, evaluated each save and at the end")
    add("--vocab", help="the vocab.txt the data was made with")
    add("--preset", help="architecture of a new model, e.g. bert_tiny_uncased")
    add("--init", help="continue from a BERT checkpoint folder or a .keras BertPretrainer")
    add("--output", help="run folder (backup, logs, backbone/, metrics.json)")
    add("--batch-size", type=int, help="global batch size (default 32)")
    add("--total-steps", type=int, help="optimizer steps (default: one pass over the records)")
    add("--save-every-steps", type=int, help="steps per backup / log row (must divide "
                                             "--total-steps; default min(total, 1000))")
    add("--learning-rate", type=float, help="peak learning rate (default 1e-4)")
    add("--warmup-ratio", type=float, help="warm-up fraction of the steps (default 0.1)")
    add("--optimizer", choices=["adamw", "lamb", "adam"], help="default adamw")
    add("--strategy", choices=["auto", "one_device", "mirrored", "multi_worker", "tpu"])
    add("--mixed-precision", help="auto, bf16, fp16 or none (default auto)")
    add("--jit-compile", action=argparse.BooleanOptionalAction, help="XLA (default: Keras' choice)")
    add("--seed", type=int, help="default 0")


def pretrain_kwargs_from_args(args):
    """The `pretrain` keyword arguments of parsed `kbk pretrain` flags merged over `--config`.

    Args:
        args: the `argparse.Namespace` of a parser set up by `add_pretrain_arguments`.

    Returns:
        A dict of `pretrain` keyword arguments.

    Example:
    >>> kwargs = pretrain_kwargs_from_args(parser.parse_args(["--config", "a.yaml"]))  # doctest: +SKIP
    """
    accepted = set(inspect.signature(pretrain).parameters)
    kwargs = {}
    if args.config:
        import yaml

        with open(args.config, encoding="utf-8") as f:
            config = yaml.safe_load(f) or {}
        if not isinstance(config, dict):
            raise ValueError(f"{args.config}: expected a mapping of pretrain arguments")
        for key, value in config.items():
            name = key.replace("-", "_")
            name = _PRETRAIN_ALIASES.get(name, name)
            if name not in accepted:
                raise ValueError(f"{args.config}: unknown key {key!r}; use the flags' names or "
                                 f"pretrain() arguments: {sorted(accepted)}")
            kwargs[name] = value
    for dest, value in vars(args).items():
        if dest in ("config", "func") or value is None:
            continue
        name = _PRETRAIN_ALIASES.get(dest, dest)
        if name in accepted:
            kwargs[name] = value
    missing = [name for name in _REQUIRED if kwargs.get(name) is None]
    if missing:
        flags = {"vocab_file": "--vocab", "output_dir": "--output", "train_files": "--train-files"}
        raise SystemExit(f"pretrain: give {', '.join(flags[m] for m in missing)} "
                         "(as flags or in the --config YAML)")
    return kwargs


def run_from_args(args):
    """Runs `pretrain` from parsed `kbk pretrain` flags (and `--config`); prints the metrics.

    Args:
        args: the `argparse.Namespace` of a parser set up by `add_pretrain_arguments`.

    Example:
    >>> run_from_args(parser.parse_args(["--config", "recipes/pretrain_austen.yaml"]))  # doctest: +SKIP
    """
    kwargs = pretrain_kwargs_from_args(args)
    train_files, output_dir = kwargs.pop("train_files"), kwargs.pop("output_dir")
    result = pretrain(train_files, output_dir, **kwargs)
    print(json.dumps({k: v for k, v in result.items() if k != "settings"}, indent=2))
    return result


def add_pretrain_data_arguments(parser):
    """Adds the `kbk pretrain-data` flags (see `create_pretraining_data`) to an `argparse` parser.

    Args:
        parser: an `argparse.ArgumentParser` (or subparser).

    Example:
    >>> parser = argparse.ArgumentParser()
    >>> add_pretrain_data_arguments(parser)
    """
    add = parser.add_argument
    add("--input", nargs="+", required=True, help="text files, folders or glob patterns")
    add("--vocab", required=True, help="WordPiece vocab.txt")
    add("--output", required=True, help="folder for the TFRecord shards")
    add("--max-seq-length", type=int, default=128)
    add("--max-predictions-per-seq", type=int, default=20)
    add("--masked-lm-prob", type=float, default=0.15)
    add("--short-seq-prob", type=float, default=0.1)
    add("--dupe-factor", type=int, default=10)
    add("--whole-word-mask", action="store_true")
    add("--do-lower-case", action=argparse.BooleanOptionalAction, default=True)
    add("--seed", type=int, default=12345)
    add("--num-shards", type=int, help="default: one per 100,000 instances")
    add("--num-workers", type=int, default=2)
    add("--gzip", action="store_true")
    add("--overwrite", action="store_true", help="replace the shards of an earlier run")


def run_pretrain_data_from_args(args):
    """Runs `create_pretraining_data` from parsed `kbk pretrain-data` flags; prints the statistics.

    Args:
        args: the `argparse.Namespace` of a parser set up by `add_pretrain_data_arguments`.

    Example:
    >>> run_pretrain_data_from_args(parser.parse_args(
    ...     ["--input", "corpus/", "--vocab", "vocab.txt", "--output", "data"]))  # doctest: +SKIP
    """
    from keras_bert_kit.data.pretraining_data import create_pretraining_data

    result = create_pretraining_data(
        args.input, args.vocab, args.output, max_seq_length=args.max_seq_length,
        max_predictions_per_seq=args.max_predictions_per_seq, masked_lm_prob=args.masked_lm_prob,
        short_seq_prob=args.short_seq_prob, dupe_factor=args.dupe_factor,
        whole_word_mask=args.whole_word_mask, do_lower_case=args.do_lower_case, seed=args.seed,
        num_shards=args.num_shards, gzip=args.gzip, num_workers=args.num_workers,
        overwrite=args.overwrite)
    stats = {k: v for k, v in result.stats.items() if k not in ("arguments", "shards")}
    print(json.dumps({"shards": result.shards, **stats}, indent=2))
    return result


def add_vocab_arguments(parser):
    """Adds the `kbk vocab` flags (see `build_vocabulary`) to an `argparse` parser.

    Args:
        parser: an `argparse.ArgumentParser` (or subparser).

    Example:
    >>> parser = argparse.ArgumentParser()
    >>> add_vocab_arguments(parser)
    """
    add = parser.add_argument
    add("--input", nargs="+", required=True, help="UTF-8 text files")
    add("--vocab-size", type=int, default=30522, help="largest vocabulary size")
    add("--output", required=True, help="the vocab.txt to write")
    add("--cased", action="store_true", help="keep case and accents (default: uncased)")
    add("--min-count", type=int, help="rarest word-piece count considered (default 10)")


def run_vocab_from_args(args):
    """Runs `build_vocabulary` from parsed `kbk vocab` flags; prints the vocabulary size.

    Args:
        args: the `argparse.Namespace` of a parser set up by `add_vocab_arguments`.

    Example:
    >>> run_vocab_from_args(parser.parse_args(
    ...     ["--input", "a.txt", "--vocab-size", "8000", "--output", "vocab.txt"]))  # doctest: +SKIP
    """
    import pathlib

    from keras_bert_kit.text.vocabulary import build_vocabulary

    files = []
    for pattern in args.input:
        matches = sorted(glob.glob(pattern)) if glob.has_magic(pattern) else [pattern]
        if not matches:
            raise FileNotFoundError(f"--input: no file matches {pattern!r}")
        files.extend(pathlib.Path(m) for m in matches)
    vocabulary = build_vocabulary(files, vocab_size=args.vocab_size, lowercase=not args.cased,
                                  output=args.output, min_count=args.min_count)
    print(f"wrote {args.output}: {len(vocabulary)} tokens from {len(files)} file(s)")
    return vocabulary
