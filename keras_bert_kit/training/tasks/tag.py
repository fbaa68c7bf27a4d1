"""The `tag` task: token classification (NER) from CoNLL files (`BertTokenClassifier`).

Sentences longer than a window are covered by sliding windows (`align_words`); after each
epoch the dev sentences are tagged (`BertTokenClassifier.predict_tags`) and scored by entity
precision / recall / F1 (`entity_scores`, seqeval's rules); the epoch with the best micro F1 is
kept in `model.keras` and its scores are the run's result.

Example:
>>> TagHooks.defaults["epochs"], TagHooks.flags["max_train_examples"]["flag"]
(3, '--max-train-sentences')
"""

import os

from keras_bert_kit.errors import UserError
from keras_bert_kit.training.config import TagOptions
from keras_bert_kit.training.hooks import FINE_TUNING_FLAGS, PRETRAINING_ONLY, FineTuningHooks
from keras_bert_kit.training.ner_metrics import entity_scores


class TagHooks(FineTuningHooks):
    """Hooks of the `tag` task (see `TaskHooks`)."""

    name = "tag"
    help = "token classification (NER) from CoNLL files"
    options_class = TagOptions
    defaults = {"sequence_length": 128, "learning_rate": 5e-5, "epochs": 3,
                "output_dir": "runs/tag"}
    unused = PRETRAINING_ONLY
    flags = {**FINE_TUNING_FLAGS, "train": {"help": "CoNLL training file (.gz allowed)"},
             "dev": {"help": "CoNLL dev file, scored by entity P/R/F1 after each epoch"},
             "vocab_file": {"help": "vocab.txt when --init has none"},
             "max_train_examples": {"flag": "--max-train-sentences",
                                    "aliases": ("--max-train-examples",),
                                    "help": "use only the first N training sentences"}}

    def read_data(self):
        from keras_bert_kit.data.conll_data import read_conll

        data = self.config.data
        train = read_conll(data.train, scheme=self.config.options.scheme)
        if data.max_train_examples:
            train = train.head(data.max_train_examples)
        self.train = train
        self.dev = read_conll(data.dev, scheme=train.scheme)
        self.label_vocabulary = train.tag_vocabulary()
        self.dev.check_tags(self.label_vocabulary)

    def build_model(self):
        from keras_bert_kit.models.bert_token_classifier import BertTokenClassifier
        from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
        from keras_bert_kit.text.bert_tokenizer import BertTokenizer

        model, options = self.config.model, self.config.options
        preprocessor = "auto"
        if model.vocab_file is not None:
            preprocessor = BertPreprocessor(
                BertTokenizer.from_vocabulary(os.fspath(model.vocab_file),
                                              lowercase=not options.cased),
                sequence_length=model.sequence_length)
        tagger = BertTokenClassifier.from_pretrained(
            model.init, self.label_vocabulary, sequence_length=model.sequence_length,
            preprocessor=preprocessor, word_split=options.word_split, head=model.head)
        if tagger.preprocessor is None:
            raise UserError(f"{model.init}: no vocab.txt beside the weights; give vocab_file "
                            "(--vocab)")
        return tagger

    def datasets(self, model):
        from keras_bert_kit.data.conll_data import (align_words, tagging_batches,
                                                    tagging_boundaries, window_lengths)
        from keras_bert_kit.data.epoch_batches import bucket_ids

        options = self.config.options
        self.train_windows = align_words(
            model.preprocessor.tokenizer, self.train.words, self.config.model.sequence_length,
            tags=self.train.tags, label_vocabulary=self.label_vocabulary, stride=options.stride,
            label_all_subtokens=options.label_all_subtokens)
        boundaries = tagging_boundaries(self.train_windows)
        train = self.batch_stream(
            bucket_ids(window_lengths(self.train_windows), boundaries),
            lambda indices: tagging_batches(self.train_windows, indices, boundaries))
        return train, self.fit_arguments()

    def monitor(self):
        return "val_entity_f1", "max"

    def dev_scores(self, model):
        stride = self.config.options.stride
        predicted = model.predict_tags(self.dev.words, batch_size=self.config.data.batch_size,
                                       **({"stride": stride} if stride else {}))
        scores = entity_scores(self.dev.tags, predicted)
        logs = {f"val_entity_{k}": scores["micro"][k] for k in ("precision", "recall", "f1")}
        return logs, scores

    def settings(self):
        options, model = self.config.options, self.config.model
        return dict(**super().settings(), word_split=options.word_split, scheme=self.train.scheme,
                    label_all_subtokens=options.label_all_subtokens,
                    sequence_length=model.sequence_length, stride=options.stride,
                    cased=options.cased,
                    vocab_file=None if model.vocab_file is None else os.fspath(model.vocab_file))

    def results(self, model, history, best):
        return {"dev_entity_scores": best.best_payload, "train_sentences": len(self.train),
                "train_windows": len(self.train_windows), "dev_sentences": len(self.dev),
                **super().results(model, history, best),
                "label_vocabulary": self.label_vocabulary}
