"""Chinese NER from scratch: vocabulary → small BERT pretrained by MLM → `BertTokenClassifier`.

Data: `recipes/data/peoples_daily/` (People's Daily 1998, character-level BIO over PER / LOC /
ORG; see its README). Stages, each skipped when its output exists:

1. `vocab`: a WordPiece vocabulary learned from `train_raw.txt.gz` (`build_vocabulary`).
2. `pretrain`: a small BERT trained by masked-language modelling on `train_raw.txt.gz` with
   dynamic masking; written as a Hugging Face folder with its `vocab.txt`.
3. `finetune`: `finetune_tagger` on `train.conll.gz`, entity P/R/F1 per type on `dev.conll.gz`.

Usage:
    python recipes/finetune_ner.py --output runs/ner_peoples_daily
    python recipes/finetune_ner.py --output runs/ner_peoples_daily --stages finetune --epochs 3
"""

import argparse
import gzip
import json
import os
import pathlib
import shutil
import time

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


def pretrain(output, *, steps, batch_size, sequence_length, num_layers, hidden_dim, learning_rate,
             seed):
    """MLM-pretrains a small BERT on `train_raw.txt.gz`; writes `output/pretrained/` (HF folder)."""
    import keras
    import tensorflow as tf

    from keras_bert_kit.data.masking import dynamic_pretraining_dataset
    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.models.bert_pretrainer import BertPretrainer
    from keras_bert_kit.text.bert_tokenizer import BertTokenizer
    from keras_bert_kit.training.optimization import create_optimizer

    keras.utils.set_random_seed(seed)
    tokenizer = BertTokenizer.from_vocabulary(str(output / "vocab.txt"), lowercase=True)
    lines = tf.data.TextLineDataset([str(DATA / "train_raw.txt.gz")], compression_type="GZIP")
    dataset = dynamic_pretraining_dataset(
        lines.repeat(), tokenizer, batch_size=batch_size, max_seq_length=sequence_length,
        next_sentence=False, seed=seed).take(steps)
    backbone = BertBackbone(
        vocabulary_size=tokenizer.vocabulary_size(), num_layers=num_layers,
        num_heads=max(2, hidden_dim // 64), hidden_dim=hidden_dim, intermediate_dim=4 * hidden_dim,
        max_sequence_length=512)
    pretrainer = BertPretrainer(backbone)
    pretrainer.compile(optimizer=create_optimizer(learning_rate, steps, warmup_ratio=0.05))
    start = time.perf_counter()
    history = pretrainer.fit(dataset, verbose=2)
    seconds = time.perf_counter() - start
    folder = output / "pretrained"
    pretrainer.save_pretrained(str(folder))
    shutil.copy(output / "vocab.txt", folder / "vocab.txt")
    (folder / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": True}))
    summary = {"steps": steps, "batch_size": batch_size, "sequence_length": sequence_length,
               "num_layers": num_layers, "hidden_dim": hidden_dim, "learning_rate": learning_rate,
               "seconds": round(seconds, 1),
               "final": {k: float(v[-1]) for k, v in history.history.items()}}
    (output / "pretrain.json").write_text(json.dumps(summary, indent=2))
    print(f"[pretrain] {steps} steps in {seconds:.0f} s: {summary['final']} -> {folder}")


def finetune(output, args):
    """Fine-tunes the tagger on train.conll.gz and prints entity scores on dev.conll.gz."""
    from keras_bert_kit.training.finetune_tagger import finetune_tagger
    from keras_bert_kit.training.ner_metrics import format_entity_report

    result = finetune_tagger(
        DATA / "train.conll.gz", DATA / "dev.conll.gz", output / "pretrained", output / "tagger",
        word_split="character", epochs=args.epochs, learning_rate=args.finetune_learning_rate,
        batch_size=args.batch_size, sequence_length=args.sequence_length,
        max_train_sentences=args.train_sentences, seed=args.seed, verbose=2)
    print(f"[finetune] {result['train_sentences']} sentences, {result['epochs']} epochs in "
          f"{result['train_seconds']:.0f} s; dev ({result['dev_sentences']} sentences):")
    print(format_entity_report(result["dev_entity_scores"]))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="runs/ner_peoples_daily")
    parser.add_argument("--stages", default=",".join(STAGES),
                        help=f"comma-separated subset of {STAGES}")
    parser.add_argument("--vocab-size", type=int, default=8000)
    parser.add_argument("--pretrain-steps", type=int, default=1000)
    parser.add_argument("--pretrain-learning-rate", type=float, default=1e-3)
    parser.add_argument("--num-layers", type=int, default=2)
    parser.add_argument("--hidden-dim", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--finetune-learning-rate", type=float, default=1e-4)
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
    if "pretrain" in stages and not (output / "pretrained").exists():
        pretrain(output, steps=args.pretrain_steps, batch_size=args.batch_size,
                 sequence_length=args.sequence_length, num_layers=args.num_layers,
                 hidden_dim=args.hidden_dim, learning_rate=args.pretrain_learning_rate,
                 seed=args.seed)
    if "finetune" in stages:
        finetune(output, args)


if __name__ == "__main__":
    main()
