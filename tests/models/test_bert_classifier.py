"""BertClassifier on token dicts: problem types, float32 logits under mixed precision, round trip."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.models.bert_classifier import BertClassifier
from tests.helpers import TINY, random_inputs


def separable_task(n=64, seq=12, seed=0):
    """Label 1 iff token 7 appears: a one-epoch-learnable task."""
    x = random_inputs(batch=n, seq=seq, pad_last=False, seed=seed)
    x["token_ids"][x["token_ids"] == 7] = 8
    labels = np.arange(n) % 2
    x["token_ids"][labels == 1, 3] = 7
    return x, labels


def test_single_label_learns_and_outputs_float32_logits_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_bfloat16")
    classifier = BertClassifier(BertBackbone(**TINY), num_classes=2)
    x, y = separable_task()
    classifier.compile(optimizer=keras.optimizers.Adam(2e-3))
    history = classifier.fit(x, y, epochs=8, batch_size=16, verbose=0)
    assert history.history["accuracy"][-1] >= 0.95
    assert classifier(x).dtype == "float32"


@pytest.mark.parametrize("problem_type,num_classes", [("multilabel", 3), ("regression", 1)])
def test_multi_label_and_regression(problem_type, num_classes):
    classifier = BertClassifier(BertBackbone(**TINY), num_classes=num_classes, problem_type=problem_type)
    x, labels = separable_task()
    y = (np.stack([labels, 1 - labels, labels], 1).astype("float32") if problem_type == "multilabel"
         else labels.astype("float32") * 2.0 - 1.0)
    classifier.compile(optimizer=keras.optimizers.Adam(2e-3))
    history = classifier.fit(x, y, epochs=8, batch_size=16, verbose=0)
    metric = "accuracy" if problem_type == "multilabel" else "mae"
    assert (history.history[metric][-1] > 0.9) if metric == "accuracy" else (history.history[metric][-1] < 0.3)


def test_keras_round_trip_with_label_vocabulary(tmp_path):
    classifier = BertClassifier(BertBackbone(**TINY), num_classes=3, label_vocabulary=["a", "b", "c"])
    x = random_inputs()
    path = str(tmp_path / "classifier.keras")
    classifier.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.label_vocabulary == ["a", "b", "c"]
    np.testing.assert_array_equal(np.asarray(reloaded(x)), np.asarray(classifier(x)))


def test_raw_strings_without_preprocessor_is_a_clear_error():
    classifier = BertClassifier(BertBackbone(**TINY))
    with pytest.raises(ValueError, match="raw strings but has no preprocessor"):
        classifier.predict(["a text"])


def test_bad_arguments():
    with pytest.raises(ValueError, match="label_vocabulary has 2 labels but num_classes=3"):
        BertClassifier(BertBackbone(**TINY), num_classes=3, label_vocabulary=["a", "b"])
    with pytest.raises(ValueError, match="problem_type='ranking'"):
        BertClassifier(BertBackbone(**TINY), problem_type="ranking")


def test_pooled_classifier_equals_the_full_backbone_path():
    """The pooled classifier runs the last block at [CLS] only; logits equal the full path's."""
    backbone = BertBackbone(**TINY)
    classifier = BertClassifier(backbone, num_classes=3)
    x = random_inputs(batch=4, seq=13)
    full = backbone(x)["pooled_output"]
    expected = classifier.output_dense(full)
    np.testing.assert_allclose(np.asarray(classifier(x)), np.asarray(expected), atol=1e-5)
    xla = tf.function(lambda inputs: classifier(inputs), jit_compile=True)
    np.testing.assert_allclose(np.asarray(xla(x)), np.asarray(expected), atol=1e-5)
