"""`finetune_classifier`: classification fine-tuning in one call (the runner's `classify` task).

Its parameters are the `classify` task's settings (`training/config.py`), derived by
`task_function`; `kbk finetune classify` runs the same task from the command line, with the same
settings and defaults.
"""

from keras_bert_kit.training.task_function import task_function


@task_function("classify", positional=("train", "dev", "init", "output_dir"))
def finetune_classifier():
    """Fine-tunes a `BertClassifier` from a checkpoint on a TSV/CSV/JSONL file; saves the best model.

    Writes `output_dir/model.keras` (best on the dev metric), `output_dir/metrics.json` (dev
    metrics, wall time, settings) and `output_dir/history.csv`. The files are read by
    `read_classification_file` (a header row, or 0-based column indices); `init` is a Hugging
    Face or Google checkpoint folder, or a `.keras` backbone or classifier; the tokenizer comes
    from its `vocab.txt`.

    Returns:
        The metrics dict also written to `metrics.json`.

    Example:
    >>> config = finetune_classifier.config("train.tsv", "test.tsv", "all-MiniLM-L6-v2/",
    ...                                     pooling="mean", head_learning_rate_multiplier=20)
    >>> config.run.epochs, config.run.output_dir, config.options.pooling
    (3, 'runs/classify', 'mean')
    >>> result = finetune_classifier("train.tsv", "test.tsv", "all-MiniLM-L6-v2/",
    ...                              "runs/sentiment", epochs=1)  # doctest: +SKIP
    >>> result["dev_metrics"]["accuracy"]  # doctest: +SKIP
    """
