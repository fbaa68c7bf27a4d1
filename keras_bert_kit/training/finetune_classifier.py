"""`finetune_classifier`: classification fine-tuning in one call (the runner's `classify` task).

The keyword arguments become the `ModelConfig` / `DataConfig` / `OptimizerConfig` /
`RunConfig` / `ClassifyOptions` of `run("classify", ...)` (`training/runner.py`), which does the
work; `kbk finetune classify` runs the same task from the command line.
"""

from keras_bert_kit.training.config import (ClassifyOptions, DataConfig, ModelConfig,
                                            OptimizerConfig, RunConfig)


def finetune_classifier(train_file, dev_file, init, output_dir, *, text_column="text",
                        label_column="label", pair_column=None, task="classification",
                        epochs=1, learning_rate=5e-5, batch_size=32, sequence_length=128,
                        warmup_ratio=0.1, weight_decay=0.01, strategy="auto",
                        mixed_precision="auto", jit_compile="auto", max_train_examples=None,
                        bucket_boundaries="auto", pooling="pooled", head_learning_rate_multiplier=1.0,
                        layer_decay=1.0, window_stride=None, seed=0, verbose=1):
    """Fine-tunes a `BertClassifier` from a checkpoint on a TSV/CSV/JSONL file; saves the best model.

    Writes `output_dir/model.keras` (best on the dev metric), `output_dir/metrics.json` (dev
    metrics, wall time, settings) and `output_dir/history.csv`.

    Args:
        train_file, dev_file: data files (see `read_classification_file`).
        init: initial weights — a Hugging Face folder, a Google checkpoint folder, or a `.keras`
            backbone/classifier; the tokenizer comes from its `vocab.txt`.
        output_dir: run folder.
        text_column, label_column, pair_column: columns (names or 0-based indices).
        task: `"classification"`, `"multilabel"` or `"regression"`.
        epochs, learning_rate, batch_size, sequence_length, warmup_ratio, weight_decay: the recipe.
        strategy: see `choose_strategy`.
        mixed_precision: see `set_precision`.
        jit_compile: XLA for the train step (`"auto"`: on, also on CPU where Keras' own
            "auto" leaves it off — `bench/probe_xla_cpu.py` times XLA against graph mode —
            except for bfloat16 on CPU, where graph mode is faster: `jit_compile_setting`).
        max_train_examples: use only the first N training examples (quick runs).
        bucket_boundaries: padded lengths to batch by (`"auto"`: quarters of
            `sequence_length`, rounded to multiples of 8; None: always pad to
            `sequence_length`). Few shapes keep XLA recompilation low; short batches run faster.
        pooling: `"pooled"` ([CLS] pooler) or `"mean"` (see `BertClassifier`).
        head_learning_rate_multiplier: the new classification head learns this many times
            faster than the encoder (1: one rate for all).
        layer_decay: layer-wise rate decay, each encoder layer down gets this factor (1: none).
        window_stride: stored on the model: its `predict` and exports classify long texts over
            sliding windows (see `BertClassifier`); training and the dev metrics use truncation.
        seed: shuffling and initialisation seed.
        verbose: Keras progress bar (1) or none (0).

    Returns:
        The metrics dict also written to `metrics.json`.

    Example:
    >>> result = finetune_classifier("train.tsv", "test.tsv", "all-MiniLM-L6-v2/",
    ...                              "runs/sentiment", epochs=1)  # doctest: +SKIP
    >>> result["dev_metrics"]["accuracy"]  # doctest: +SKIP
    """
    from keras_bert_kit.training.runner import run

    return run(
        "classify", model=ModelConfig(init=init, sequence_length=sequence_length),
        data=DataConfig(train=train_file, dev=dev_file, batch_size=batch_size,
                        max_train_examples=max_train_examples),
        optimizer=OptimizerConfig(learning_rate=learning_rate, warmup_ratio=warmup_ratio,
                                  weight_decay=weight_decay, layer_decay=layer_decay,
                                  head_learning_rate_multiplier=head_learning_rate_multiplier),
        run=RunConfig(output_dir=output_dir, epochs=epochs, strategy=strategy,
                      mixed_precision=mixed_precision, jit_compile=jit_compile, seed=seed,
                      verbose=verbose),
        options=ClassifyOptions(text_column=text_column, label_column=label_column,
                                pair_column=pair_column, problem_type=task, pooling=pooling,
                                window_stride=window_stride,
                                bucket_boundaries=bucket_boundaries))
