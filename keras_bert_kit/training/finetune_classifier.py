"""`finetune_classifier`: the classification fine-tuning run behind `kbk finetune classify` and the recipe."""

import json
import logging
import math
import os
import time

import keras
import numpy as np

logger = logging.getLogger(__name__)


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
        jit_compile: XLA for the train step (`"auto"`: on — it measured 1.24× faster per step
            for MiniLM on a 2-core CPU; Keras' own "auto" leaves XLA off on CPU — except for
            bfloat16 on CPU, where graph mode is faster: `jit_compile_setting`).
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
    """
    from keras_bert_kit.data.text_classification_data import (make_classification_dataset,
                                                              read_classification_file)
    from keras_bert_kit.models.bert_classifier import BertClassifier
    from keras_bert_kit.training.optimization import (create_optimizer,
                                                       layerwise_learning_rate_multipliers)
    from keras_bert_kit.training.strategy import (choose_strategy, jit_compile_setting,
                                                  set_precision)

    keras.utils.set_random_seed(seed)
    policy = set_precision(mixed_precision)
    train = read_classification_file(train_file, text_column, label_column, pair_column, task=task)
    if max_train_examples:
        train.texts = train.texts[:max_train_examples]
        train.pairs = train.pairs[:max_train_examples] if train.pairs else None
        train.labels = train.labels[:max_train_examples]
    dev = read_classification_file(dev_file, text_column, label_column, pair_column, task=task,
                                   label_vocabulary=train.label_vocabulary)

    strategy = choose_strategy(strategy)
    with strategy.scope():
        classifier = BertClassifier.from_pretrained(
            init, num_classes=train.num_classes, sequence_length=sequence_length,
            problem_type=task, label_vocabulary=train.label_vocabulary,
            text_inputs=2 if pair_column is not None else 1, pooling=pooling,
            window_stride=window_stride)
        if classifier.preprocessor is None:
            raise ValueError(f"{init}: no vocab.txt beside the weights, so no tokenizer")
        steps_per_epoch = math.ceil(len(train) / batch_size)
        multipliers = layerwise_learning_rate_multipliers(
            classifier.backbone.num_layers, layer_decay=layer_decay,
            head_multiplier=head_learning_rate_multiplier)
        optimizer = create_optimizer(learning_rate, steps_per_epoch * epochs,
                                     warmup_ratio=warmup_ratio, weight_decay=weight_decay,
                                     learning_rate_multipliers=multipliers or None)
        classifier.compile(optimizer=optimizer,
                           jit_compile=jit_compile_setting(jit_compile, policy, default=True))

    if bucket_boundaries == "auto":
        bucket_boundaries = sorted({max(8, -(-sequence_length * q // 4) // 8 * 8) for q in (1, 2, 3)}
                                   | {sequence_length})
    train_ds = make_classification_dataset(train, batch_size, shuffle=True, seed=seed,
                                           preprocessor=classifier.preprocessor,
                                           bucket_boundaries=bucket_boundaries)
    dev_ds = make_classification_dataset(dev, batch_size, shuffle=False,
                                         preprocessor=classifier.preprocessor)
    monitor = "val_mae" if task == "regression" else "val_accuracy"
    os.makedirs(output_dir, exist_ok=True)
    callbacks = [
        keras.callbacks.ModelCheckpoint(os.path.join(output_dir, "model.keras"), monitor=monitor,
                                        mode="min" if task == "regression" else "max",
                                        save_best_only=True),
        keras.callbacks.CSVLogger(os.path.join(output_dir, "history.csv")),
        keras.callbacks.TerminateOnNaN(),
    ]
    start = time.perf_counter()
    history = classifier.fit(train_ds, validation_data=dev_ds, epochs=epochs, callbacks=callbacks,
                             verbose=verbose)
    train_seconds = time.perf_counter() - start
    best = keras.saving.load_model(os.path.join(output_dir, "model.keras"))
    metrics = best.evaluate(dev_ds, return_dict=True, verbose=0)
    metrics = {k: float(v) for k, v in metrics.items()}
    if task in ("classification", "regression"):
        from keras_bert_kit.training.metrics import (F1Score, MatthewsCorrelation,
                                                     PearsonCorrelation, SpearmanCorrelation)

        outputs = best.predict(make_classification_dataset(dev, batch_size, shuffle=False,
                                                           preprocessor=best.preprocessor),
                               verbose=0)
        if task == "classification":
            average = "binary" if train.num_classes == 2 else "macro"
            extra = {"f1": F1Score(average=average),
                     "matthews_correlation": MatthewsCorrelation(num_classes=train.num_classes)}
        else:
            extra = {"pearson": PearsonCorrelation(),
                     "spearman": SpearmanCorrelation(capacity=max(len(dev), 1))}
        for name, metric in extra.items():
            metric.update_state(dev.labels, outputs)
            metrics[name] = float(metric.result())
    result = {
        "dev_metrics": metrics,
        "train_seconds": round(train_seconds, 1),
        "train_examples": len(train),
        "dev_examples": len(dev),
        "epochs": epochs,
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
        "settings": dict(init=str(init), learning_rate=learning_rate, batch_size=batch_size,
                         sequence_length=sequence_length, warmup_ratio=warmup_ratio, pooling=pooling,
                         weight_decay=weight_decay, layer_decay=layer_decay,
                         head_learning_rate_multiplier=head_learning_rate_multiplier,
                         dtype_policy=policy, replicas=strategy.num_replicas_in_sync),
        "label_vocabulary": train.label_vocabulary,
    }
    with open(os.path.join(output_dir, "metrics.json"), "w") as f:
        json.dump(result, f, indent=2)
    return result


def add_classifier_arguments(parser):
    """Adds the `kbk finetune classify` / `recipes/finetune_classifier.py` flags to `parser`."""
    parser.add_argument("--train", required=True, help="training file (.tsv, .csv, .jsonl)")
    parser.add_argument("--dev", required=True, help="dev/test file, same columns")
    parser.add_argument("--init", required=True, help="HF folder, Google checkpoint folder or .keras")
    parser.add_argument("--output", default="runs/classify")
    parser.add_argument("--text-column", default="text")
    parser.add_argument("--label-column", default="label")
    parser.add_argument("--pair-column")
    parser.add_argument("--task", default="classification",
                        choices=["classification", "multilabel", "regression"])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--learning-rate", type=float, default=5e-5)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--warmup-ratio", type=float, default=0.1)
    parser.add_argument("--weight-decay", type=float, default=0.01)
    parser.add_argument("--strategy", default="auto")
    parser.add_argument("--mixed-precision", default="auto")
    parser.add_argument("--max-train-examples", type=int)
    parser.add_argument("--pooling", default="pooled", choices=["pooled", "mean"],
                        help="[CLS] pooler (BERT) or mean of tokens (sentence-transformers checkpoints)")
    parser.add_argument("--head-learning-rate-multiplier", type=float, default=1.0,
                        help="the new head's rate = this x --learning-rate")
    parser.add_argument("--layer-decay", type=float, default=1.0,
                        help="layer-wise rate decay factor per encoder layer (1 = off)")
    parser.add_argument("--window-stride", type=int,
                        help="classify long texts over sliding windows with this token stride "
                             "in predict/export (default: truncate)")
    parser.add_argument("--seed", type=int, default=0)


def run_classifier_from_args(args):
    """Runs `finetune_classifier` from parsed `add_classifier_arguments` flags; prints the metrics."""
    result = finetune_classifier(
        args.train, args.dev, args.init, args.output, text_column=args.text_column,
        label_column=args.label_column, pair_column=args.pair_column, task=args.task,
        epochs=args.epochs, learning_rate=args.learning_rate, batch_size=args.batch_size,
        sequence_length=args.sequence_length, warmup_ratio=args.warmup_ratio,
        weight_decay=args.weight_decay, strategy=args.strategy, mixed_precision=args.mixed_precision,
        max_train_examples=args.max_train_examples, pooling=args.pooling, seed=args.seed,
        head_learning_rate_multiplier=args.head_learning_rate_multiplier,
        layer_decay=args.layer_decay, window_stride=args.window_stride)
    print(json.dumps({k: result[k] for k in ("dev_metrics", "train_seconds")}, indent=2))
    return result
