"""Tests for `load_tfds_classification` on a tiny TFDS dataset prepared locally (no network)."""

import sys

import numpy as np
import pytest

from keras_bert_kit.data.tfds_data import load_tfds_classification

try:
    import tensorflow_datasets as tfds
except ImportError:
    tfds = None

needs_tfds = pytest.mark.skipif(tfds is None, reason="pip install 'keras-bert-kit[tfds]'")

SST2_ROWS = [("a joy to watch", 1), ("dull and long", 0), ("", 1)]
STSB_ROWS = [("A man plays.", "A man is playing.", 4.5), ("A cat.", "The stock fell.", 0.25)]

if tfds is not None:
    class KbkFakeGlue(tfds.core.GeneratorBasedBuilder):
        """Two GLUE-like configs built from in-memory rows."""

        VERSION = tfds.core.Version("1.0.0")
        BUILDER_CONFIGS = [tfds.core.BuilderConfig(name="sst2"), tfds.core.BuilderConfig(name="stsb")]

        def _info(self):
            if self.builder_config.name == "sst2":
                features = {"sentence": tfds.features.Text(),
                            "label": tfds.features.ClassLabel(names=["negative", "positive"])}
            else:
                features = {"sentence1": tfds.features.Text(), "sentence2": tfds.features.Text(),
                            "label": tfds.features.Scalar(dtype=np.float32)}
            features["idx"] = tfds.features.Scalar(dtype=np.int32)
            return self.dataset_info_from_configs(features=tfds.features.FeaturesDict(features))

        def _split_generators(self, dl_manager):
            rows = SST2_ROWS if self.builder_config.name == "sst2" else STSB_ROWS
            return {"train": self._generate_examples(rows), "test": self._generate_examples(rows, -1)}

        def _generate_examples(self, rows, test_label=None):
            for i, row in enumerate(rows):
                label = row[-1] if test_label is None else test_label
                if self.builder_config.name == "sst2":
                    yield i, {"sentence": row[0], "label": label, "idx": i}
                else:
                    yield i, {"sentence1": row[0], "sentence2": row[1], "label": label, "idx": i}


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("tfds")
    config = tfds.download.DownloadConfig(compute_stats=tfds.download.ComputeStatsMode.SKIP)
    for name in ("kbk_fake_glue/sst2", "kbk_fake_glue/stsb"):
        tfds.builder(name, data_dir=str(root)).download_and_prepare(download_config=config)
    return str(root)


@needs_tfds
def test_single_sentence_classification(data_dir):
    ex = load_tfds_classification("kbk_fake_glue/sst2", "train", data_dir=data_dir, text_keys="sentence")
    assert ex.texts == [row[0] for row in SST2_ROWS] and ex.pairs is None
    assert ex.labels.tolist() == [1, 0, 1] and ex.labels.dtype == np.int32
    assert ex.label_vocabulary == ["negative", "positive"] and ex.task == "classification"
    assert ex.source == "tfds:kbk_fake_glue/sst2:train"
    assert load_tfds_classification("kbk_fake_glue/sst2", "train[:2]", data_dir=data_dir,
                                    text_keys=["sentence"]).texts == ["a joy to watch", "dull and long"]


@needs_tfds
def test_sentence_pair_regression_and_unlabeled_test_split(data_dir):
    ex = load_tfds_classification("kbk_fake_glue/stsb:1.0.0", "train", data_dir=data_dir,
                                  text_keys=("sentence1", "sentence2"))
    assert ex.pairs == ["A man is playing.", "The stock fell."] and ex.task == "regression"
    np.testing.assert_array_equal(ex.labels, np.array([4.5, 0.25], np.float32))
    assert ex.label_vocabulary is None
    test = load_tfds_classification("kbk_fake_glue/stsb", "test", data_dir=data_dir,
                                    text_keys=("sentence1", "sentence2"))
    assert test.labels is None and len(test) == 2


@needs_tfds
def test_unknown_text_keys_list_the_text_features(data_dir):
    with pytest.raises(ValueError, match=r"text features \['sentence'\], got None"):
        load_tfds_classification("kbk_fake_glue/sst2", "train", data_dir=data_dir)
    with pytest.raises(ValueError, match="no label feature 'gold'"):
        load_tfds_classification("kbk_fake_glue/sst2", "train", data_dir=data_dir, text_keys="sentence",
                                 label_key="gold")


@needs_tfds
def test_unprepared_dataset_is_an_error_not_a_download(tmp_path):
    with pytest.raises(FileNotFoundError,
                       match=r"'glue/mrpc' is not prepared in .*never downloads.*tfds build glue/mrpc"):
        load_tfds_classification("glue/mrpc", "validation", data_dir=str(tmp_path))
    assert not any(tmp_path.rglob("*.tfrecord*"))
    with pytest.raises(ValueError, match="TFDS has no dataset 'kbk_no_such_dataset'"):
        load_tfds_classification("kbk_no_such_dataset", "train", data_dir=str(tmp_path))


def test_missing_tensorflow_datasets_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow_datasets", None)
    with pytest.raises(ImportError, match=r"keras-bert-kit\[tfds\]"):
        load_tfds_classification("glue/sst2", "train")
