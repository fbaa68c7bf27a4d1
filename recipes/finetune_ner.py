"""Chinese NER from scratch: vocabulary → small BERT pretrained by MLM → `BertTokenClassifier`.

Data: `recipes/data/peoples_daily/` (People's Daily 1998, character-level BIO over PER / LOC /
ORG; see its README). Stages (`vocab` and `pretrain` are skipped when their output exists):

1. `vocab`: a WordPiece vocabulary learned from `train_raw.txt.gz` (`build_vocabulary`).
2. `pretrain`: a small BERT pretrained on `train_raw.txt.gz` (masked LM + next sentence, fresh
   masks on the fly) by the runner's `pretrain` task (`keras_bert_kit.training.run`); its
   `backbone/` is a Hugging Face folder with the `vocab.txt`.
3. `finetune`: the `tag` task on `train.conll.gz`, entity P/R/F1 per type on `dev.conll.gz`.

Usage:
    python recipes/finetune_ner.py --output runs/ner_peoples_daily
    python recipes/finetune_ner.py --output runs/ner_peoples_daily --stages finetune --epochs 8
"""

import argparse
import gzip
import os
import pathlib
import shutil

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

DATA = pathlib.Path(__file__).resolve().parent / "data" / "peoples_daily"
STAGES = ("vocab", "pretrain", "finetune")


def build_vocab(output, vocab_size):
    """Learns `output/vocab.txt` from the raw training sentences."""
    from keras_bert_kit.text.vocabulary import build_vocabulary

    with gzip.open(DATA / "train_raw.txt.gz", "rt", encoding="utf-8") as f:
        lines = [line.rstrip("\n") for line in f]
    vocabulary = build_vocabulary(lines, vocab_size=vocab_size, lowercase=True,
                                  max_unique_chars=vocab_size, output=str(output / "vocab.txt"))
    print(f"[vocab] {len(vocabulary)} tokens from {len(lines)} sentences -> {output / 'vocab.txt'}")


def pretrain(output, *, steps, batch_size, sequence_length, preset, learning_rate, seed):
    """MLM + NSP pretraining of a small BERT on the raw sentences (the runner's `pretrain` task).

    The dev sentences (as raw text) are the held-out set. Writes `output/pretrain/`, whose
    `backbone/` is a Hugging Face folder with the `vocab.txt`.
    """
    from keras_bert_kit.data.conll_data import read_conll
    from keras_bert_kit.training import (DataConfig, ModelConfig, OptimizerConfig, PretrainOptions,
                                         RunConfig, run)

    corpus, held_out = output / "train_raw.txt", output / "dev_raw.txt"
    with gzip.open(DATA / "train_raw.txt.gz", "rb") as source, open(corpus, "wb") as target:
        shutil.copyfileobj(source, target)
    dev = read_conll(DATA / "dev.conll.gz")
    held_out.write_text("".join("".join(words) + "\n" for words in dev.words), encoding="utf-8")
    result = run(
        "pretrain", model=ModelConfig(preset=preset, vocab_file=str(output / "vocab.txt")),
        data=DataConfig(train=[str(corpus)], dev=[str(held_out)], batch_size=batch_size),
        optimizer=OptimizerConfig(learning_rate=learning_rate, warmup_ratio=0.05),
        run=RunConfig(output_dir=str(output / "pretrain"), total_steps=steps,
                      save_every_steps=steps // 4 if steps % 4 == 0 else steps, seed=seed,
                      verbose=2),
        options=PretrainOptions(max_seq_length=sequence_length, do_lower_case=True,
                                eval_steps=20))
    print(f"[pretrain] {result['optimizer_steps']} steps in {result['train_seconds']:.0f} s; "
          f"held-out {result['eval']} -> {output / 'pretrain' / 'backbone'}")


def finetune(output, args):
    """Fine-tunes the tagger on train.conll.gz and prints entity scores on dev.conll.gz."""
    from keras_bert_kit.training import (DataConfig, ModelConfig, OptimizerConfig, RunConfig,
                                         TagOptions, run)
    from keras_bert_kit.training.ner_metrics import format_entity_report

    result = run(
        "tag", model=ModelConfig(init=output / "pretrain" / "backbone",
                                 sequence_length=args.sequence_length),
        data=DataConfig(train=DATA / "train.conll.gz", dev=DATA / "dev.conll.gz",
                        batch_size=args.batch_size, max_train_examples=args.train_sentences),
        optimizer=OptimizerConfig(learning_rate=args.finetune_learning_rate),
        run=RunConfig(output_dir=output / "tagger", epochs=args.epochs, seed=args.seed,
                      verbose=2, overwrite=True),  # the stage reruns; a killed one resumes
        options=TagOptions(word_split="character"))
    print(f"[finetune] {result['train_sentences']} sentences, {result['epochs']} epochs in "
          f"{result['train_seconds']:.0f} s; dev ({result['dev_sentences']} sentences):")
    print(format_entity_report(result["dev_entity_scores"]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="runs/ner_peoples_daily")
    parser.add_argument("--stages", default=",".join(STAGES),
                        help=f"comma-separated subset of {STAGES}")
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--pretrain-steps", type=int, default=800)
    parser.add_argument("--pretrain-learning-rate", type=float, default=1e-3)
    parser.add_argument("--preset", default="bert_tiny_uncased",
                        help="architecture of the pretrained model (2 layers, width 128)")
    parser.add_argument("--epochs", type=int, default=6)
    parser.add_argument("--finetune-learning-rate", type=float, default=1e-3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--sequence-length", type=int, default=128)
    parser.add_argument("--train-sentences", type=int, help="use the first N training sentences")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    stages = args.stages.split(",")
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        parser.error(f"unknown stages {unknown}; choose from {STAGES}")
    output = pathlib.Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    if "vocab" in stages and not (output / "vocab.txt").exists():
        build_vocab(output, args.vocab_size)
    if "pretrain" in stages and not (output / "pretrain" / "backbone").exists():
        pretrain(output, steps=args.pretrain_steps, batch_size=args.batch_size,
                 sequence_length=args.sequence_length, preset=args.preset,
                 learning_rate=args.pretrain_learning_rate, seed=args.seed)
    if "finetune" in stages:
        finetune(output, args)


if __name__ == "__main__":
    main()
