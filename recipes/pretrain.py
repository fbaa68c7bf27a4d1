"""Recipe: BERT pretraining (masked LM + next sentence) from TFRecords or text; same as `kbk pretrain`.

Flags or a `--config` YAML (flags win); every YAML key is a flag name or a `pretrain()` argument.
Run it again with the same command after a kill: it resumes from the last backup.

Example (from the repository root, after the data commands in docs/pretraining.md):
    python recipes/pretrain.py --config recipes/pretrain_austen.yaml
"""

import argparse

from keras_bert_kit.training.pretrain import add_pretrain_arguments, run_from_args


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_pretrain_arguments(parser)
    run_from_args(parser.parse_args(argv))


if __name__ == "__main__":
    main()
