"""`BertTask`: the task contract every task model declares, and raw-text fit/evaluate/predict.

The contract, declared by each task model in its class (`export/`, `kbk predict`, the warm-up
writer and `serving/client.py` read only this — never the task's class):

- `preprocessor_cls`: the preprocessor it packs raw text with (`BertPreprocessor`,
  `TaggingPreprocessor`, `SquadPreprocessor`); `from_pretrained` builds it from `vocab.txt`.
- `default_loss()` / `default_metrics()`: what `compile()` uses when not given.
- `serving_outputs(packed, text=None, text_pair=None)`: the named output tensors of a batch of
  packed inputs (`text` / `text_pair`: the strings they came from, for outputs pointing into
  them, such as byte offsets).
- `serving_signatures(pad_to_multiple_of=8)`: the served functions as data,
  `{name: ServingSignature(fn, {input name: tf.TensorSpec})}` — `serving_default` (raw text),
  `encode` (sentence vectors) and `token_ids` (pre-tokenized inputs), built here from
  `serving_pack` and `serving_outputs`.
- `decoder`: the name, in `keras_bert_kit.text.decoding.DECODERS`, of the function that turns
  one example's served outputs into Python.

With a preprocessor, `fit`/`evaluate`/`predict` accept raw strings — a list or numpy array of
texts, a `(texts_a, texts_b)` pair of them, or a `tf.data.Dataset` of batched strings,
`(strings, labels)` or `((a, b), labels)` — packed into token dicts in `tf.data`. Token dicts
pass straight through.
"""

import dataclasses
from collections.abc import Callable

import keras
import numpy as np
import tensorflow as tf

from keras_bert_kit.errors import UserError
from keras_bert_kit.layers.mean_pooling import MeanPooling
# Importing BertPreprocessor registers it (and BertTokenizer) with Keras, so a saved task model
# (which stores its preprocessor) loads once its class is imported; the task modules import the
# per-task preprocessors they use.
from keras_bert_kit.text.bert_preprocessor import OUTPUT_KEYS, BertPreprocessor, trim_padding

TEXT_SPEC = tf.TensorSpec([None], tf.string)
IDS_SPEC = tf.TensorSpec([None, None], tf.int32)


@dataclasses.dataclass(frozen=True)
class ServingSignature:
    """One served function as data: `fn` and its inputs, `{input name: tf.TensorSpec}`.

    `fn` takes the inputs positionally in the order of `inputs` (its parameters carry the same
    names) and returns a dict of tensors.

    Example:
    >>> sig = ServingSignature(lambda text: {"length": tf.strings.length(text)},
    ...                        {"text": tf.TensorSpec([None], tf.string)})
    >>> sig.input_names, sig.input_signature()[0].name
    (['text'], 'text')
    """

    fn: Callable
    inputs: dict

    @property
    def input_names(self):
        return list(self.inputs)

    def input_signature(self):
        """The `tf.TensorSpec`s in order, named after their inputs (the served input names)."""
        return [tf.TensorSpec(spec.shape, spec.dtype, name=name)
                for name, spec in self.inputs.items()]


def recompile_from_config(model, config):
    """Re-compiles a loaded model with its saved optimizer, losses and metrics.

    Keras skips this for models whose `compile()` is overridden (ours add task defaults) unless
    they define `compile_from_config`; every model of the package delegates to this.
    """
    config = keras.saving.deserialize_keras_object(config)
    model.compile(**config)
    if model.built:
        model.optimizer.build(model.trainable_variables)


def load_pretrained_parts(path, sequence_length, preprocessor="auto", backbone_kwargs=None,
                          preprocessor_cls=BertPreprocessor):
    """What a task model's `from_pretrained` starts from: `(loaded, backbone, preprocessor)`.

    Args:
        path: a Hugging Face / Google BERT folder or file, or a `.keras` file holding a backbone
            or a model with one (then `loaded` is that model, else None).
        sequence_length: packer length of the automatic preprocessor.
        preprocessor: `"auto"` (a `preprocessor_cls` from the `vocab.txt` beside the weights, or
            None without one), a `BertPreprocessor`, or None.
        backbone_kwargs: passed to `BertBackbone.from_pretrained` (e.g. `dtype`).
        preprocessor_cls: the task's preprocessor class (`BertTask.preprocessor_cls`).
    """
    import os

    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.text.bert_tokenizer import BertTokenizer

    path = os.fspath(path)
    loaded = None
    if path.endswith(".keras"):
        loaded = keras.saving.load_model(path)
        backbone = loaded if isinstance(loaded, BertBackbone) else loaded.backbone
    else:
        backbone = BertBackbone.from_pretrained(path, **(backbone_kwargs or {}))
    if preprocessor == "auto":
        folder = path if os.path.isdir(path) else os.path.dirname(path)
        preprocessor = None
        if os.path.exists(os.path.join(folder, "vocab.txt")):
            preprocessor = preprocessor_cls(BertTokenizer.from_pretrained(folder),
                                            sequence_length=sequence_length)
    return loaded, backbone, preprocessor


def _is_text_spec(spec):
    return isinstance(spec, tf.TensorSpec) and spec.dtype == tf.string


def _is_text_array(x):
    if isinstance(x, str):
        return True
    if isinstance(x, list | np.ndarray) and len(x):
        first = np.asarray(x).ravel()[0]
        return isinstance(first, str | bytes)
    return False


def _is_raw_text(x):
    if isinstance(x, tuple) and len(x) == 2:
        return all(_is_text_array(part) for part in x)
    return _is_text_array(x)


class BertTask(keras.Model):
    """Base class of the task models (not used directly): the task contract and raw-text handling.

    Subclasses wire a functional graph on the backbone's token inputs, set `self.preprocessor`
    (`adopt_preprocessor(preprocessor)`: a `preprocessor_cls`, or None) before calling
    `super().__init__`, and declare the contract described in the module docstring.
    """

    # === The task contract (see the module docstring) ===
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
        if self.text_inputs == 2:
            def serving_default(text, text_pair):
                return self.serve_text(text, text_pair, pad_to_multiple_of)
            default_inputs = {"text": TEXT_SPEC, "text_pair": TEXT_SPEC}
        else:
            def serving_default(text):
                return self.serve_text(text, None, pad_to_multiple_of)
            default_inputs = {"text": TEXT_SPEC}
        mean_pooling = MeanPooling()

        def encode(text):
            packed = self.preprocessor(text)
            if pad_to_multiple_of is not None:
                packed = trim_padding(packed, pad_to_multiple_of)
            out = self.backbone(packed, training=False)
            return {"pooled_output": tf.cast(out["pooled_output"], tf.float32),
                    "mean_embedding": mean_pooling(out["sequence_output"], packed["padding_mask"])}

        def token_ids(token_ids, segment_ids, padding_mask):
            return self.serving_outputs({"token_ids": token_ids, "segment_ids": segment_ids,
                                         "padding_mask": padding_mask})

        return {"serving_default": ServingSignature(serving_default, default_inputs),
                "encode": ServingSignature(encode, {"text": TEXT_SPEC}),
                "token_ids": ServingSignature(token_ids, dict.fromkeys(OUTPUT_KEYS, IDS_SPEC))}

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
            if not _is_raw_text(x):
                return None
            if isinstance(x, str):
                x = [x]
            features = (tuple(np.asarray(p, dtype=str) for p in x) if isinstance(x, tuple)
                        else np.asarray(x, dtype=str))
            parts = tuple(p for p in (features, y, sample_weight) if p is not None)
            x = tf.data.Dataset.from_tensor_slices(parts if len(parts) > 1 else features)
            if shuffle:
                x = x.shuffle(int(x.cardinality()), seed=0, reshuffle_each_iteration=True)
            x = x.batch(batch_size or 32)
        fn = self._packing_fn(x.element_spec)
        if fn is None:
            return None
        if self.preprocessor is None:
            raise ValueError(f"{type(self).__name__} got raw strings but has no preprocessor; "
                             "pass preprocessor=BertPreprocessor(...) or token dicts")
        return x.map(fn, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)

    def _validation_dataset(self, validation_data, batch_size):
        if isinstance(validation_data, tuple) and _is_raw_text(validation_data[0]):
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
        dataset = self._as_text_dataset(x, batch_size=batch_size)
        if dataset is None:
            return super().predict(x, batch_size=batch_size, **kwargs)
        return super().predict(dataset, **kwargs)

    def get_compile_config(self):
        return super().get_compile_config()

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
