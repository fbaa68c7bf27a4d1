"""`pretrain`: preemption-safe BERT pretraining (masked LM + next sentence) in one call.

The keyword arguments become the configs of `run("pretrain", ...)` (`training/runner.py` with
the hooks of `training/tasks/pretrain.py`, whose docstring lists the files a run writes);
`kbk pretrain` (flags or a `--config` YAML) runs the same task from the command line.

Resuming: running the same call again after a kill continues from the last backup (after a
SIGTERM: from the step it stopped at) and ends where the uninterrupted run would, on the same
batches and dropout masks (`training/resume.py`, `training/preemption.py`).
"""

from keras_bert_kit.training.config import (DataConfig, ModelConfig, OptimizerConfig,
                                            PretrainOptions, RunConfig)
from keras_bert_kit.training.resume import (BACKUP_DIR, RUN_SETTINGS_FILE,  # noqa: F401
                                            restored_epoch)


def pretrain(train_files, output_dir, *, vocab_file, preset=None, init=None, config_overrides=None,
             eval_files=None, batch_size=32, epochs=1, steps_per_epoch=None, total_steps=None,
             save_every_steps=None, learning_rate=1e-4, warmup_ratio=0.1, optimizer="adamw",
             weight_decay=0.01, global_clipnorm=1.0, gradient_accumulation_steps=None,
             strategy="auto", tpu_address=None, mixed_precision="auto", jit_compile="auto", seed=0,
             dynamic_masking=False, max_seq_length=128, max_predictions_per_seq=20,
             masked_lm_prob=0.15, whole_word_mask=False, do_lower_case=None, eval_steps=None,
             verbose=1):
    """Pretrains BERT on masked-LM + next-sentence prediction; resumes a killed run where it stopped.

    Running the same call again after a kill or preemption continues from the last backup (every
    `save_every_steps` optimizer steps, and at the step a SIGTERM stopped the run) and ends where
    the uninterrupted run would, on the same batches. A SIGTERM raises `Preempted` (a
    `SystemExit` with status 143) after that backup. Under `MultiWorkerMirroredStrategy` every
    worker runs this same call; only the chief writes to `output_dir` (shared storage: the other
    workers resume from its backup).

    Args:
        train_files: TFRecord paths or glob patterns (static masks, or fresh ones with
            `dynamic_masking`), or `.txt` files (one sentence per line, blank line between
            documents; always masked on the fly, as next-sentence pairs).
        output_dir: the run folder (see `training/tasks/pretrain.py` for its content).
        vocab_file: the WordPiece `vocab.txt` the data was made with.
        preset: architecture of a new model (`BertConfig` preset, e.g. `"bert_tiny_uncased"`);
            its vocabulary size is set to the vocabulary's.
        init: continue from weights instead: a Hugging Face / Google BERT checkpoint folder
            (heads initialised if it has none, MLM output tied to the embeddings) or a `.keras`
            `BertPretrainer`. Exactly one of `preset` and `init`.
        config_overrides: dict of backbone arguments overriding the preset / checkpoint config
            (e.g. `{"num_layers": 1, "dropout": 0.0}`).
        eval_files: held-out files (same kinds as `train_files`), evaluated after every virtual
            epoch (`val_*` in `history.csv`) and at the end (`metrics.json`).
        batch_size: global batch size (summed over replicas).
        epochs, steps_per_epoch: used only when `total_steps` is None: `total_steps = epochs *
            steps_per_epoch`, `steps_per_epoch` defaulting to one pass over the TFRecords.
        total_steps: optimizer steps of the whole run.
        save_every_steps: optimizer steps per virtual epoch (backup, checkpoint, log row, eval);
            must divide `total_steps`. Default: `min(total_steps, 1000)`.
        learning_rate, warmup_ratio, optimizer, weight_decay, global_clipnorm: see
            `create_optimizer` (linear warm-up, then linear decay to 0 at `total_steps`).
        gradient_accumulation_steps: batches per optimizer step (then each step sees
            `batch_size * gradient_accumulation_steps` examples).
        strategy: see `choose_strategy`.
        tpu_address: the TPU for `strategy="tpu"` (or `"auto"`); default: `$TPU_NAME`.
        mixed_precision: see `set_precision`.
        jit_compile: XLA for the train step; `"auto"`: see `jit_compile_setting` (Keras'
            default, which is off on CPU; off for bfloat16 on CPU).
        seed: initialisation, shuffling, dropout and dynamic-masking seed.
        dynamic_masking: re-mask TFRecords on the fly (new masks on every pass over the data).
        max_seq_length, max_predictions_per_seq, masked_lm_prob, whole_word_mask: masking of
            `.txt` inputs and of `dynamic_masking` (records keep their sequence length).
        do_lower_case: tokenizer casing written to `backbone/tokenizer_config.json` (and used for
            `.txt` inputs); None: from `init`'s `tokenizer_config.json`, else from the preset name
            (`*_cased` = False), else True.
        eval_steps: evaluate on at most this many batches (None: all of `eval_files`).
        verbose: Keras progress output (0, 1 or 2).

    Returns:
        The dict also written to `metrics.json`: `eval` (held-out loss / `mlm_accuracy` /
        `nsp_accuracy`, when `eval_files`), `train` (last row of `history.csv`),
        `optimizer_steps`, `train_seconds`, `resumed_from_step`, `weights_sha256` and the settings.

    Raises:
        UserError: the vocabulary does not fit the model or the records (the message names the
            file), bad step counts, or a resumed run with different settings.
        tf.errors.DataLossError: a corrupt or truncated TFRecord file (the message names it).

    Example:
    >>> metrics = pretrain("data/train/*.tfrecord", "runs/tiny", vocab_file="vocab.txt",
    ...                    preset="bert_tiny_uncased", total_steps=2000, save_every_steps=200,
    ...                    eval_files="data/eval/*.tfrecord")  # doctest: +SKIP
    >>> metrics["eval"]["mlm_accuracy"]  # doctest: +SKIP
    """
    from keras_bert_kit.training.runner import run

    return run(
        "pretrain", model=ModelConfig(init=init, vocab_file=vocab_file, preset=preset,
                                      config_overrides=config_overrides),
        data=DataConfig(train=train_files, dev=eval_files, batch_size=batch_size),
        optimizer=OptimizerConfig(learning_rate=learning_rate, warmup_ratio=warmup_ratio,
                                  optimizer=optimizer, weight_decay=weight_decay,
                                  global_clipnorm=global_clipnorm,
                                  gradient_accumulation_steps=gradient_accumulation_steps),
        run=RunConfig(output_dir=output_dir, epochs=epochs, steps_per_epoch=steps_per_epoch,
                      total_steps=total_steps, save_every_steps=save_every_steps,
                      strategy=strategy, tpu_address=tpu_address,
                      mixed_precision=mixed_precision,
                      jit_compile=jit_compile, seed=seed, verbose=verbose),
        options=PretrainOptions(dynamic_masking=dynamic_masking, max_seq_length=max_seq_length,
                                max_predictions_per_seq=max_predictions_per_seq,
                                masked_lm_prob=masked_lm_prob, whole_word_mask=whole_word_mask,
                                do_lower_case=do_lower_case, eval_steps=eval_steps))
