"""The `squad` task: extractive question answering on SQuAD 1.1 / 2.0 (`BertQuestionAnswerer`).

Contexts longer than a window are covered by doc-stride windows; after each epoch the dev
questions are answered (`BertQuestionAnswerer.predict_answers`: n-best spans across windows,
mapped back to the text) and scored by exact match and F1 with the official scripts' rules
(`squad_scores`). The epoch with the best F1 is kept in `model.keras`; its answers go to
`predictions.json` (question id → answer text, the official scripts' input).

Example:
>>> SquadHooks.defaults["sequence_length"], SquadHooks.defaults["epochs"]
(384, 2)
"""

import json
import os

from keras_bert_kit.errors import UserError
from keras_bert_kit.training.config import SquadOptions
from keras_bert_kit.training.hooks import FINE_TUNING_FLAGS, PRETRAINING_ONLY, FineTuningHooks
from keras_bert_kit.training.squad_metrics import squad_scores


class SquadHooks(FineTuningHooks):
    """Hooks of the `squad` task (see `TaskHooks`)."""

    name = "squad"
    help = "extractive question answering (SQuAD 1.1 / 2.0)"
    options_class = SquadOptions
    defaults = {"sequence_length": 384, "learning_rate": 5e-5, "epochs": 2,
                "output_dir": "runs/squad"}
    unused = PRETRAINING_ONLY + ("vocab_file",)
    flags = {**FINE_TUNING_FLAGS, "train": {"help": "SQuAD v1.1 / v2.0 training JSON"},
             "dev": {"help": "SQuAD JSON scored by EM / F1 after each epoch"}}

    def read_data(self):
        from keras_bert_kit.data.squad_data import read_squad

        data = self.config.data
        train = read_squad(data.train)
        if data.max_train_examples:
            train = train[:data.max_train_examples]
        self.train, self.dev = train, read_squad(data.dev)
        self.version = self.config.options.version
        if self.version == "auto":
            self.version = "2.0" if any(e.is_impossible for e in self.train + self.dev) else "1.1"

    def build_model(self):
        from keras_bert_kit.models.bert_question_answerer import BertQuestionAnswerer

        model, options = self.config.model, self.config.options
        qa = BertQuestionAnswerer.from_pretrained(
            model.init, sequence_length=model.sequence_length,
            max_query_length=options.max_query_length, doc_stride=options.doc_stride,
            max_answer_length=options.max_answer_length, head=model.head)
        if qa.preprocessor is None:
            raise UserError(f"{model.init}: no vocab.txt beside the weights, so no tokenizer")
        return qa

    def datasets(self, model):
        from keras_bert_kit.data.squad_data import squad_batches

        self.features = model.features(self.train, training=True)
        train = self.batch_stream([0] * len(self.features),
                                  lambda indices: squad_batches(self.features, indices))
        return train, self.fit_arguments()

    def monitor(self):
        return "val_f1", "max"

    def dev_scores(self, model):
        options = self.config.options
        answers = model.predict_answers(
            self.dev, n_best=options.n_best,
            null_threshold=options.null_threshold if self.version == "2.0" else None,
            batch_size=self.config.data.batch_size)
        scores = squad_scores(self.dev, {k: a["text"] for k, a in answers.items()}, self.version)
        logs = {f"val_{k}": float(v) for k, v in scores.items() if "total" not in k}
        # The payload goes into the run's backup (JSON): the answers' texts are what is kept.
        return logs, {"scores": scores, "answers": {k: a["text"] for k, a in answers.items()}}

    def settings(self):
        options = self.config.options
        return dict(**super().settings(), version=self.version,
                    sequence_length=self.config.model.sequence_length,
                    doc_stride=options.doc_stride, max_query_length=options.max_query_length,
                    max_answer_length=options.max_answer_length, n_best=options.n_best,
                    null_threshold=options.null_threshold)

    def results(self, model, history, best):
        self.answers = best.best_payload["answers"]
        return {"dev_scores": best.best_payload["scores"], "version": self.version,
                "train_examples": len(self.train), "train_windows": len(self.features),
                "dev_examples": len(self.dev), "dev_windows": len(model.features(self.dev)),
                **super().results(model, history, best)}

    def write_outputs(self, model, result):
        path = os.path.join(self.runner.output_dir, "predictions.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(self.answers, f, indent=1, ensure_ascii=False)
