"""`finetune_squad`: the extractive question-answering fine-tuning run behind `kbk finetune squad`.

`add_squad_arguments(parser)` adds the flags to an `argparse` (sub)parser and
`run_squad_from_args(args)` runs it, so the command line is
`p = finetune.add_parser("squad"); add_squad_arguments(p); p.set_defaults(func=run_squad_from_args)`.
"""

import json
import os
import time

from keras_bert_kit.training.squad_metrics import squad_scores


def _best_epoch_checkpoint(model, examples, path, version, n_best, null_threshold, batch_size):
    """A callback answering the dev questions after each epoch; saves the model with the best F1.

    Returns:
        `(callback, best)`: `best["scores"]` / `best["answers"]` are those of the best epoch.
    """
    import keras

    best = {"f1": -1.0, "scores": None, "answers": None}

    def on_epoch_end(epoch, logs):
        answers = model.predict_answers(examples, n_best=n_best, null_threshold=null_threshold,
                                        batch_size=batch_size)
        scores = squad_scores(examples, {k: a["text"] for k, a in answers.items()}, version)
        logs.update({f"val_{k}": float(v) for k, v in scores.items() if "total" not in k})
        if scores["f1"] > best["f1"]:
            best.update(f1=scores["f1"], scores=scores, answers=answers)
            model.save(path)

    return keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end), best


def finetune_squad(train_file, dev_file, init, output_dir, *, version="auto", sequence_length=384,
                   doc_stride=128, max_query_length=64, max_answer_length=30, n_best=20,
                   null_threshold=0.0, epochs=2, learning_rate=5e-5, batch_size=32,
                   warmup_ratio=0.1, weight_decay=0.01, max_train_examples=None,
                   strategy="auto", mixed_precision="auto", jit_compile="auto", seed=0,
                   verbose=1):
    """Fine-tunes a `BertQuestionAnswerer` on SQuAD files; keeps the epoch with the best dev F1.

    Writes `output_dir/model.keras` (best dev F1), `output_dir/metrics.json` (dev EM / F1 with
    the official scripts' rules, wall times, settings), `output_dir/predictions.json` (question
    id → answer text, the official scripts' input) and `output_dir/history.csv`.

    Args:
        train_file, dev_file: SQuAD v1.1 / v2.0 JSON files (see `read_squad`).
        init: initial weights — a Hugging Face / Google BERT folder (with `vocab.txt`), or a
            `.keras` backbone or model holding one.
        output_dir: run folder.
        version: `"1.1"`, `"2.0"` or `"auto"` (2.0 when the training file has unanswerable
            questions).
        sequence_length: window length.
        doc_stride: distance between context windows, in tokens.
        max_query_length: questions are cut to this many tokens.
        max_answer_length: the longest answer, in tokens.
        n_best: candidate spans per window and per question.
        null_threshold: v2.0: answer `""` when the null score beats the best span by more than
            this (ignored for v1.1).
        epochs, learning_rate, batch_size, warmup_ratio, weight_decay: the recipe.
        max_train_examples: use only the first N training questions (quick runs).
        strategy: see `choose_strategy`.
        mixed_precision: see `set_precision`.
        jit_compile: XLA for the train step; `"auto"`: see `jit_compile_setting` (Keras'
            default, which is off on CPU; off for bfloat16 on CPU).
        seed: shuffling and initialisation seed.
        verbose: Keras progress output (0, 1 or 2).

    Returns:
        The metrics dict also written to `metrics.json`.

    Example:
    >>> result = finetune_squad("train-v1.1.json", "dev-v1.1.json", "bert-base-uncased/",
    ...                         "runs/squad")  # doctest: +SKIP
    >>> result["dev_scores"]["f1"]  # doctest: +SKIP
    """
    import keras

    from keras_bert_kit.data.squad_data import make_squad_dataset, read_squad
    from keras_bert_kit.models.bert_question_answerer import BertQuestionAnswerer
    from keras_bert_kit.training.optimization import create_optimizer
    from keras_bert_kit.training.strategy import (choose_strategy, jit_compile_setting,
                                                  set_precision)

    keras.utils.set_random_seed(seed)
    policy = set_precision(mixed_precision)
    train = read_squad(train_file)
    if max_train_examples:
        train = train[:max_train_examples]
    dev = read_squad(dev_file)
    if version == "auto":
        version = "2.0" if any(e.is_impossible for e in train + dev) else "1.1"

    strategy = choose_strategy(strategy)
    with strategy.scope():
        qa = BertQuestionAnswerer.from_pretrained(
            init, sequence_length=sequence_length, max_query_length=max_query_length,
            doc_stride=doc_stride, max_answer_length=max_answer_length)
        if qa.preprocessor is None:
            raise ValueError(f"{init}: no vocab.txt beside the weights, so no tokenizer")
        features = qa.features(train, training=True)
        train_ds = make_squad_dataset(features, batch_size, shuffle=True, seed=seed)
        steps_per_epoch = int(train_ds.cardinality())
        optimizer = create_optimizer(learning_rate, steps_per_epoch * epochs,
                                     warmup_ratio=warmup_ratio, weight_decay=weight_decay)
        qa.compile(optimizer=optimizer, jit_compile=jit_compile_setting(jit_compile, policy))

    os.makedirs(output_dir, exist_ok=True)
    checkpoint, best = _best_epoch_checkpoint(
        qa, dev, os.path.join(output_dir, "model.keras"), version, n_best,
        null_threshold if version == "2.0" else None, batch_size)
    callbacks = [checkpoint, keras.callbacks.CSVLogger(os.path.join(output_dir, "history.csv")),
                 keras.callbacks.TerminateOnNaN()]
    start = time.perf_counter()
    history = qa.fit(train_ds, epochs=epochs, callbacks=callbacks, verbose=verbose)
    train_seconds = time.perf_counter() - start
    with open(os.path.join(output_dir, "predictions.json"), "w", encoding="utf-8") as f:
        json.dump({k: a["text"] for k, a in best["answers"].items()}, f, indent=1,
                  ensure_ascii=False)
    result = {
        "dev_scores": best["scores"],
        "version": version,
        "train_seconds": round(train_seconds, 1),
        "train_examples": len(train),
        "train_windows": len(features),
        "dev_examples": len(dev),
        "dev_windows": len(qa.features(dev)),
        "epochs": epochs,
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
        "settings": dict(init=str(init), sequence_length=sequence_length, doc_stride=doc_stride,
                         max_query_length=max_query_length, max_answer_length=max_answer_length,
                         n_best=n_best, null_threshold=null_threshold,
                         learning_rate=learning_rate, batch_size=batch_size,
                         warmup_ratio=warmup_ratio, dtype_policy=policy,
                         replicas=strategy.num_replicas_in_sync),
    }
    with open(os.path.join(output_dir, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    return result


def add_squad_arguments(parser):
    """Adds the `kbk finetune squad` flags to an `argparse` parser (see `run_squad_from_args`).

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_squad_arguments(parser)
    >>> parser.parse_args(["--train", "t.json", "--dev", "d.json", "--init", "m/"]).doc_stride
    128
    """
    add = parser.add_argument
    add("--train", required=True, help="SQuAD v1.1 / v2.0 training JSON")
    add("--dev", required=True, help="SQuAD JSON scored by EM / F1 after each epoch")
    add("--init", required=True, help="HF folder, Google checkpoint folder or .keras")
    add("--output", default="runs/squad")
    add("--version", default="auto", choices=["auto", "1.1", "2.0"])
    add("--sequence-length", type=int, default=384)
    add("--doc-stride", type=int, default=128)
    add("--max-query-length", type=int, default=64)
    add("--max-answer-length", type=int, default=30)
    add("--n-best", type=int, default=20)
    add("--null-threshold", type=float, default=0.0,
        help="v2.0: answer nothing when the null score beats the best span by more than this")
    add("--epochs", type=int, default=2)
    add("--learning-rate", type=float, default=5e-5)
    add("--batch-size", type=int, default=32)
    add("--warmup-ratio", type=float, default=0.1)
    add("--max-train-examples", type=int)
    add("--strategy", default="auto")
    add("--mixed-precision", default="auto")
    add("--seed", type=int, default=0)


def run_squad_from_args(args):
    """Runs `finetune_squad` from parsed `add_squad_arguments` flags; prints the dev scores."""
    result = finetune_squad(
        args.train, args.dev, args.init, args.output, version=args.version,
        sequence_length=args.sequence_length, doc_stride=args.doc_stride,
        max_query_length=args.max_query_length, max_answer_length=args.max_answer_length,
        n_best=args.n_best, null_threshold=args.null_threshold, epochs=args.epochs,
        learning_rate=args.learning_rate, batch_size=args.batch_size,
        warmup_ratio=args.warmup_ratio, max_train_examples=args.max_train_examples,
        strategy=args.strategy, mixed_precision=args.mixed_precision, seed=args.seed)
    print(json.dumps({"dev_scores": result["dev_scores"], "train_seconds": result["train_seconds"]},
                     indent=2))
    return result
