"""`kbk demo`: the main job — MiniLM → sentiment classifier → TF Serving export → predictions."""

import argparse
import os
import pathlib
import time

from keras_bert_kit.cli.arguments import number
from keras_bert_kit.cli.common import add_command, minilm_path
from keras_bert_kit.errors import UserError

REPO_DATA = pathlib.Path(__file__).resolve().parents[2] / "recipes" / "data"
EXAMPLES = ["A moving, funny and wonderfully acted film.",
            "Two hours of my life I will never get back.",
            "The plot is thin, but the performances are terrific.",
            "Tedious and predictable from start to finish."]


def _finetune(data, args):
    """Step 1: the README's classification recipe through the runner."""
    from keras_bert_kit.training.config import (ClassifyOptions, DataConfig, ModelConfig,
                                                OptimizerConfig, RunConfig)
    from keras_bert_kit.training.runner import run

    return run("classify", model=ModelConfig(init=minilm_path(), sequence_length=64),
               data=DataConfig(train=data / "train.tsv", dev=data / "test.tsv", batch_size=32,
                               max_train_examples=args.train_examples),
               optimizer=OptimizerConfig(learning_rate=5e-5, weight_decay=0.0,
                                         head_learning_rate_multiplier=20.0),
               run=RunConfig(output_dir=args.output, epochs=1, verbose=1,
                             overwrite=args.overwrite),
               options=ClassifyOptions(pooling="mean", window_stride=32))


def run_demo(args):
    """Fine-tunes, exports with serving checks, and predicts from the export."""
    from keras_bert_kit.export.predict import ExportedModel
    from keras_bert_kit.export.saved_model import export_saved_model
    from keras_bert_kit.training.saving import load_model

    data = pathlib.Path(args.data)
    if not (data / "train.tsv").exists():
        raise UserError(f"{data}: no train.tsv (run the demo from a clone of the repository, or "
                        "pass --data)")
    start = time.perf_counter()
    print("[1/3] Fine-tuning all-MiniLM-L6-v2 (mean pooling, head rate x20) on "
          f"{args.train_examples or 'all'} movie-review sentences from {data}/train.tsv "
          "(1 epoch, batch 32, length 64) ...", flush=True)
    result = _finetune(data, args)
    metrics = result["dev_metrics"]
    print(f"      held-out accuracy {metrics['accuracy']:.4f}, F1 {metrics['f1']:.4f} on "
          f"{result['dev_examples']} test sentences; training took {result['train_seconds']:.0f} s")

    classifier = load_model(os.path.join(args.output, "model.keras"))
    classifier.label_vocabulary = ["negative", "positive"]
    print(f"[2/3] Exporting to {args.export} with serving checks ...", flush=True)
    report = export_saved_model(classifier, args.export, overwrite=args.overwrite)
    print("      " + report.summary().replace("\n", "\n      "))

    print("[3/3] Predictions from the exported SavedModel (raw strings in):")
    for row in ExportedModel(args.export).rows(EXAMPLES):
        print(f"      {row['label']:>8}  p={max(row['probabilities']):.3f}  {row['text']}")
    print(f"Done in {time.perf_counter() - start:.0f} s. Try: kbk predict --model {args.export} "
          "\"What a great movie\"")


def register(subparsers):
    """Adds `demo` to `kbk`'s subcommands."""
    p = add_command(subparsers, "demo", run_demo,
                    help="fine-tune MiniLM on movie reviews, export, serve-check, predict")
    p.add_argument("--data", default=str(REPO_DATA / "sentiment"))
    p.add_argument("--train-examples", type=number(int, "positive"), default=4000,
                   help="use the first N of the 8568 training sentences (default 4000: a few "
                        "minutes)")
    p.add_argument("--output", default="runs/demo")
    p.add_argument("--export", default="saved_models/sentiment/1")
    p.add_argument("--overwrite", action=argparse.BooleanOptionalAction, default=True,
                   help="replace the demo's own earlier run at --output and export at "
                        "--export (--no-overwrite: stop if one is there)")
