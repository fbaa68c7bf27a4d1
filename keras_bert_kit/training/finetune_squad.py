"""`finetune_squad`: extractive QA fine-tuning in one call (the runner's `squad` task).

Its parameters are the `squad` task's settings (`training/config.py`), derived by
`task_function`; `kbk finetune squad` runs the same task from the command line, with the same
settings and defaults.
"""

from keras_bert_kit.training.task_function import task_function


@task_function("squad", positional=("train", "dev", "init", "output_dir"))
def finetune_squad():
    """Fine-tunes a `BertQuestionAnswerer` on SQuAD files; keeps the epoch with the best dev F1.

    Writes `output_dir/model.keras` (best dev F1), `output_dir/metrics.json` (dev EM / F1 with
    the official scripts' rules, wall times, settings), `output_dir/predictions.json` (question
    id → answer text, the official scripts' input) and `output_dir/history.csv`. The files are
    SQuAD v1.1 / v2.0 JSON (`read_squad`); `init` is a Hugging Face / Google BERT folder (with
    `vocab.txt`), or a `.keras` backbone or model holding one.

    Returns:
        The metrics dict also written to `metrics.json`.

    Example:
    >>> config = finetune_squad.config("train-v1.1.json", "dev-v1.1.json", "bert-base-uncased/")
    >>> config.model.sequence_length, config.run.epochs, config.options.doc_stride
    (384, 2, 128)
    >>> result = finetune_squad("train-v1.1.json", "dev-v1.1.json", "bert-base-uncased/",
    ...                         "runs/squad")  # doctest: +SKIP
    >>> result["dev_scores"]["f1"]  # doctest: +SKIP
    """
