"""The `pretrain` task: masked-LM + next-sentence pretraining of a `BertPretrainer`, resumable.

Reads pretraining TFRecords (from `create_pretraining_data` or Google's script; static masks,
or fresh ones with `dynamic_masking`) or `.txt` files (one sentence per line, a blank line
between documents; masked on the fly as next-sentence pairs), and writes under the output
folder, besides what the runner writes (`model.keras`: the latest checkpoint, `history.csv`,
`metrics.json`, `backup/`, `run_settings.json`):

- `logs/` (TensorBoard, when installed);
- at the end: `backbone/` (a Hugging Face `BertModel` folder with `vocab.txt` and
  `tokenizer_config.json`) and `pretrainer.keras`.

Training runs as `total_steps // save_every_steps` "virtual epochs" of `save_every_steps`
optimizer steps over an endless, deterministically shuffled stream of batches (a `BatchStream`),
so a stopped run resumes at the step it stopped at (`training/resume.py`). Under
`MultiWorkerMirroredStrategy` every worker runs the same command and reads its own shard of the
records (its files when there are at least as many files as workers, else its rows of each
batch); only the chief writes to the output folder (`docs/distributed.md`).

Record counts (for the default step count and the evaluation's length) come from the
`pretraining_stats.json` that `create_pretraining_data` writes next to its shards, so a start
does not read the corpus; record files without one (Google's script, other tools) are read once
to count them, which also names a corrupt file before training starts.

Example:
>>> PretrainHooks.required, PretrainHooks.flags["train"]["flag"]
(('train', 'vocab_file', 'output_dir'), '--train-files')
"""

import importlib.util
import json
import os
import shutil

import numpy as np

from keras_bert_kit.errors import UserError
from keras_bert_kit.training.config import PretrainOptions
from keras_bert_kit.training.hooks import TaskHooks

_TEXT_SUFFIXES = (".txt",)


class PretrainHooks(TaskHooks):
    """Hooks of the `pretrain` task (see `TaskHooks`)."""

    name = "pretrain"
    help = "MLM+NSP pretraining with fit() (resumable, distributed)"
    options_class = PretrainOptions
    defaults = {"epochs": 1, "learning_rate": 1e-4}
    required = ("train", "vocab_file", "output_dir")
    # `overwrite`: a rerun into a finished pretraining run trains no further and reports it.
    unused = ("sequence_length", "max_train_examples", "head", "overwrite")
    flags = {"train": {"flag": "--train-files", "nargs": "+",
                       "help": "TFRecord or .txt files, folders, glob patterns"},
             "dev": {"flag": "--eval-files", "nargs": "+",
                     "help": "held-out files (as --train-files), evaluated each save and at "
                             "the end"},
             "vocab_file": {"help": "the vocab.txt the data was made with"},
             "init": {"help": "continue from a BERT checkpoint folder or a .keras BertPretrainer"},
             "output_dir": {"help": "run folder (backup, logs, backbone/, metrics.json)"}}
    resumable = True
    # Settings that fix the batch stream and the schedule: a resumed run must use the same ones.
    resume_keys = ("train_files", "batch_size", "total_steps", "save_every_steps", "seed",
                   "gradient_accumulation_steps", "dynamic_masking", "learning_rate",
                   "warmup_ratio", "optimizer")

    def validate(self):
        model = self.config.model
        if (model.preset is None) == (model.init is None):
            raise UserError("pretrain needs exactly one of preset= (a new model) and init= "
                            "(weights)")

    def read_data(self):
        from keras_bert_kit.text.bert_tokenizer import BertTokenizer, read_vocabulary

        model, data, options = self.config.model, self.config.data, self.config.options
        self.vocab_file = os.fspath(model.vocab_file)
        self.vocabulary = read_vocabulary(self.vocab_file)
        self.do_lower_case = options.do_lower_case
        if self.do_lower_case is None:
            self.do_lower_case = _default_lower_case(model.preset, model.init)
        flags = {field.name: self.flag_spec(field)["flag"] for _, field in self.fields()}
        self.train_files, self.is_text = expand_files(data.train, flags["train"])
        self.eval_files, self.eval_is_text = (expand_files(data.dev, flags["dev"])
                                              if data.dev else (None, None))
        self.tokenizer = None  # only text inputs and dynamic masking need one
        if self.is_text or self.eval_is_text or options.dynamic_masking:
            self.tokenizer = BertTokenizer.from_vocabulary(self.vocabulary,
                                                           lowercase=self.do_lower_case)
        records = (([] if self.is_text else self.train_files)
                   + ([] if self.eval_is_text or not self.eval_files else self.eval_files))
        self.counts = record_counts(records)
        self._count_steps()

    def _count_steps(self):
        run, batch_size = self.config.run, self.config.data.batch_size
        self.accumulation = self.config.optimizer.gradient_accumulation_steps or 1
        total_steps = run.total_steps
        if total_steps is None:
            steps_per_epoch = run.steps_per_epoch
            if steps_per_epoch is None:
                if self.is_text:
                    raise UserError("train_files are text: give total_steps (or steps_per_epoch)")
                steps_per_epoch = (sum(self.counts[f] for f in self.train_files)
                                   // (batch_size * self.accumulation))
            total_steps = run.epochs * steps_per_epoch
        save_every_steps = run.save_every_steps or min(total_steps, 1000)
        if total_steps <= 0 or save_every_steps <= 0 or total_steps % save_every_steps:
            raise UserError(f"save_every_steps={save_every_steps} must be positive and divide "
                            f"total_steps={total_steps}")
        self.total_steps, self.save_every_steps = total_steps, save_every_steps

    def build_model(self):
        model = self.config.model
        return _build_model(model.preset, model.init, model.config_overrides or {},
                            len(self.vocabulary), self.vocab_file)

    def datasets(self, model):
        import tensorflow as tf

        from keras_bert_kit.training.hooks import BatchStream
        from keras_bert_kit.training.strategy import num_workers

        backbone, options = model.backbone, self.config.options
        sizes = {path: _check_records(path, len(self.vocabulary), backbone, self.vocab_file)
                 for path in _first_file_per_folder(self.counts)}  # one data run, one vocabulary
        # The stream is built in a tf.data function (`positioned_batches`): no eager reads there.
        record_sizes = None if self.is_text else sizes[_first_file_per_folder(self.train_files)[0]]
        if (self.is_text or self.eval_is_text) and (
                options.max_seq_length > backbone.max_sequence_length):
            raise UserError(f"max_seq_length={options.max_seq_length} is more than the model's "
                            f"{backbone.max_sequence_length} positions")
        batch_size, seed = self.config.data.batch_size, self.config.run.seed
        masking = dict(max_seq_length=options.max_seq_length,
                       max_predictions_per_seq=options.max_predictions_per_seq,
                       masked_lm_prob=options.masked_lm_prob,
                       whole_word_mask=options.whole_word_mask)

        def make(shard_batch_size, num_shards, shard_index):
            return _shard(self.train_files, shard_batch_size, num_shards, shard_index,
                          lambda files, size: _dataset(
                              files, self.is_text, self.tokenizer, size, seed, training=True,
                              dynamic_masking=options.dynamic_masking, record_sizes=record_sizes,
                              **masking))

        self.eval_dataset = None
        if self.eval_files:
            self.eval_dataset = _dataset(self.eval_files, self.eval_is_text, self.tokenizer,
                                         batch_size, seed, training=False, dynamic_masking=False,
                                         **masking)
            if num_workers(self.runner.strategy) > len(self.eval_files):
                # Keras splits the evaluation over the workers: by record, with too few files.
                options_ = tf.data.Options()
                policy = tf.data.experimental.AutoShardPolicy.DATA
                options_.experimental_distribute.auto_shard_policy = policy
                self.eval_dataset = self.eval_dataset.with_options(options_)
            if not self.eval_is_text:  # a known length lets Keras end each pass without a warning
                batches = -(-sum(self.counts[f] for f in self.eval_files) // batch_size)
                self.eval_dataset = self.eval_dataset.apply(
                    tf.data.experimental.assert_cardinality(batches))
        return BatchStream(make, batch_size), dict(
            epochs=self.total_steps // self.save_every_steps,
            steps_per_epoch=self.save_every_steps * self.accumulation,
            validation_data=self.eval_dataset, validation_steps=options.eval_steps)

    def compile_arguments(self):
        import keras

        from keras_bert_kit.training.losses import MaskedLMCrossentropy

        # The MLM loss averages over the global batch's masked tokens: any number of replicas
        # trains like one device on the same global batch.
        return {"loss": {"mlm": MaskedLMCrossentropy(),
                         "nsp": keras.losses.SparseCategoricalCrossentropy(from_logits=True)}}

    def schedule_batches(self):
        # Keras' learning-rate schedule counts batches, also with gradient accumulation.
        return self.total_steps * self.accumulation

    def callbacks(self):
        import keras

        if importlib.util.find_spec("tensorboard") is None:
            return []
        return [keras.callbacks.TensorBoard(os.path.join(self.runner.output_dir, "logs"))]

    def settings(self):
        model, optimizer = self.config.model, self.config.optimizer
        return dict(train_files=self.train_files, eval_files=self.eval_files,
                    vocab_file=self.vocab_file, preset=model.preset,
                    config_overrides=model.config_overrides, total_steps=self.total_steps,
                    save_every_steps=self.save_every_steps, optimizer=optimizer.optimizer,
                    gradient_accumulation_steps=optimizer.gradient_accumulation_steps,
                    seed=self.config.run.seed,
                    dynamic_masking=self.config.options.dynamic_masking,
                    do_lower_case=self.do_lower_case)

    def results(self, model, history, best):
        from keras_bert_kit.training.resume import last_history_row

        resumed = self.runner.position.batches(self.save_every_steps * self.accumulation)
        train = ({k: float(v[-1]) for k, v in history.history.items()}
                 if history is not None and history.history else
                 last_history_row(os.path.join(self.runner.output_dir, "history.csv")))
        result = {"optimizer_steps": int(model.optimizer.iterations.numpy()),
                  "resumed_from_step": resumed // self.accumulation, "train": train,
                  "weights_sha256": weights_digest(model)}
        if self.eval_dataset is not None:
            result["eval"] = self.runner.evaluate(model, self.eval_dataset,
                                                  steps=self.config.options.eval_steps)
        return result

    def write_outputs(self, model, result):
        backbone = model.backbone
        backbone_dir = os.path.join(self.runner.output_dir, "backbone")
        backbone.save_pretrained(backbone_dir)
        shutil.copyfile(self.vocab_file, os.path.join(backbone_dir, "vocab.txt"))
        with open(os.path.join(backbone_dir, "tokenizer_config.json"), "w",
                  encoding="utf-8") as f:
            json.dump({"tokenizer_class": "BertTokenizer", "do_lower_case": self.do_lower_case,
                       "model_max_length": backbone.max_sequence_length}, f, indent=2)
        model.save(os.path.join(self.runner.output_dir, "pretrainer.keras"))


def expand_files(patterns, flag):
    """The files of paths, folders and glob patterns (`pretraining_records.pretraining_files`),
    and whether they are text files.

    Example:
    >>> _ = open("a.txt", "w").write("One sentence.\\n")
    >>> expand_files("*.txt", "--train-files")
    (['a.txt'], True)
    """
    from keras_bert_kit.data.pretraining_records import pretraining_files

    files = pretraining_files(patterns, flag)
    text = [f.endswith(_TEXT_SUFFIXES) for f in files]
    if any(text) and not all(text):
        raise UserError(f"{flag} mixes text files and TFRecords: {files}")
    return files, all(text)


def record_counts(files):
    """`{file: number of records}`, from the data tool's stats files where there are some.

    `create_pretraining_data` writes `pretraining_stats.json` (`shards`, `shard_records`) next to
    its shards (`data.pretraining_records.read_stats`); a file that no stats file of its folder
    lists is read in full to count it (a corrupt file fails here, named).

    Example:
    >>> with tf.io.TFRecordWriter("a.tfrecord") as writer:
    ...     writer.write(b"x")
    >>> with open("pretraining_stats.json", "w") as f:
    ...     json.dump({"records": 7, "shards": ["b.tfrecord"], "shard_records": [7]}, f)
    >>> record_counts(["a.tfrecord"])  # not in the stats file: counted
    {'a.tfrecord': 1}
    """
    from keras_bert_kit.data.pretraining_records import count_records, read_stats

    listed = {}
    for folder in dict.fromkeys(os.path.dirname(os.path.abspath(f)) for f in files):
        try:
            stats = read_stats(folder)
        except (FileNotFoundError, ValueError):
            continue
        listed.update({os.path.join(folder, name): int(count) for name, count in
                       zip(stats["shards"], stats["shard_records"])})
    return {f: listed.get(os.path.abspath(f)) or count_records(f) for f in files}


def weights_digest(model):
    """SHA-256 of `model`'s weights (bitwise equal weights, equal digests; workers compare theirs).

    Example:
    >>> len(weights_digest(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])))
    64
    """
    import hashlib

    digest = hashlib.sha256()
    for weight in model.weights:
        digest.update(np.ascontiguousarray(weight.numpy()).tobytes())
    return digest.hexdigest()


def _first_file_per_folder(files):
    return list({os.path.dirname(os.path.abspath(f)): f for f in reversed(list(files))}.values())


def _shard(files, batch_size, num_shards, index, dataset):
    """Shard `index` of `num_shards` of `dataset(files, batch_size)`: its files when there are
    enough, else its rows of each batch of `num_shards * batch_size`."""
    if num_shards == 1:
        return dataset(files, batch_size)
    if len(files) >= num_shards:
        return dataset(files[index::num_shards], batch_size)
    import tensorflow as tf

    return dataset(files, batch_size * num_shards).map(
        lambda *batch: tf.nest.map_structure(lambda t: t[index::num_shards], batch))


def _default_lower_case(preset, init):
    if init is not None:
        config = os.path.join(os.fspath(init), "tokenizer_config.json")
        if os.path.isfile(config):
            with open(config, encoding="utf-8") as f:
                return bool(json.load(f).get("do_lower_case", True))
    return not (preset or "").endswith("_cased")


def _build_model(preset, init, overrides, vocabulary_size, vocab_file):
    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.models.bert_pretrainer import BertPretrainer
    from keras_bert_kit.training.saving import load_model

    if preset is not None:
        model = BertPretrainer(BertBackbone.from_preset(
            preset, **{"vocabulary_size": vocabulary_size, **overrides}))
        source = f"preset {preset!r} with config_overrides"
    elif os.fspath(init).endswith(".keras"):
        model = load_model(init, compile=False)
        if not isinstance(model, BertPretrainer):
            raise UserError(f"{init}: a {type(model).__name__}, not a BertPretrainer")
        source = os.fspath(init)
    else:
        model = BertPretrainer.from_pretrained(init, **overrides)
        source = os.fspath(init)
    if model.backbone.vocabulary_size != vocabulary_size:
        raise UserError(
            f"{vocab_file}: {vocabulary_size} tokens, but the model ({source}) has "
            f"vocabulary_size={model.backbone.vocabulary_size}; use the vocab.txt the model and "
            "data were made with")
    return model


def _check_records(path, vocabulary_size, backbone, vocab_file):
    """Checks the first records of one TFRecord file against the vocabulary and the model.

    Returns:
        The records' `(sequence length, masked positions per sequence)`.
    """
    from keras_bert_kit.data.pretraining_records import read_pretraining_records

    dataset = read_pretraining_records(path, batch_size=256, shuffle=False, validate=False,
                                       drop_remainder=False)
    for x, y, _ in dataset.take(1):
        largest = int(max(np.max(x["token_ids"]), np.max(y["mlm"])))
        if largest >= vocabulary_size:
            raise UserError(
                f"{path}: token id {largest} is out of range for the {vocabulary_size}-token "
                f"vocabulary {vocab_file}; the records were made with another vocabulary")
        length = x["token_ids"].shape[1]
        if length > backbone.max_sequence_length:
            raise UserError(f"{path}: sequences of {length} tokens, but the model has only "
                            f"{backbone.max_sequence_length} positions")
        return length, x["mask_positions"].shape[1]


def _dataset(files, is_text, tokenizer, batch_size, seed, *, training, dynamic_masking,
             max_seq_length, max_predictions_per_seq, masked_lm_prob, whole_word_mask,
             record_sizes=None):
    """Batches of one split: endless and shuffled for training, one ordered pass otherwise.

    `record_sizes`: the records' `(sequence length, masked positions)`, else read from the first
    record.
    """
    import tensorflow as tf

    from keras_bert_kit.data.masking import DynamicMasker
    from keras_bert_kit.data.pretraining_sequences import dynamic_pretraining_dataset
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
        record_length, record_predictions = record_sizes or (None, None)
        dataset = read_pretraining_records(
            files, batch_size, shuffle=training, repeat=training, seed=seed, validate=False,
            masker=masker, drop_remainder=training, max_seq_length=record_length,
            max_predictions_per_seq=record_predictions)
    return dataset
