"""Full robustness run: 10 000 hostile inputs through an export's `serving_default`.

    .venv/bin/python bench/robustness.py saved_models/sentiment/1 [--n 10000] [--batch-size 32]
"""

import argparse
import json

from keras_bert_kit.export.robustness import run_robustness

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("export_dir")
    parser.add_argument("--n", type=int, default=10_000)
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    print(json.dumps(run_robustness(args.export_dir, args.n, args.batch_size), indent=2))
