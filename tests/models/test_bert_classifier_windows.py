"""Sliding-window classification of long texts: equal to plain classification when a text fits,
every token used when it does not."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.models.bert_classifier import BertClassifier
from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
from keras_bert_kit.text.bert_tokenizer import BertTokenizer
from tests.helpers import TINY

WORDS = [f"w{i}" for i in range(60)]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS
SEQ = 10            # 8 text tokens per window
STRIDE = 4


def text(indices):
    return " ".join(WORDS[i] for i in indices)


def make_classifier(aggregation="mean", max_windows=None):
    keras.utils.set_random_seed(3)
    pre = BertPreprocessor(BertTokenizer(VOCAB), sequence_length=SEQ)
    # A large initializer makes the random model sensitive to every token.
    return BertClassifier(BertBackbone(**TINY, initializer_range=0.5), num_classes=3,
                          preprocessor=pre,
                          window_stride=STRIDE, window_aggregation=aggregation,
                          max_windows=max_windows)


def plain_logits(classifier, texts):
    return np.asarray(classifier(classifier.preprocessor(tf.constant(texts)), training=False))


def test_pack_windows_cover_every_token_in_order():
    pre = BertPreprocessor(BertTokenizer(VOCAB), sequence_length=SEQ)
    texts = [text(range(20)), "", text(range(8)), text(range(9))]
    packed, index = pre.pack_windows(tf.constant(texts), stride=STRIDE)
    # 20 tokens: starts 0, 4, 8, 12 (the window at 12 reaches the end); 0 and 8 tokens: one;
    # 9 tokens: starts 0 and 4.
    assert index.numpy().tolist() == [0, 0, 0, 0, 1, 2, 3, 3]
    ids = packed["token_ids"].numpy()
    first = VOCAB.index("w0")
    assert ids[0].tolist() == [2] + [first + i for i in range(8)] + [3]
    assert ids[3].tolist() == [2] + [first + i for i in range(12, 20)] + [3]
    assert ids[4].tolist() == [2, 3] + [0] * 8
    assert ids[7].tolist() == [2] + [first + i for i in range(4, 9)] + [3, 0, 0, 0]
    covered = {int(t) - first for row in ids[:4] for t in row if t >= first}
    assert covered == set(range(20))
    np.testing.assert_array_equal(packed["padding_mask"].numpy(), (ids != 0).astype("int32"))


def test_pack_windows_rejects_a_stride_that_skips_tokens():
    pre = BertPreprocessor(BertTokenizer(VOCAB), sequence_length=SEQ)
    with pytest.raises(ValueError, match="no token is skipped"):
        pre.pack_windows(tf.constant(["w1"]), stride=9)


def test_short_texts_give_exactly_the_plain_logits():
    classifier = make_classifier()
    texts = [text([1, 2, 3]), text(range(8)), ""]
    # predict runs a graph, where TF fuses each matmul with its bias and GELU (float rounding).
    np.testing.assert_allclose(classifier.predict(texts, verbose=0),
                               plain_logits(classifier, texts), atol=1e-5, rtol=0)


@pytest.mark.parametrize("aggregation", ["mean", "max"])
def test_long_text_aggregates_all_of_its_windows(aggregation):
    classifier = make_classifier(aggregation)
    long = list(range(20))
    windows = [text(long[s:s + 8]) for s in (0, 4, 8, 12)]
    expected = plain_logits(classifier, windows)
    expected = expected.mean(0) if aggregation == "mean" else expected.max(0)
    got = classifier.predict([text([5]), text(long)], verbose=0)
    np.testing.assert_allclose(got[1], expected, atol=1e-5, rtol=0)
    np.testing.assert_allclose(got[0], plain_logits(classifier, [text([5])])[0], atol=1e-5)

    # The last token is used: changing it changes the windowed logits, not the truncated ones.
    changed = long[:-1] + [40]
    assert np.abs(classifier.predict([text(changed)], verbose=0)[0] - got[1]).max() > 1e-4
    np.testing.assert_array_equal(plain_logits(classifier, [text(changed)]),
                                  plain_logits(classifier, [text(long)]))


def test_max_windows_caps_the_work_and_dataset_input_works():
    classifier = make_classifier(max_windows=2)
    long = list(range(20))
    expected = plain_logits(classifier, [text(long[:8]), text(long[4:12])]).mean(0)
    dataset = tf.data.Dataset.from_tensor_slices(([text(long)], [1])).batch(4)
    np.testing.assert_allclose(classifier.predict(dataset, verbose=0)[0], expected, atol=1e-5)


def test_window_settings_round_trip_and_are_checked(tmp_path):
    classifier = make_classifier("max", max_windows=5)
    path = str(tmp_path / "windows.keras")
    classifier.save(path)
    reloaded = keras.saving.load_model(path)
    assert (reloaded.window_stride, reloaded.window_aggregation, reloaded.max_windows) == (
        STRIDE, "max", 5)
    texts = [text(range(30))]
    np.testing.assert_allclose(reloaded.predict(texts, verbose=0),
                               classifier.predict(texts, verbose=0), atol=1e-6)
    pre = classifier.preprocessor
    with pytest.raises(ValueError, match="window_stride=9"):
        BertClassifier(BertBackbone(**TINY), preprocessor=pre, window_stride=9)
    with pytest.raises(ValueError, match="single texts"):
        BertClassifier(BertBackbone(**TINY), preprocessor=pre, window_stride=4, text_inputs=2)
    with pytest.raises(ValueError, match="window_aggregation"):
        BertClassifier(BertBackbone(**TINY), preprocessor=pre, window_stride=4,
                       window_aggregation="median")
