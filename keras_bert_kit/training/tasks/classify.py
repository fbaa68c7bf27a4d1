"""The `classify` task: sentence / pair classification or regression (`BertClassifier`).

Reads TSV / CSV / JSONL files (`read_classification_file`), fine-tunes a `BertClassifier` with
length-bucketed batches, keeps the epoch with the best dev accuracy (regression: lowest MAE) in
`model.keras`, and reports that model's dev metrics plus F1 and Matthews correlation
(classification) or Pearson and Spearman correlation (regression).

Bucketing and resuming: each example's packed length is measured once, before training
(`example_lengths`), and each epoch's batches are planned from `(seed, epoch)` in NumPy
(`data/epoch_batches.py`): the examples permuted, cut into batches within their length bucket,
the batches shuffled. That keeps `bucket_by_sequence_length`'s batches (one padded shape per
batch, few shapes for XLA) while making the stream deterministic and countable, so a killed run
resumes at the exact batch it stopped at (`tf.data`'s reshuffling bucketer cannot be skipped
into).

Example:
>>> ClassifyHooks.defaults["sequence_length"], ClassifyHooks.monitor_for("regression")
(128, ('val_mae', 'min'))
"""

import os

from keras_bert_kit.errors import UserError
from keras_bert_kit.training.config import ClassifyOptions
from keras_bert_kit.training.hooks import FINE_TUNING_FLAGS, PRETRAINING_ONLY, FineTuningHooks


class ClassifyHooks(FineTuningHooks):
    """Hooks of the `classify` task (see `TaskHooks`)."""

    name = "classify"
    help = "sentence / pair classification or regression"
    options_class = ClassifyOptions
    defaults = {"sequence_length": 128, "learning_rate": 5e-5, "epochs": 3,
                "output_dir": "runs/classify"}
    unused = PRETRAINING_ONLY + ("vocab_file",)
    flags = {**FINE_TUNING_FLAGS, "train": {"help": "training file (.tsv, .csv, .jsonl)"},
             "dev": {"help": "dev/test file, same columns"}}
    # XLA on for the train step, also on CPU where Keras' own "auto" leaves it off
    # (`bench/probe_xla_cpu.py` times XLA against graph mode); off for bfloat16 on CPU.
    jit_default = True

    @staticmethod
    def monitor_for(problem_type):
        return ("val_mae", "min") if problem_type == "regression" else ("val_accuracy", "max")

    def read_data(self):
        from keras_bert_kit.data.text_classification_data import read_classification_file

        data, options = self.config.data, self.config.options
        columns = (options.text_column, options.label_column, options.pair_column)
        train = read_classification_file(data.train, *columns, task=options.problem_type)
        if data.max_train_examples:
            n = data.max_train_examples
            train.texts = train.texts[:n]
            train.pairs = train.pairs[:n] if train.pairs else None
            train.labels = train.labels[:n]
        self.train = train
        self.dev = read_classification_file(data.dev, *columns, task=options.problem_type,
                                            label_vocabulary=train.label_vocabulary)

    def build_model(self):
        from keras_bert_kit.models.bert_classifier import BertClassifier

        model, options = self.config.model, self.config.options
        classifier = BertClassifier.from_pretrained(
            model.init, num_classes=self.train.num_classes, sequence_length=model.sequence_length,
            problem_type=options.problem_type, label_vocabulary=self.train.label_vocabulary,
            text_inputs=2 if options.pair_column is not None else 1, pooling=options.pooling,
            window_stride=options.window_stride, head=model.head)
        if classifier.preprocessor is None:
            raise UserError(f"{model.init}: no vocab.txt beside the weights, so no tokenizer")
        return classifier

    def datasets(self, model):
        from keras_bert_kit.data.epoch_batches import bucket_ids
        from keras_bert_kit.data.text_classification_data import (classification_batches,
                                                                  example_lengths,
                                                                  make_classification_dataset)

        boundaries = self.bucket_boundaries()
        lengths = (example_lengths(self.train, model.preprocessor) if boundaries
                   else [0] * len(self.train))
        train = self.batch_stream(
            bucket_ids(lengths, boundaries),
            lambda indices: classification_batches(self.train, indices,
                                                   preprocessor=model.preprocessor,
                                                   bucket_boundaries=boundaries))
        self.dev_dataset = make_classification_dataset(self.dev, self.config.data.batch_size,
                                                       shuffle=False,
                                                       preprocessor=model.preprocessor)
        return train, self.fit_arguments(validation_data=self.dev_dataset)

    def bucket_boundaries(self):
        """The padded lengths batches are bucketed by (`()`: none, pad to the sequence length)."""
        boundaries = self.config.options.bucket_boundaries
        if boundaries == "auto":
            from keras_bert_kit.text.tagging_preprocessor import default_bucket_boundaries

            boundaries = default_bucket_boundaries(self.config.model.sequence_length)
        return tuple(boundaries or ())

    def monitor(self):
        return self.monitor_for(self.config.options.problem_type)

    def settings(self):
        optimizer, options = self.config.optimizer, self.config.options
        return dict(**super().settings(), sequence_length=self.config.model.sequence_length,
                    pooling=options.pooling, layer_decay=optimizer.layer_decay,
                    head_learning_rate_multiplier=optimizer.head_learning_rate_multiplier,
                    problem_type=options.problem_type, text_column=options.text_column,
                    label_column=options.label_column, pair_column=options.pair_column,
                    bucket_boundaries=list(self.bucket_boundaries()))

    def results(self, model, history, best):
        from keras_bert_kit.training.saving import load_model

        best_model = load_model(os.path.join(self.runner.output_dir, "model.keras"))
        metrics = best_model.evaluate(self.dev_dataset, return_dict=True, verbose=0)
        metrics = {k: float(v) for k, v in metrics.items()}
        metrics.update(self._correlations(best_model))
        return {"dev_metrics": metrics, "train_examples": len(self.train),
                "dev_examples": len(self.dev), **super().results(model, history, best),
                "label_vocabulary": self.train.label_vocabulary}

    def _correlations(self, model):
        """F1 and Matthews correlation (classification), Pearson and Spearman (regression)."""
        from keras_bert_kit.data.text_classification_data import make_classification_dataset
        from keras_bert_kit.training.metrics import (F1Score, MatthewsCorrelation,
                                                     PearsonCorrelation, SpearmanCorrelation)

        problem = self.config.options.problem_type
        if problem == "classification":
            average = "binary" if self.train.num_classes == 2 else "macro"
            extra = {"f1": F1Score(average=average),
                     "matthews_correlation": MatthewsCorrelation(
                         num_classes=self.train.num_classes)}
        elif problem == "regression":
            extra = {"pearson": PearsonCorrelation(),
                     "spearman": SpearmanCorrelation(capacity=max(len(self.dev), 1))}
        else:
            return {}
        outputs = model.predict(make_classification_dataset(
            self.dev, self.config.data.batch_size, shuffle=False,
            preprocessor=model.preprocessor), verbose=0)
        scores = {}
        for name, metric in extra.items():
            metric.update_state(self.dev.labels, outputs)
            scores[name] = float(metric.result())
        return scores
