"""`python -m keras_bert_kit.cli`: the same as `kbk`."""

from keras_bert_kit.cli import main

if __name__ == "__main__":
    main()
