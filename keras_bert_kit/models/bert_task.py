"""`BertTask`: what every task model shares — a backbone and an optional in-graph preprocessor.

With a preprocessor, `fit`/`evaluate`/`predict` accept raw strings — a list or numpy array of
texts, a `(texts_a, texts_b)` pair of them, or a `tf.data.Dataset` of batched strings,
`(strings, labels)` or `((a, b), labels)` — packed into token dicts in `tf.data`. Token dicts
pass straight through.
"""

import keras
import numpy as np
import tensorflow as tf

# Registers BertTokenizer/BertPreprocessor with Keras, so a saved task model (which stores its
# preprocessor) loads with `keras.saving.load_model` once any task model class is imported.
import keras_bert_kit.text.bert_preprocessor  # noqa: F401


def recompile_from_config(model, config):
    """Re-compiles a loaded model with its saved optimizer, losses and metrics.

    Keras skips this for models whose `compile()` is overridden (ours add task defaults) unless
    they define `compile_from_config`; every model of the package delegates to this.
    """
    config = keras.saving.deserialize_keras_object(config)
    model.compile(**config)
    if model.built:
        model.optimizer.build(model.trainable_variables)


def load_pretrained_parts(path, sequence_length, preprocessor="auto", backbone_kwargs=None):
    """What a task model's `from_pretrained` starts from: `(loaded, backbone, preprocessor)`.

    Args:
        path: a Hugging Face / Google BERT folder or file, or a `.keras` file holding a backbone
            or a model with one (then `loaded` is that model, else None).
        sequence_length: packer length of the automatic preprocessor.
        preprocessor: `"auto"` (a `BertPreprocessor` from the `vocab.txt` beside the weights, or
            None without one), a `BertPreprocessor`, or None.
        backbone_kwargs: passed to `BertBackbone.from_pretrained` (e.g. `dtype`).
    """
    import os

    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
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
            preprocessor = BertPreprocessor(BertTokenizer.from_pretrained(folder),
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
    """Base class of the task models (not used directly): raw-text handling for fit/evaluate/predict.

    Subclasses wire a functional graph on the backbone's token inputs and set
    `self.preprocessor` (a `BertPreprocessor` or None) before calling `super().__init__`.
    """

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
