"""`finetune_tagger`: token-classification (NER) fine-tuning in one call (the runner's `tag` task).

Its parameters are the `tag` task's settings (`training/config.py`), derived by `task_function`;
`kbk finetune tag` runs the same task from the command line, with the same settings and
defaults.
"""

from keras_bert_kit.training.task_function import task_function


@task_function("tag", positional=("train", "dev", "init", "output_dir"))
def finetune_tagger():
    """Fine-tunes a `BertTokenClassifier` on CoNLL files; keeps the epoch with the best dev entity F1.

    Writes `output_dir/model.keras` (best dev micro F1), `output_dir/metrics.json` (entity
    precision / recall / F1 per type and micro on dev, wall times, settings) and
    `output_dir/history.csv`. The files are read by `read_conll` (`.gz` allowed); sentences
    longer than `sequence_length` are covered by sliding windows.

    Returns:
        The metrics dict also written to `metrics.json`.

    Example:
    >>> finetune_tagger.config("train.conll", "dev.conll", "bert-base-cased/").options.cased
    False
    >>> result = finetune_tagger("train.conll", "dev.conll", "bert-base-cased/",
    ...                          "runs/ner")  # doctest: +SKIP
    >>> result["dev_entity_scores"]["micro"]["f1"]  # doctest: +SKIP
    """
