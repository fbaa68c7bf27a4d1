"""Training settings: four dataclasses every task shares, one per task, each field with its help.

A run is described by

- `ModelConfig`: the starting weights (`init`, or a `preset` for pretraining from scratch), the
  sequence length, a `vocab.txt` for checkpoints without one;
- `DataConfig`: training and dev files, batch size, a cap on the training examples;
- `OptimizerConfig`: peak rate, warm-up, weight decay, layer-wise decay, head rate multiplier,
  AdamW / LAMB / Adam, clipping, gradient accumulation;
- `RunConfig`: output folder, epochs (or optimizer steps), distribution strategy, mixed
  precision, XLA, seed, progress output, resuming, the SIGTERM grace period;
- the task's options: `ClassifyOptions`, `TagOptions`, `SquadOptions` or `PretrainOptions`.

A few fields default to None, meaning "the task's default": `ModelConfig.sequence_length`,
`OptimizerConfig.learning_rate`, `RunConfig.output_dir` and `RunConfig.epochs` take the task's
value (`TaskHooks.defaults`: e.g. SQuAD's sequence length 384, pretraining's learning rate 1e-4,
`runs/<task>`).
Each field's metadata holds its help text and checks, so `kbk`'s flags are generated from these
classes (`keras_bert_kit/cli/arguments.py`) and a `--config` YAML maps onto the same names.
The module imports neither TensorFlow nor Keras, so `kbk --help` stays fast.

Example:
>>> config = TrainingConfig(model=ModelConfig(init="bert-base-uncased/"),
...                         data=DataConfig(train="train.tsv", dev="dev.tsv", batch_size=16))
>>> config.data.batch_size, config.optimizer.warmup_ratio, config.run.strategy
(16, 0.1, 'auto')
>>> DataConfig(batch_size=0)
Traceback (most recent call last):
...
keras_bert_kit.errors.UserError: DataConfig.batch_size=0: expected a positive number
"""

import dataclasses
import typing

from keras_bert_kit.errors import UserError

STRATEGIES = ("auto", "one_device", "mirrored", "multi_worker", "tpu")
PRECISIONS = ("auto", "bf16", "fp16", "none", "mixed_bfloat16", "mixed_float16", "float32", "fp32")
OPTIMIZERS = ("adamw", "lamb", "adam")
SECTIONS = ("model", "data", "optimizer", "run", "options")

CHECKS = {
    "positive": (lambda v: v > 0, "a positive number"),
    "non_negative": (lambda v: v >= 0, "a number >= 0"),
    "fraction": (lambda v: 0 <= v <= 1, "a number from 0 to 1"),
}


def setting(default=None, help="", *, check=None, choices=None, flag=None, parse=None,
            metavar=None):
    """A dataclass field whose metadata drives validation and the generated command-line flag.

    Args:
        default: the value when not given (`None` for "the task's default" or "none").
        help: the flag's help text.
        check: `"positive"`, `"non_negative"` or `"fraction"`, checked when the config is made.
        choices: the allowed values.
        flag: the flag's name when it is not `--` + the field name with dashes.
        parse: turns a command-line / YAML string into the value (default: from the annotation).
        metavar: the flag's value placeholder in `--help`.
    """
    metadata = {"help": help, "check": check, "choices": choices, "flag": flag, "parse": parse,
                "metavar": metavar}
    return dataclasses.field(default=default, metadata=metadata)


def value_type(field):
    """The plain type of a field's values: `int` for `int | None`, `bool` for `bool | str`, ...

    Example:
    >>> [value_type(f).__name__ for f in dataclasses.fields(DataConfig)][:3]
    ['str', 'str', 'int']
    """
    hint = typing.get_type_hints(_OWNERS[field.name])[field.name]
    options = typing.get_args(hint) or (hint,)
    for kind in (bool, int, float, dict, str):
        if kind in options:
            return kind
    return str


class _Checked:
    """Runs each field's `check` / `choices` when the dataclass is made."""

    def __post_init__(self):
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if value is None or isinstance(value, bool):
                continue
            where = f"{type(self).__name__}.{field.name}={value!r}"
            choices = field.metadata.get("choices")
            if choices and value not in choices:
                raise UserError(f"{where}: expected one of {', '.join(map(str, choices))}")
            check = field.metadata.get("check")
            if check:
                test, expected = CHECKS[check]
                if not isinstance(value, int | float) or not test(value):
                    raise UserError(f"{where}: expected {expected}")


@dataclasses.dataclass
class ModelConfig(_Checked):
    """The model a run starts from.

    Example:
    >>> ModelConfig(init="runs/pretrain/backbone", sequence_length=256).sequence_length
    256
    """

    init: str | None = setting(
        help="initial weights: a Hugging Face / Google BERT folder or a .keras model; the "
             "tokenizer comes from its vocab.txt")
    sequence_length: int | None = setting(
        help="tokens per example (tagging / SQuAD: per window)", check="positive")
    vocab_file: str | None = setting(
        flag="--vocab", help="a vocab.txt: for an --init without one (tagging), or the vocabulary "
                             "the pretraining data was made with")
    preset: str | None = setting(
        help="architecture of a new model (a BertConfig preset, e.g. bert_tiny_uncased)")
    config_overrides: dict | None = setting(
        help='backbone arguments over the preset / checkpoint config, as JSON: {"num_layers": 2}',
        metavar="JSON")
    head: str = setting(
        "auto", "auto: the task head of --init when it has one that fits the data, else a new one "
        "(said in the log); new: always a fresh head (e.g. 2 classes on a 4-class checkpoint)",
        choices=("auto", "new"))


@dataclasses.dataclass
class DataConfig(_Checked):
    """What a run trains and scores on.

    Example:
    >>> DataConfig(train="train.tsv", dev="test.tsv", max_train_examples=200).max_train_examples
    200
    """

    train: str | list | None = setting(help="training file")
    dev: str | list | None = setting(help="dev / test file, scored after each epoch")
    batch_size: int = setting(32, "examples per batch (global: summed over replicas)",
                              check="positive")
    max_train_examples: int | None = setting(
        help="use only the first N training examples (quick runs)", check="positive")


@dataclasses.dataclass
class OptimizerConfig(_Checked):
    """The optimizer and its learning-rate schedule (`create_optimizer`).

    Example:
    >>> OptimizerConfig(learning_rate=5e-5, head_learning_rate_multiplier=20).optimizer
    'adamw'
    """

    learning_rate: float | None = setting(
        help="peak learning rate (linear warm-up, then linear decay to 0)", check="positive")
    warmup_ratio: float = setting(0.1, "warm-up fraction of the steps", check="fraction")
    weight_decay: float = setting(0.01, "decoupled weight decay (none on LayerNorm and biases)",
                                  check="non_negative")
    optimizer: str = setting("adamw", "the optimizer", choices=OPTIMIZERS)
    global_clipnorm: float | None = setting(1.0, "clip gradients to this global norm",
                                            check="positive")
    gradient_accumulation_steps: int | None = setting(
        help="batches per optimizer step", check="positive")
    layer_decay: float = setting(1.0, "layer-wise rate decay factor per encoder layer (1 = off)",
                                 check="positive")
    head_learning_rate_multiplier: float = setting(
        1.0, "the new head's rate = this x the learning rate", check="positive")


@dataclasses.dataclass
class RunConfig(_Checked):
    """Where and how a run trains.

    Example:
    >>> RunConfig(output_dir="runs/x", epochs=2, jit_compile=False).mixed_precision
    'auto'
    """

    output_dir: str | None = setting(
        flag="--output", help="run folder (model.keras, metrics.json, history.csv, ...)")
    epochs: int | None = setting(help="passes over the training data", check="positive")
    total_steps: int | None = setting(
        help="optimizer steps of the whole run (default: epochs x one pass over the records)",
        check="positive")
    steps_per_epoch: int | None = setting(
        help="optimizer steps per epoch when total_steps is not given", check="positive")
    save_every_steps: int | None = setting(
        help="steps per backup / log row / evaluation (must divide total_steps; default "
             "min(total_steps, 1000))", check="positive")
    resume: bool = setting(True, "continue a killed run from its backup in the output folder "
                                 "(--no-resume: start over; fine-tuning needs --overwrite too "
                                 "when the folder holds a backup)")
    overwrite: bool = setting(False, "fine-tuning: replace the finished run (metrics.json) in "
                                     "--output; its files stay until the new run writes its own")
    strategy: str = setting("auto", "distribution strategy (see choose_strategy)",
                            choices=STRATEGIES)
    tpu_address: str | None = setting(flag="--tpu", help="TPU name or address for --strategy "
                                                         "tpu or auto ('local' on a TPU VM; "
                                                         "default: $TPU_NAME)")
    mixed_precision: str = setting("auto", "auto (bfloat16 on accelerators), bf16, fp16 or none",
                                   choices=PRECISIONS)
    jit_compile: bool | str = setting(
        "auto", "XLA for the train step (default: the task's choice, see jit_compile_setting)")
    seed: int = setting(0, "initialisation, shuffling and dropout seed")
    grace_period: float = setting(
        25.0, "seconds a run has after SIGTERM to save and exit (status 143) before it exits "
              "without saving; keep it under the platform's grace period (30 s on Kubernetes, "
              "GCE and Slurm)", check="positive")
    verbose: int = setting(1, "Keras progress output: 0 none, 1 bar, 2 a line per epoch",
                           choices=(0, 1, 2))


def bucket_boundaries(value):
    """`--bucket-boundaries`: `auto`, `none` or comma-separated lengths.

    Example:
    >>> bucket_boundaries("32,64,128"), bucket_boundaries("none"), bucket_boundaries("auto")
    ((32, 64, 128), None, 'auto')
    """
    if value is None or isinstance(value, list | tuple):
        return None if value is None else tuple(int(v) for v in value)
    if value in ("auto", "none"):
        return None if value == "none" else "auto"
    try:
        return tuple(int(v) for v in str(value).split(","))
    except ValueError:
        raise UserError(f"bucket boundaries {value!r}: expected auto, none or lengths like "
                        "32,64,128") from None


@dataclasses.dataclass
class ClassifyOptions(_Checked):
    """Sentence / pair classification and regression (`BertClassifier`) from TSV/CSV/JSONL files.

    Example:
    >>> ClassifyOptions(pair_column="b", pooling="mean").problem_type
    'classification'
    """

    text_column: str = setting("text", "column of the text (a name, or a 0-based index)")
    label_column: str = setting("label", "column of the label")
    pair_column: str | None = setting(help="column of the second text, for pair tasks")
    problem_type: str = setting("classification", "the kind of label", flag="--task",
                                choices=("classification", "multilabel", "regression"))
    pooling: str = setting("pooled", "[CLS] pooler (BERT) or mean of tokens "
                                     "(sentence-transformers checkpoints)",
                           choices=("pooled", "mean"))
    window_stride: int | None = setting(
        help="classify long texts over sliding windows with this token stride in predict/export "
             "(default: truncate)", check="positive")
    bucket_boundaries: tuple | str | None = setting(
        "auto", "padded lengths to batch by: auto (quarters of the sequence length), none, or "
                "32,64,128", parse=bucket_boundaries, metavar="LENGTHS")


@dataclasses.dataclass
class TagOptions(_Checked):
    """Token classification (NER) from CoNLL files (`BertTokenClassifier`).

    Example:
    >>> TagOptions(word_split="character").scheme
    'auto'
    """

    word_split: str = setting("whitespace", "words of raw text at prediction time (character: "
                                            "Chinese char-level corpora)",
                              choices=("whitespace", "character"))
    scheme: str = setting("auto", "tagging scheme", choices=("auto", "BIO", "BIOES"))
    label_all_subtokens: bool = setting(False, "label every word piece (default: only the first "
                                               "piece of each word)")
    stride: int | None = setting(help="window stride in word pieces (default half a window)",
                                 check="positive")
    cased: bool = setting(False, "with --vocab: a cased vocabulary")


@dataclasses.dataclass
class SquadOptions(_Checked):
    """Extractive question answering, SQuAD 1.1 / 2.0 (`BertQuestionAnswerer`).

    Example:
    >>> SquadOptions(version="2.0").null_threshold
    0.0
    """

    version: str = setting("auto", "SQuAD version (auto: 2.0 when a question is unanswerable)",
                           choices=("auto", "1.1", "2.0"))
    doc_stride: int = setting(128, "distance between context windows, in tokens",
                              check="positive")
    max_query_length: int = setting(64, "questions are cut to this many tokens", check="positive")
    max_answer_length: int = setting(30, "the longest answer, in tokens", check="positive")
    n_best: int = setting(20, "candidate spans per window and per question", check="positive")
    null_threshold: float = setting(0.0, "v2.0: answer nothing when the null score beats the best "
                                         "span by more than this")


@dataclasses.dataclass
class PretrainOptions(_Checked):
    """Masked-LM + next-sentence pretraining (`BertPretrainer`) on TFRecords or text.

    Example:
    >>> PretrainOptions(dynamic_masking=True).max_predictions_per_seq
    20
    """

    dynamic_masking: bool = setting(False, "re-mask the TFRecords on the fly (new masks on every "
                                           "pass)")
    max_seq_length: int = setting(128, "sequence length of .txt inputs (masked on the fly)",
                                  check="positive")
    max_predictions_per_seq: int = setting(20, "most masked positions per sequence (on the fly)",
                                           check="positive")
    masked_lm_prob: float = setting(0.15, "share of tokens masked (on the fly)", check="fraction")
    whole_word_mask: bool = setting(False, "mask whole words (on the fly)")
    do_lower_case: bool | None = setting(
        help="tokenizer casing written with the backbone (default: from --init's "
             "tokenizer_config.json, else the preset name)")
    eval_steps: int | None = setting(help="evaluate on at most this many batches",
                                     check="positive")


@dataclasses.dataclass
class TrainingConfig:
    """One run's settings: the four shared sections and the task's options.

    Example:
    >>> config = TrainingConfig(run=RunConfig(epochs=1))
    >>> [name for name, _ in config.items()][:3]
    ['init', 'sequence_length', 'vocab_file']
    """

    model: ModelConfig = dataclasses.field(default_factory=ModelConfig)
    data: DataConfig = dataclasses.field(default_factory=DataConfig)
    optimizer: OptimizerConfig = dataclasses.field(default_factory=OptimizerConfig)
    run: RunConfig = dataclasses.field(default_factory=RunConfig)
    options: typing.Any = None

    def sections(self):
        """`{section name: dataclass}` (options only when set)."""
        found = {name: getattr(self, name) for name in SECTIONS}
        return {k: v for k, v in found.items() if v is not None}

    def items(self):
        """`(field name, value)` of every field of every section."""
        return [(f.name, getattr(section, f.name)) for section in self.sections().values()
                for f in dataclasses.fields(section)]

    def replace(self, **values):
        """A copy with `values` (`{field name: value}`) set in whichever section holds each name.

        Example:
        >>> TrainingConfig().replace(batch_size=8, epochs=2).data.batch_size
        8
        """
        updates = {name: {} for name in SECTIONS}
        owners = {f.name: name for name, section in self.sections().items()
                  for f in dataclasses.fields(section)}
        for key, value in values.items():
            if key not in owners:
                raise UserError(f"unknown setting {key!r}")
            updates[owners[key]][key] = value
        return TrainingConfig(**{name: dataclasses.replace(section, **updates[name]) if
                                 updates[name] else section
                                 for name, section in self.sections().items()})


_SHARED = (ModelConfig, DataConfig, OptimizerConfig, RunConfig)
_OPTIONS = (ClassifyOptions, TagOptions, SquadOptions, PretrainOptions)
# Field name -> its dataclass (names are unique across all of them, so YAML keys can be flat).
_OWNERS = {f.name: cls for cls in _SHARED + _OPTIONS for f in dataclasses.fields(cls)}
