"""`finetune_tagger`: token-classification (NER) fine-tuning in one call (the runner's `tag` task).

The keyword arguments become the configs of `run("tag", ...)` (`training/runner.py`), which
does the work; `kbk finetune tag` runs the same task from the command line.
"""

from keras_bert_kit.training.config import (DataConfig, ModelConfig, OptimizerConfig, RunConfig,
                                            TagOptions)


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
    from keras_bert_kit.training.runner import run

    return run(
        "tag", model=ModelConfig(init=init, sequence_length=sequence_length,
                                 vocab_file=vocab_file),
        data=DataConfig(train=train_file, dev=dev_file, batch_size=batch_size,
                        max_train_examples=max_train_sentences),
        optimizer=OptimizerConfig(learning_rate=learning_rate, warmup_ratio=warmup_ratio,
                                  weight_decay=weight_decay),
        run=RunConfig(output_dir=output_dir, epochs=epochs, strategy=strategy,
                      mixed_precision=mixed_precision, jit_compile=jit_compile, seed=seed,
                      verbose=verbose),
        options=TagOptions(word_split=word_split, scheme=scheme,
                           label_all_subtokens=label_all_subtokens, stride=stride,
                           cased=not lowercase))
