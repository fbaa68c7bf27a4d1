"""Recipe: BERT pretraining (masked LM + next sentence): `kbk pretrain` as a script (same flags).

Flags or a `--config` YAML (flags win); every YAML key is a flag name or a setting's field name
(`keras_bert_kit/training/config.py`). Run it again with the same command after a kill: it
resumes from the last backup.

Example (from the repository root, after the data commands in docs/pretraining.md):
    python recipes/pretrain.py --config recipes/pretrain_austen.yaml
"""

import sys

from keras_bert_kit.cli import main

if __name__ == "__main__":
    main(["pretrain", *sys.argv[1:]])
