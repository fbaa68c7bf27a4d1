"""`pretrain`: preemption-safe BERT pretraining (masked LM + next sentence) in one call.

Its parameters are the `pretrain` task's settings (`training/config.py`), derived by
`task_function`; the run is `training/runner.py` with the hooks of `training/tasks/pretrain.py`,
whose docstring lists the files a run writes. `kbk pretrain` (flags or a `--config` YAML) runs
the same task from the command line, with the same settings and defaults.

Resuming: running the same call again after a kill continues from the last backup (after a
SIGTERM: from the step it stopped at) and ends where the uninterrupted run would, on the same
batches and dropout masks (`training/resume.py`, `training/preemption.py`).
"""

from keras_bert_kit.training.task_function import task_function


@task_function("pretrain", positional=("train", "output_dir"))
def pretrain():
    """Pretrains BERT on masked-LM + next-sentence prediction; resumes a killed run where it stopped.

    `train` (and the held-out `dev`) are TFRecord paths or glob patterns (static masks, or fresh
    ones with `dynamic_masking`), or `.txt` files (one sentence per line, a blank line between
    documents; always masked on the fly, as next-sentence pairs). Exactly one of `preset` (a new
    model, its vocabulary size set to the vocabulary's) and `init` (a Hugging Face / Google BERT
    checkpoint folder, heads initialised if it has none, or a `.keras` `BertPretrainer`).

    Running the same call again after a kill or preemption continues from the last backup (every
    `save_every_steps` optimizer steps, and at the step a SIGTERM stopped the run) and ends where
    the uninterrupted run would, on the same batches. A SIGTERM raises `Preempted` (a
    `SystemExit` with status 143) after that backup. Under `MultiWorkerMirroredStrategy` every
    worker runs this same call; only the chief writes to `output_dir` (shared storage: the other
    workers resume from its backup).

    Returns:
        The dict also written to `metrics.json`: `eval` (held-out loss / `mlm_accuracy` /
        `nsp_accuracy`, when `dev`), `train` (last row of `history.csv`), `optimizer_steps`,
        `train_seconds`, `resumed_from_step`, `weights_sha256` and the settings.

    Raises:
        UserError: the vocabulary does not fit the model or the records (the message names the
            file), bad step counts, or a resumed run with different settings.
        tf.errors.DataLossError: a corrupt or truncated TFRecord file (the message names it).

    Example:
    >>> pretrain.config("data/train/*.tfrecord", "runs/tiny", vocab_file="vocab.txt",
    ...                 preset="bert_tiny_uncased").optimizer.learning_rate
    0.0001
    >>> metrics = pretrain("data/train/*.tfrecord", "runs/tiny", vocab_file="vocab.txt",
    ...                    preset="bert_tiny_uncased", total_steps=2000, save_every_steps=200,
    ...                    dev="data/eval/*.tfrecord")  # doctest: +SKIP
    >>> metrics["eval"]["mlm_accuracy"]  # doctest: +SKIP
    """
