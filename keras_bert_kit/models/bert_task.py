"""`BertTask`: the task contract every task model declares, and raw-text fit/evaluate/predict.

The contract, declared by each task model in its class (`export/`, `kbk predict`, the warm-up
writer and `serving/client.py` read only this — never the task's class):

- `task_name` / `hf_architecture`: the task's name (`kbk finetune`, `kbk export --task`) and
  its Hugging Face `BertFor…` class. Declaring `task_name` registers the class: it is found by
  name, by Hugging Face class (`task_registry.py`) and by `keras.saving` with no table to edit.
- `preprocessor_cls`: the preprocessor it packs raw text with (`BertPreprocessor`,
  `TaggingPreprocessor`, `SquadPreprocessor`); `from_pretrained` builds it from `vocab.txt`.
- `default_loss()` / `default_metrics()`: what `compile()` uses when not given.
- `serving_outputs(packed, text=None, text_pair=None)`: the named output tensors of a batch of
  packed inputs (`text` / `text_pair`: the strings they came from, for outputs pointing into
  them, such as byte offsets).
- `serving_signatures(pad_to_multiple_of=8)`: the served functions as data,
  `{name: ServingSignature(fn, {input name: tf.TensorSpec})}` — `serving_default` (raw text),
  `encode` (sentence vectors) and `token_ids` (pre-tokenized inputs), built in
  `serving_signature.py` from `serving_pack` and `serving_outputs`.
- `decoder`: the name, in `keras_bert_kit.text.decoding.DECODERS`, of the function that turns
  one example's served outputs into Python.

With a preprocessor, `fit`/`evaluate`/`predict` accept raw strings — a list or numpy array of
texts, a `(texts_a, texts_b)` pair of them, or a `tf.data.Dataset` of batched strings,
`(strings, labels)` or `((a, b), labels)` — packed into token dicts in `tf.data`. Token dicts
pass straight through. Reading checkpoints and writing Hugging Face folders lives in
`pretrained_io.py`, the raw-text arrays in `text/raw_text.py`.
"""

import keras
import numpy as np
import tensorflow as tf

from keras_bert_kit.errors import UserError
from keras_bert_kit.models.pretrained_io import save_task_pretrained
from keras_bert_kit.models.serving_signature import base_signatures
from keras_bert_kit.models.task_registry import register_task
# Importing BertPreprocessor registers it (and BertTokenizer) with Keras, so a saved task model
# (which stores its preprocessor) loads once its class is imported; the task modules import the
# per-task preprocessors they use.
from keras_bert_kit.text.bert_preprocessor import BertPreprocessor, trim_padding
from keras_bert_kit.text.raw_text import count_texts, is_raw_text, raw_text_features


def recompile_from_config(model, config):
    """Re-compiles a loaded model with its saved optimizer, losses and metrics.

    Keras skips this for models whose `compile()` is overridden (ours add task defaults) unless
    they define `compile_from_config`; every model of the package delegates to this.
    """
    config = keras.saving.deserialize_keras_object(config)
    model.compile(**config)
    if model.built:
        model.optimizer.build(model.trainable_variables)


def _is_text_spec(spec):
    return isinstance(spec, tf.TensorSpec) and spec.dtype == tf.string


class BertTask(keras.Model):
    """Base class of the task models (not used directly): the task contract and raw-text handling.

    Subclasses wire a functional graph on the backbone's token inputs, set `self.preprocessor`
    (`adopt_preprocessor(preprocessor)`: a `preprocessor_cls`, or None) before calling
    `super().__init__`, and declare the contract described in the module docstring. Defining a
    subclass registers it with Keras' serialization (as `<top package>>ClassName`, e.g.
    `keras_bert_kit>BertClassifier`) and, when it declares `task_name`, with the task registry.
    """

    # === The task contract (see the module docstring) ===
    # The task's name as `kbk finetune` / `kbk export --task` spell it (None: not a task of its
    # own, e.g. a subclass that only changes behaviour).
    task_name = None
    preprocessor_cls = BertPreprocessor
    decoder = None
    # Texts per example that `serving_default` (and raw-text fit/predict) take: 1 or 2.
    text_inputs = 1
    # `serving_default` runs each request at its longest text rounded up to `pad_to_multiple_of`
    # (`trim_padding`) instead of the full `sequence_length`: right for outputs of one row per
    # example; per-token outputs keep the full length.
    trims_served_padding = False
    # `default_metrics()` go to `compile(weighted_metrics=)` (metrics that must skip the
    # positions `sample_weight` zeroes, e.g. a tagger's padding and continuation pieces).
    weighted_default_metrics = False

    # === Hugging Face interop: `from_pretrained` reads, `save_pretrained` writes this head ===
    # The transformers `BertFor…` class of the task, the canonical prefix of its head's tensors
    # (`classifier`, `qa_outputs`) and, where the task fixes it, the head's size.
    hf_architecture = None
    hf_head_prefix = "classifier"
    hf_head_units = None
    # Whether the transformers class has the [CLS] pooler (token classification and QA do not:
    # `save_pretrained` leaves it out, as transformers does).
    hf_has_pooler = True

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        keras.saving.register_keras_serializable(package=cls.__module__.partition(".")[0])(cls)
        # Only a class declaring its own `task_name` is a task; subclasses inherit the name.
        if "task_name" in cls.__dict__:
            register_task(cls)

    def hf_head_config(self):
        """The `HeadConfig` (`architectures`, `id2label`, `problem_type`) of `save_pretrained`."""
        from keras_bert_kit.config import HeadConfig

        return HeadConfig(self.hf_architecture)

    def save_pretrained(self, path):
        """Writes a Hugging Face folder that transformers loads into `hf_architecture`.

        `model.safetensors` (the backbone under `bert.` plus the head under its Hugging Face
        names), `config.json` (`architectures`, `id2label`/`label2id`, `problem_type`) and, with
        a preprocessor, `vocab.txt` + `tokenizer_config.json`; written atomically (see
        `checkpoints.hf_checkpoint.save_hf_folder`).

        Example:
        >>> classifier.save_pretrained("exports/sentiment-hf")  # doctest: +SKIP
        """
        save_task_pretrained(self, path)

    def default_loss(self):
        """The loss `compile()` uses when none is given."""
        raise NotImplementedError(f"{type(self).__name__} declares no default_loss()")

    def default_metrics(self):
        """The metrics `compile()` uses when none are given (None: no metrics)."""
        return None

    def serving_outputs(self, packed, text=None, text_pair=None):
        """Named output tensors of packed inputs (see the module docstring)."""
        raise NotImplementedError(f"{type(self).__name__} declares no serving_outputs()")

    @classmethod
    def adopt_preprocessor(cls, preprocessor):
        """The preprocessor a model of this class keeps for `preprocessor`.

        A plain `BertPreprocessor` given to a task whose `preprocessor_cls` is a subclass (as in
        `.keras` files saved before per-task preprocessors) becomes that class on the same
        tokenizer and settings: it packs text identically and adds the task's helpers. Other
        preprocessors (and None) are kept as given.
        """
        if type(preprocessor) is BertPreprocessor and cls.preprocessor_cls is not BertPreprocessor:
            return cls.preprocessor_cls.from_preprocessor(preprocessor)
        return preprocessor

    def compile(self, optimizer="adamw", loss=None, metrics=None, weighted_metrics=None,
                **kwargs):
        """`keras.Model.compile` with the task's `default_loss()` / `default_metrics()`."""
        if loss is None:
            loss = self.default_loss()
        if self.weighted_default_metrics:
            if metrics is None and weighted_metrics is None:
                weighted_metrics = self.default_metrics()
        elif metrics is None:
            metrics = self.default_metrics()
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics,
                        weighted_metrics=weighted_metrics, **kwargs)

    # === Serving ===

    def serving_pack(self, text, text_pair=None, pad_to_multiple_of=None):
        """Packs a request's raw strings in-graph; trimmed per `trims_served_padding`."""
        packed = self.preprocessor(text if text_pair is None else (text, text_pair))
        if self.trims_served_padding and pad_to_multiple_of is not None:
            packed = trim_padding(packed, pad_to_multiple_of)
        return packed

    def serve_text(self, text, text_pair=None, pad_to_multiple_of=None):
        """`serving_default` of raw strings: `serving_outputs` of `serving_pack`."""
        packed = self.serving_pack(text, text_pair, pad_to_multiple_of)
        return self.serving_outputs(packed, text=text, text_pair=text_pair)

    def serving_signatures(self, pad_to_multiple_of=8):
        """The served functions as data: `{name: ServingSignature}`.

        - `serving_default`: `text` (and `text_pair` when `text_inputs == 2`), `[batch]`
          strings → `serve_text`.
        - `encode`: `text` → `pooled_output` and `mean_embedding` (mean of the valid token
          vectors), float32 `[batch, hidden_dim]`.
        - `token_ids`: `token_ids`, `segment_ids`, `padding_mask` (int32 `[batch, seq]`) →
          `serving_outputs` without the text (for clients that tokenize themselves).

        Args:
            pad_to_multiple_of: `encode` (and `serving_default` of tasks that trim) run each
                request at its longest text rounded up to a multiple of this instead of the
                full `sequence_length` (same outputs, less work); None: the full length.
        """
        if self.preprocessor is None:
            raise UserError(f"{type(self).__name__} has no preprocessor; exports take raw text, "
                            "so build the model with preprocessor=BertPreprocessor(...)")
        return base_signatures(self, pad_to_multiple_of)

    def _packing_fn(self, spec):
        """Maps a dataset element with text features to one with token dicts; None if not text."""
        def pre(features):
            return self.preprocessor(features)

        if _is_text_spec(spec):
            return pre
        if not isinstance(spec, tuple) or not spec:
            return None
        if (getattr(self, "text_inputs", 1) == 2 and len(spec) == 2
                and all(_is_text_spec(s) for s in spec)):
            return lambda a, b: pre((a, b))  # unlabelled pairs of a pair model
        if isinstance(spec[0], tuple) and all(_is_text_spec(s) for s in spec[0]):
            return lambda features, *rest: (pre(features), *rest) if rest else pre(features)
        if _is_text_spec(spec[0]):
            return lambda features, *rest: (pre(features), *rest)
        return None

    def _as_text_dataset(self, x, y=None, sample_weight=None, batch_size=None, shuffle=False):
        """Returns a packed `tf.data.Dataset` when `x` is raw text, else None."""
        if not isinstance(x, tf.data.Dataset):
            features = raw_text_features(x)
            if features is None:
                return None
            self._require_preprocessor()
            if y is not None and len(y) != count_texts(features):
                raise UserError(f"{count_texts(features)} texts but {len(y)} labels; give one "
                                "label per text")
            parts = tuple(p for p in (features, y, sample_weight) if p is not None)
            x = tf.data.Dataset.from_tensor_slices(parts if len(parts) > 1 else features)
            if shuffle:
                x = x.shuffle(int(x.cardinality()), seed=0, reshuffle_each_iteration=True)
            x = x.batch(batch_size or 32)
        fn = self._packing_fn(x.element_spec)
        if fn is None:
            return None
        self._require_preprocessor()
        return x.map(fn, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def _require_preprocessor(self):
        if self.preprocessor is None:
            raise UserError(f"{type(self).__name__} got raw strings but has no preprocessor "
                            "(pass preprocessor=BertPreprocessor(...), or token dicts)")

    def _validation_dataset(self, validation_data, batch_size):
        if isinstance(validation_data, tuple) and is_raw_text(validation_data[0]):
            return self._as_text_dataset(*validation_data, batch_size=batch_size)
        if isinstance(validation_data, tf.data.Dataset):
            return self._as_text_dataset(validation_data) or validation_data
        return validation_data

    def fit(self, x=None, y=None, batch_size=None, validation_data=None, shuffle=True, **kwargs):
        if validation_data is not None:
            validation_data = self._validation_dataset(validation_data, batch_size)
        dataset = self._as_text_dataset(x, y, kwargs.pop("sample_weight", None), batch_size, shuffle)
        if dataset is None:
            return super().fit(x, y, batch_size=batch_size, validation_data=validation_data,
                               shuffle=shuffle, **kwargs)
        return super().fit(dataset, validation_data=validation_data, **kwargs)

    def evaluate(self, x=None, y=None, batch_size=None, **kwargs):
        dataset = self._as_text_dataset(x, y, kwargs.pop("sample_weight", None), batch_size)
        if dataset is None:
            return super().evaluate(x, y, batch_size=batch_size, **kwargs)
        return super().evaluate(dataset, **kwargs)

    def predict(self, x, batch_size=None, **kwargs):
        """`keras.Model.predict`; raw texts (see `text.raw_text.text_array`) are packed by the preprocessor.

        No texts (`[]`, an empty array / tensor / Series) give the outputs of no rows: arrays
        of length 0 with the shape of one row's outputs.
        """
        features = None if isinstance(x, tf.data.Dataset) else raw_text_features(x)
        if features is not None and not count_texts(features):
            self._require_preprocessor()
            one_row = tf.nest.map_structure(
                lambda part: np.full((1, *part.shape[1:]), b"", dtype=object), features)
            outputs = self.predict(one_row, verbose=0)
            return tf.nest.map_structure(lambda output: output[:0], outputs)
        dataset = self._as_text_dataset(x if features is None else features,
                                        batch_size=batch_size)
        if dataset is None:
            return super().predict(x, batch_size=batch_size, **kwargs)
        return super().predict(dataset, **kwargs)

    def compile_from_config(self, config):
        recompile_from_config(self, config)

    def _serialize_preprocessor(self):
        if self.preprocessor is None:
            return None
        return keras.saving.serialize_keras_object(self.preprocessor)

    @staticmethod
    def _deserialize_common(config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        if config.get("preprocessor") is not None:
            config["preprocessor"] = keras.saving.deserialize_keras_object(config["preprocessor"])
        return config
