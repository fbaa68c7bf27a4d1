"""`finetune_tagger`: the token-classification (NER) fine-tuning run behind `kbk finetune tag`.

`add_tagger_arguments(parser)` adds the flags to an `argparse` (sub)parser and
`run_tagger_from_args(args)` runs it, so the command line is
`p = finetune.add_parser("tag"); add_tagger_arguments(p); p.set_defaults(func=run_tagger_from_args)`.
"""

import json
import os
import time

from keras_bert_kit.training.ner_metrics import entity_scores, format_entity_report


def _best_epoch_checkpoint(model, windows, true_tags, path, batch_size):
    """A callback scoring the dev sentences by entity F1 after each epoch; saves the best model.

    Returns:
        `(callback, best)`: `best["scores"]` holds the `entity_scores` of the best epoch.
    """
    import keras

    best = {"f1": -1.0, "scores": None}

    def on_epoch_end(epoch, logs):
        predicted = windows.word_tags(model.window_logits(windows, batch_size),
                                      model.label_vocabulary)
        scores = entity_scores(true_tags, predicted)
        logs.update({f"val_entity_{k}": scores["micro"][k] for k in ("precision", "recall", "f1")})
        if scores["micro"]["f1"] > best["f1"]:
            best.update(f1=scores["micro"]["f1"], scores=scores)
            model.save(path)

    return keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end), best


def finetune_tagger(train_file, dev_file, init, output_dir, *, word_split="whitespace",
                    scheme="auto", label_all_subtokens=False, vocab_file=None, lowercase=True,
                    epochs=3, learning_rate=5e-5, batch_size=32, sequence_length=128, stride=None,
                    warmup_ratio=0.1, weight_decay=0.01, max_train_sentences=None,
                    strategy="auto", mixed_precision="auto", jit_compile="auto", seed=0,
                    verbose=1):
    """Fine-tunes a `BertTokenClassifier` on CoNLL files; keeps the epoch with the best dev entity F1.

    Writes `output_dir/model.keras` (best dev micro F1), `output_dir/metrics.json` (entity
    precision / recall / F1 per type and micro on dev, wall times, settings) and
    `output_dir/history.csv`.

    Args:
        train_file, dev_file: CoNLL files (see `read_conll`; `.gz` allowed).
        init: initial weights — a Hugging Face / Google BERT folder, or a `.keras` backbone or
            model holding one; the tokenizer comes from its `vocab.txt` unless `vocab_file`.
        output_dir: run folder.
        word_split: how raw text is split into words at prediction time, stored with the
            model (`"whitespace"`, or `"character"` for character-level corpora).
        scheme: `"BIO"`, `"BIOES"` or `"auto"`.
        label_all_subtokens: label every piece of a word, not only the first.
        vocab_file: a `vocab.txt` for `init`s without one; `lowercase` goes with it.
        lowercase: casing of the tokenizer built from `vocab_file`.
        epochs, learning_rate, batch_size, warmup_ratio, weight_decay: the recipe.
        sequence_length: window length; longer sentences are covered by sliding windows.
        stride: window stride in pieces (default half a window).
        max_train_sentences: use only the first N training sentences (quick runs).
        strategy: see `choose_strategy`.
        mixed_precision: see `set_precision`.
        jit_compile: XLA for the train step; `"auto"`: see `jit_compile_setting` (Keras'
            default, which is off on CPU; off for bfloat16 on CPU).
        seed: shuffling and initialisation seed.
        verbose: Keras progress output (0, 1 or 2).

    Returns:
        The metrics dict also written to `metrics.json`.

    Example:
    >>> result = finetune_tagger("train.conll", "dev.conll", "bert-base-cased/",
    ...                          "runs/ner")  # doctest: +SKIP
    >>> result["dev_entity_scores"]["micro"]["f1"]  # doctest: +SKIP
    """
    import keras

    from keras_bert_kit.data.conll_data import align_words, make_tagging_dataset, read_conll
    from keras_bert_kit.models.bert_token_classifier import BertTokenClassifier
    from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
    from keras_bert_kit.text.bert_tokenizer import BertTokenizer
    from keras_bert_kit.training.optimization import create_optimizer
    from keras_bert_kit.training.strategy import (choose_strategy, jit_compile_setting,
                                                  set_precision)

    keras.utils.set_random_seed(seed)
    policy = set_precision(mixed_precision)
    train = read_conll(train_file, scheme=scheme)
    if max_train_sentences:
        train = train.head(max_train_sentences)
    dev = read_conll(dev_file, scheme=train.scheme)
    label_vocabulary = train.tag_vocabulary()
    dev.check_tags(label_vocabulary)

    strategy = choose_strategy(strategy)
    with strategy.scope():
        preprocessor = "auto"
        if vocab_file is not None:
            preprocessor = BertPreprocessor(
                BertTokenizer.from_vocabulary(os.fspath(vocab_file), lowercase=lowercase),
                sequence_length=sequence_length)
        tagger = BertTokenClassifier.from_pretrained(
            init, label_vocabulary, sequence_length=sequence_length, preprocessor=preprocessor,
            word_split=word_split)
        if tagger.preprocessor is None:
            raise ValueError(f"{init}: no vocab.txt beside the weights; pass vocab_file=")
        tokenizer = tagger.preprocessor.tokenizer
        train_windows = align_words(tokenizer, train.words, sequence_length, tags=train.tags,
                                    label_vocabulary=label_vocabulary, stride=stride,
                                    label_all_subtokens=label_all_subtokens)
        train_ds = make_tagging_dataset(train_windows, batch_size, shuffle=True, seed=seed)
        steps_per_epoch = int(train_ds.cardinality())
        optimizer = create_optimizer(learning_rate, steps_per_epoch * epochs,
                                     warmup_ratio=warmup_ratio, weight_decay=weight_decay)
        tagger.compile(optimizer=optimizer,
                       jit_compile=jit_compile_setting(jit_compile, policy))

    dev_windows = align_words(tokenizer, dev.words, sequence_length, stride=stride)
    os.makedirs(output_dir, exist_ok=True)
    model_path = os.path.join(output_dir, "model.keras")
    checkpoint, best = _best_epoch_checkpoint(tagger, dev_windows, dev.tags, model_path,
                                              batch_size)
    callbacks = [checkpoint, keras.callbacks.CSVLogger(os.path.join(output_dir, "history.csv")),
                 keras.callbacks.TerminateOnNaN()]
    start = time.perf_counter()
    history = tagger.fit(train_ds, epochs=epochs, callbacks=callbacks, verbose=verbose)
    train_seconds = time.perf_counter() - start
    result = {
        "dev_entity_scores": best["scores"],
        "train_seconds": round(train_seconds, 1),
        "train_sentences": len(train),
        "train_windows": len(train_windows),
        "dev_sentences": len(dev),
        "epochs": epochs,
        "history": {k: [float(x) for x in v] for k, v in history.history.items()},
        "settings": dict(init=str(init), word_split=word_split, scheme=train.scheme,
                         label_all_subtokens=label_all_subtokens, learning_rate=learning_rate,
                         batch_size=batch_size, sequence_length=sequence_length, stride=stride,
                         warmup_ratio=warmup_ratio, dtype_policy=policy,
                         replicas=strategy.num_replicas_in_sync),
        "label_vocabulary": label_vocabulary,
    }
    with open(os.path.join(output_dir, "metrics.json"), "w", encoding="utf-8") as f:
        json.dump(result, f, indent=2)
    return result


def add_tagger_arguments(parser):
    """Adds the `kbk finetune tag` flags to an `argparse` parser (see `run_tagger_from_args`).

    Example:
    >>> import argparse
    >>> parser = argparse.ArgumentParser()
    >>> add_tagger_arguments(parser)
    >>> parser.parse_args(["--train", "t.conll", "--dev", "d.conll", "--init", "m/"]).epochs
    3
    """
    add = parser.add_argument
    add("--train", required=True, help="CoNLL training file (.gz allowed)")
    add("--dev", required=True, help="CoNLL dev file, scored by entity P/R/F1 after each epoch")
    add("--init", required=True, help="HF folder, Google checkpoint folder or .keras")
    add("--output", default="runs/tag")
    add("--vocab", help="vocab.txt when --init has none")
    add("--cased", action="store_true", help="with --vocab: a cased vocabulary")
    add("--word-split", default="whitespace", choices=["whitespace", "character"],
        help="words of raw text at prediction time (character: Chinese char-level corpora)")
    add("--scheme", default="auto", choices=["auto", "BIO", "BIOES"])
    add("--label-all-subtokens", action="store_true",
        help="label every word piece (default: only the first piece of each word)")
    add("--epochs", type=int, default=3)
    add("--learning-rate", type=float, default=5e-5)
    add("--batch-size", type=int, default=32)
    add("--sequence-length", type=int, default=128)
    add("--stride", type=int, help="window stride in word pieces (default half a window)")
    add("--warmup-ratio", type=float, default=0.1)
    add("--max-train-sentences", type=int)
    add("--strategy", default="auto")
    add("--mixed-precision", default="auto")
    add("--seed", type=int, default=0)


def run_tagger_from_args(args):
    """Runs `finetune_tagger` from parsed `add_tagger_arguments` flags; prints the dev report."""
    result = finetune_tagger(
        args.train, args.dev, args.init, args.output, word_split=args.word_split,
        scheme=args.scheme, label_all_subtokens=args.label_all_subtokens, vocab_file=args.vocab,
        lowercase=not args.cased, epochs=args.epochs, learning_rate=args.learning_rate,
        batch_size=args.batch_size, sequence_length=args.sequence_length, stride=args.stride,
        warmup_ratio=args.warmup_ratio, max_train_sentences=args.max_train_sentences,
        strategy=args.strategy, mixed_precision=args.mixed_precision, seed=args.seed)
    print(format_entity_report(result["dev_entity_scores"]))
    print(f"train: {result['train_sentences']} sentences, {result['train_seconds']:.0f} s")
    return result
