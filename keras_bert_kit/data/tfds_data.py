"""Classification splits from locally prepared TensorFlow Datasets (`glue/*`, `imdb_reviews`, ...).

`load_tfds_classification` reads a split that is already prepared under `data_dir` into the same
`ClassificationExamples` the file readers return; it never downloads. TensorFlow Datasets is an
optional dependency (`pip install keras-bert-kit[tfds]`).
"""

import numpy as np

from keras_bert_kit.data.text_classification_data import ClassificationExamples

DEFAULT_TEXT_KEYS = {
    "glue/cola": ("sentence",),
    "glue/sst2": ("sentence",),
    "glue/mrpc": ("sentence1", "sentence2"),
    "glue/qqp": ("question1", "question2"),
    "glue/stsb": ("sentence1", "sentence2"),
    "glue/mnli": ("premise", "hypothesis"),
    "glue/qnli": ("question", "sentence"),
    "glue/rte": ("sentence1", "sentence2"),
    "glue/wnli": ("sentence1", "sentence2"),
    "glue/ax": ("premise", "hypothesis"),
    "imdb_reviews": ("text",),
}


def load_tfds_classification(name, split, data_dir=None, text_keys=None, label_key="label"):
    """Reads one split of a locally prepared TFDS text classification / regression dataset.

    `ClassLabel` labels give a classification task whose vocabulary is the class names; float
    labels give a regression task. A split whose labels are all -1 (GLUE test sets, STS-B's too) is
    returned unlabeled.

    Args:
        name: TFDS name, optionally with config and version, e.g. `"glue/mrpc"`, `"imdb_reviews"`.
        split: split name or slice, e.g. `"train"`, `"validation[:10%]"`.
        data_dir: TFDS data directory; `None` uses TFDS's default (`~/tensorflow_datasets`).
        text_keys: one feature name, or two for sentence pairs; `None` uses `DEFAULT_TEXT_KEYS`.
        label_key: feature name of the label, or `None` to read texts only.

    Returns:
        `ClassificationExamples` with `source` set to `"tfds:<name>:<split>"`.

    Example:
    >>> DEFAULT_TEXT_KEYS["glue/mrpc"]  # the text features read when `text_keys` is None
    ('sentence1', 'sentence2')
    >>> load_tfds_classification("glue/mrpc", "validation", data_dir="tfds")  # not prepared here
    Traceback (most recent call last):
    ...
    FileNotFoundError: TFDS dataset 'glue/mrpc' is not prepared in ...; this loader never ...

    With the dataset prepared (`tfds build glue/mrpc --data_dir /data/tfds`):

    >>> ex = load_tfds_classification("glue/mrpc", "validation", "/data/tfds")  # doctest: +SKIP
    >>> ex.label_vocabulary  # doctest: +SKIP
    ['not_equivalent', 'equivalent']
    """
    try:
        import tensorflow_datasets as tfds
    except ImportError:
        raise ImportError("load_tfds_classification needs TensorFlow Datasets: "
                          "pip install 'keras-bert-kit[tfds]' (tensorflow-datasets)") from None
    try:
        builder = tfds.builder(name, data_dir=data_dir)
    except tfds.core.DatasetNotFoundError as e:
        raise ValueError(f"TFDS has no dataset {name!r} (in code or under data_dir={data_dir!r}): "
                         f"{e}") from None
    if not builder.is_prepared():
        raise FileNotFoundError(
            f"TFDS dataset {name!r} is not prepared in {builder.data_dir}; this loader never "
            f"downloads. Prepare it once where the network is reachable, e.g. "
            f"`tfds build {name} --data_dir <dir>` or "
            f"`tfds.builder({name!r}, data_dir=<dir>).download_and_prepare()`, "
            f"then pass data_dir=<dir>")
    features = builder.info.features
    base_name = name.split(":")[0]
    if text_keys is None:
        text_keys = DEFAULT_TEXT_KEYS.get(base_name, DEFAULT_TEXT_KEYS.get(base_name.split("/")[0]))
    if isinstance(text_keys, str):
        text_keys = (text_keys,)
    text_features = [k for k, f in features.items() if isinstance(f, tfds.features.Text)]
    if not text_keys or len(text_keys) > 2 or any(k not in text_features for k in text_keys):
        raise ValueError(f"{name}: text_keys must be one or two of the text features "
                         f"{text_features}, got {text_keys!r}")
    task, label_vocabulary = "classification", None
    if label_key is not None:
        if label_key not in features:
            raise ValueError(f"{name}: no label feature {label_key!r}; features: {list(features)}")
        label_feature = features[label_key]
        if isinstance(label_feature, tfds.features.ClassLabel):
            label_vocabulary = list(label_feature.names)
        elif np.issubdtype(np.dtype(label_feature.np_dtype), np.floating) and label_feature.shape == ():
            task = "regression"
        else:
            raise ValueError(f"{name}: label feature {label_key!r} must be a ClassLabel or a float "
                             f"scalar, found {label_feature}")
    columns = {k: [] for k in (*text_keys, label_key) if k is not None}
    for record in builder.as_dataset(split=split, shuffle_files=False).as_numpy_iterator():
        for key, values in columns.items():
            values.append(record[key])
    texts = [[value.decode("utf-8") for value in columns[key]] for key in text_keys]
    labels = None
    if label_key is not None:
        labels = np.asarray(columns[label_key], np.float32 if task == "regression" else np.int32)
        if labels.size and (labels == -1).all():
            labels = None
        elif task == "classification" and (labels < 0).any():
            raise ValueError(f"{name}:{split}: some labels are -1 (missing) and some are not")
    return ClassificationExamples(texts[0], texts[1] if len(texts) == 2 else None, labels,
                                  label_vocabulary, f"tfds:{name}:{split}", task)
