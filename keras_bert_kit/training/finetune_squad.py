"""`finetune_squad`: extractive QA fine-tuning in one call (the runner's `squad` task).

The keyword arguments become the configs of `run("squad", ...)` (`training/runner.py`), which
does the work; `kbk finetune squad` runs the same task from the command line.
"""

from keras_bert_kit.training.config import (DataConfig, ModelConfig, OptimizerConfig, RunConfig,
                                            SquadOptions)


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
    from keras_bert_kit.training.runner import run

    return run(
        "squad", model=ModelConfig(init=init, sequence_length=sequence_length),
        data=DataConfig(train=train_file, dev=dev_file, batch_size=batch_size,
                        max_train_examples=max_train_examples),
        optimizer=OptimizerConfig(learning_rate=learning_rate, warmup_ratio=warmup_ratio,
                                  weight_decay=weight_decay),
        run=RunConfig(output_dir=output_dir, epochs=epochs, strategy=strategy,
                      mixed_precision=mixed_precision, jit_compile=jit_compile, seed=seed,
                      verbose=verbose),
        options=SquadOptions(version=version, doc_stride=doc_stride,
                             max_query_length=max_query_length,
                             max_answer_length=max_answer_length, n_best=n_best,
                             null_threshold=null_threshold))
