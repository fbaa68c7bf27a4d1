"""Tests for the classification readers and `make_classification_dataset` (bucketing included)."""

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.data.text_classification_data import (
    ClassificationDataError, ClassificationExamples, build_label_vocabulary,
    make_classification_dataset, read_classification_file)
from keras_bert_kit.training.metrics import (
    F1Score, MatthewsCorrelation, PearsonCorrelation, SpearmanCorrelation)
from tests.conftest import DATA, FIXTURES

CLS = FIXTURES / "classification"
SENTIMENT = DATA / "sentiment"


# ---------------------------------------------------------------- readers


def test_glue_mrpc_layout_pairs_with_literal_quotes():
    ex = read_classification_file(CLS / "mrpc_like.tsv", "#1 String", "Quality", pair_column="#2 String")
    assert ex.texts[0] == "The company said profits rose 5 percent."
    assert ex.pairs[1] == 'The 9" screen costs less than "the old one".'  # TSV: no quote processing
    assert ex.labels.tolist() == [1, 0, 1] and ex.labels.dtype == np.int32
    assert ex.label_vocabulary == ["0", "1"] and ex.num_classes == 2 and len(ex) == 3
    assert ex.task == "classification" and ex.source.endswith("mrpc_like.tsv")


@pytest.mark.parametrize("text_column,label_column", [(3, 1), ("3", "1")])
def test_headerless_cola_layout_by_index_skips_blank_lines(text_column, label_column):
    ex = read_classification_file(CLS / "cola_like.tsv", text_column, label_column, has_header=False)
    assert ex.texts == ["The sailors rode the breeze clear of the rocks.",
                        "The more we study verbs, the crazier they get get.", "Drink the milk."]
    assert ex.labels.tolist() == [1, 0, 1] and ex.pairs is None


def test_csv_quoting_multiline_fields_and_numeric_label_order():
    ex = read_classification_file(CLS / "reviews.csv", "review", "stars")
    assert ex.texts == ["Great, really great.", 'Two lines:\nstill one review, with "quotes".', "Plain text"]
    assert ex.label_vocabulary == ["1", "3", "5"]
    assert ex.labels.tolist() == [2, 1, 0]


def test_jsonl_classification_multilabel_and_regression():
    path = CLS / "intents.jsonl"
    intents = read_classification_file(path, "text", "intent")
    assert intents.texts == ["wake me up at 7", "what's the weather", "play jazz"]
    assert intents.label_vocabulary == ["alarm", "music", "weather"]
    assert intents.labels.tolist() == [0, 2, 1]

    tags = read_classification_file(path, "text", "tags", task="multilabel", label_separator="|")
    assert tags.label_vocabulary == ["device", "place", "time"]
    np.testing.assert_array_equal(tags.labels, [[1, 0, 1], [0, 1, 1], [1, 0, 0]])
    assert tags.labels.dtype == np.float32 and tags.num_classes == 3

    scores = read_classification_file(path, "text", "score", task="regression")
    np.testing.assert_array_equal(scores.labels, np.array([0.5, 2.0, -1.25], np.float32))
    assert scores.label_vocabulary is None and scores.num_classes == 1


def test_multilabel_tsv_with_comma_separator(tmp_path):
    path = tmp_path / "topics.tsv"
    path.write_text("text\ttopics\nrates rise\tfinance, politics\ngoal!\tsport\n")
    ex = read_classification_file(path, "text", "topics", task="multilabel")
    assert ex.label_vocabulary == ["finance", "politics", "sport"]
    np.testing.assert_array_equal(ex.labels, [[1, 1, 0], [0, 0, 1]])


def test_training_vocabulary_is_reused_and_unknown_labels_name_file_and_line(tmp_path):
    train = read_classification_file(CLS / "intents.jsonl", "text", "intent")
    dev = tmp_path / "dev.tsv"
    dev.write_text("text\tintent\nstop the music\tmusic\nrain?\tweather\n")
    ex = read_classification_file(dev, "text", "intent", label_vocabulary=train.label_vocabulary)
    assert ex.labels.tolist() == [1, 2] and ex.label_vocabulary == train.label_vocabulary
    dev.write_text("text\tintent\nstop the music\tmusic\ncall mom\tphone\n")
    with pytest.raises(ClassificationDataError,
                       match=r"dev\.tsv:3: label 'phone' is not in the label vocabulary"):
        read_classification_file(dev, "text", "intent", label_vocabulary=train.label_vocabulary)


def test_a_dev_label_spelled_differently_names_the_training_spelling(tmp_path):
    dev = tmp_path / "dev.tsv"
    dev.write_text("sentence\tlabel\na\t0\nb\t1.0\n")
    with pytest.raises(ClassificationDataError,
                       match=r"dev\.tsv:3: label '1\.0' is not in the label vocabulary \['0', "
                             r"'1'\] \(the training file writes this class '1'"):
        read_classification_file(dev, "sentence", "label", label_vocabulary=["0", "1"])
    one_class = read_classification_file(dev, "sentence", "label", label_vocabulary=["0", "1.0"])
    assert one_class.labels.tolist() == [0, 1]


def test_unlabeled_file():
    ex = read_classification_file(CLS / "mrpc_like.tsv", "#1 String", pair_column="#2 String")
    assert ex.labels is None and ex.label_vocabulary is None and len(ex.pairs) == 3


def test_build_label_vocabulary_orders():
    assert build_label_vocabulary(["1", "0", "1"]) == ["0", "1"]
    assert build_label_vocabulary(["10", "2", "-1", "2.5"]) == ["-1", "2", "2.5", "10"]
    assert build_label_vocabulary(["b", "a", "10"]) == ["10", "a", "b"]


@pytest.mark.parametrize("name,content,kwargs,message", [
    ("cols.tsv", "sentence\tlabel\nhi\t1\n", dict(text_column="text"),
     r"cols\.tsv:1: no column 'text'; available columns: 0='sentence', 1='label'"),
    ("index.tsv", "hi\t1\n", dict(text_column=0, label_column=2, has_header=False),
     r"index\.tsv:1: no column 2; available columns: indices 0\.\.1 \(no header\)"),
    ("empty.tsv", "", {}, r"empty\.tsv:1: the file is empty"),
    ("header_only.csv", "sentence,label\n", {}, r"header_only\.csv:1: no examples after the header"),
    ("ragged.tsv", "sentence\tlabel\nok\t1\nstray\ttab\t0\n", {},
     r"ragged\.tsv:3: expected 2 fields separated by '\\t', found 3"),
    ("bad.jsonl", '{"sentence": "ok", "label": 1}\n{"sentence": "oops", "label": 1\n', {},
     r"bad\.jsonl:2: invalid JSON"),
    ("missing.jsonl", '{"sentence": "ok", "label": 1}\n{"sentence": "no label"}\n', {},
     r"missing\.jsonl:2: no field 'label'; this line has fields \['sentence'\]"),
    ("null.jsonl", '{"sentence": "ok", "label": null}\n', {}, r"null\.jsonl:1: missing or empty label"),
    ("blank_label.tsv", "sentence\tlabel\nok\t1\nno label\t \n", {},
     r"blank_label\.tsv:3: missing or empty label"),
    ("reg.csv", "sentence,label\nok,1.5\nbad,high\n", dict(task="regression"),
     r"reg\.csv:3: regression label 'high' is not a number"),
    ("list.jsonl", '{"sentence": "ok", "label": ["a", "b"]}\n', {}, r"list\.jsonl:1: .*task='multilabel'"),
    ("quote.csv", 'sentence,label\n"never closed,1\n', {}, r"quote\.csv:2: unexpected end of data"),
    ("data.txt", "x\n", {}, r"data\.txt: cannot tell the format from the suffix '\.txt'"),
    ("latin1.tsv", b"sentence\tlabel\ncaf\xe9\t1\n", {},
     r"latin1\.tsv:2: not utf-8-sig text \(byte b'\\xe9'"),
    ("spellings.tsv", "sentence\tlabel\na\t0\nb\t1\nc\t1.0\nd\t0\n", {},
     r"spellings\.tsv:4: label '1\.0' and label '1' \(line 3\) are the same number"),
    ("stray.tsv", "sentence\tlabel\na\t0\nb\t1\nc\tpositive\nd\t0\n", {},
     r"stray\.tsv:4: label 'positive' among labels like '0' \(line 2\): the label column mixes"),
    ("stray_number.jsonl", '{"sentence": "a", "label": "pos"}\n{"sentence": "b", "label": 1}\n'
     '{"sentence": "c", "label": "neg"}\n', {},
     r"stray_number\.jsonl:2: label '1' among labels like 'pos' \(line 1\)"),
    ("one_class.tsv", "sentence\tlabel\na\tpos\nb\tpos\n", {},
     r"one_class\.tsv:2: every example is labelled 'pos'; a classifier needs at least two"),
    ("multi_spellings.jsonl", '{"sentence": "a", "label": ["1", "2"]}\n'
     '{"sentence": "b", "label": ["02"]}\n', dict(task="multilabel"),
     r"multi_spellings\.jsonl:2: label '02' and label '2' \(line 1\)"),
])
def test_errors_name_file_and_line(tmp_path, name, content, kwargs, message):
    path = tmp_path / name
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    kwargs = {"text_column": "sentence", "label_column": "label", **kwargs}
    with pytest.raises(ClassificationDataError, match=message):
        read_classification_file(path, **kwargs)


# ---------------------------------------------------------------- bundled sentiment data


def test_sentiment_classification_and_rating_regression():
    train = read_classification_file(SENTIMENT / "train.tsv", "text", "label")
    assert len(train) == 8568 and train.label_vocabulary == ["0", "1"]
    assert train.texts[0].startswith("Sound the trumpets: For the first time since Desperately")
    test = read_classification_file(SENTIMENT / "test.tsv", "text", "label",
                                     label_vocabulary=train.label_vocabulary)
    assert len(test) == 2000

    ratings = read_classification_file(SENTIMENT / "train.tsv", "text", "rating", task="regression")
    np.testing.assert_array_equal(ratings.labels[:2], np.array([1.125, 1.47368], np.float32))
    assert ratings.labels.dtype == np.float32 and -4 <= ratings.labels.min() < ratings.labels.max() <= 4

    # The metrics over the whole split equal numpy's formulas (labels vs. ratings: point-biserial).
    labels, rating = train.labels.astype(np.float64), ratings.labels.astype(np.float64)
    pearson, spearman = PearsonCorrelation(), SpearmanCorrelation(capacity=16384)
    for start in range(0, len(train), 1000):
        for metric in (pearson, spearman):
            metric.update_state(labels[start:start + 1000], rating[start:start + 1000, None])
    np.testing.assert_allclose(float(pearson.result()), np.corrcoef(labels, rating)[0, 1], atol=1e-5)
    expected = np.corrcoef(_average_ranks(labels), _average_ranks(rating))[0, 1]
    np.testing.assert_allclose(float(spearman.result()), expected, atol=1e-5)


def _average_ranks(values):
    """1-based ranks with ties averaged (numpy only)."""
    _, inverse, counts = np.unique(values, return_inverse=True, return_counts=True)
    starts = np.cumsum(counts) - counts
    return (starts + (counts + 1) / 2)[inverse]


def test_same_review_pair_task_from_sentiment_data(tmp_path):
    reviews = read_classification_file(SENTIMENT / "train.tsv", "text").texts[:40]
    halves = [(" ".join(r.split()[:len(r.split()) // 2]), " ".join(r.split()[len(r.split()) // 2:]))
              for r in reviews]
    rows = [(halves[i][0], halves[i][1], "same") for i in range(20)]
    rows += [(halves[i][0], halves[(i + 1) % 40][1], "different") for i in range(20, 40)]
    path = tmp_path / "pairs.tsv"
    path.write_text("sentence1\tsentence2\tlabel\n" + "".join("\t".join(r) + "\n" for r in rows))

    ex = read_classification_file(path, "sentence1", "label", pair_column="sentence2")
    assert ex.label_vocabulary == ["different", "same"]
    assert ex.labels.tolist() == [1] * 20 + [0] * 20
    assert ex.texts[0] + " " + ex.pairs[0] == " ".join(reviews[0].split())
    assert ex.pairs[20] == halves[21][1]

    # A fixed "model" that says "same" for the first 25 pairs: TP=20, FP=5, FN=0, TN=15.
    logits = np.where(np.arange(40)[:, None] < 25, [[0.0, 1.0]], [[1.0, 0.0]])
    f1, mcc = F1Score(), MatthewsCorrelation(num_classes=2)
    for metric in (f1, mcc):
        metric.update_state(ex.labels, logits)
    np.testing.assert_allclose(float(f1.result()), 2 * 0.8 * 1.0 / 1.8, atol=1e-6)  # P=0.8, R=1
    np.testing.assert_allclose(float(mcc.result()), np.sqrt(0.6), atol=1e-6)  # 300/sqrt(25*20*20*15)


# ---------------------------------------------------------------- tf.data pipelines


def _examples(n=10, pairs=False, labels=True):
    texts = [f"text {i} " + "w " * i for i in range(n)]
    return ClassificationExamples(texts, [f"pair {i}" for i in range(n)] if pairs else None,
                                  np.arange(n, dtype=np.int32) % 2 if labels else None, ["0", "1"], "mem")


def test_raw_string_batches_in_order_without_shuffle():
    ex = _examples(10)
    batches = list(make_classification_dataset(ex, 4, shuffle=False))
    assert [x.shape[0] for x, _ in batches] == [4, 4, 2]
    assert [t.decode() for x, _ in batches for t in x.numpy()] == ex.texts
    assert np.concatenate([y.numpy() for _, y in batches]).tolist() == ex.labels.tolist()
    assert len(list(make_classification_dataset(ex, 4, shuffle=False, drop_remainder=True))) == 2


def test_pairs_and_unlabeled_examples():
    (texts, pairs), y = next(iter(make_classification_dataset(_examples(4, pairs=True), 4, shuffle=False)))
    assert texts.numpy()[1] == b"text 1 w " and pairs.numpy()[1] == b"pair 1" and y.shape == (4,)
    x = next(iter(make_classification_dataset(_examples(3, labels=False), 8, shuffle=False, cache=False)))
    assert isinstance(x, tf.Tensor) and x.shape == (3,)


def test_shuffle_is_seeded_and_reshuffles_each_epoch():
    ex = _examples(32)

    def epochs(ds):
        return [[t for x, _ in ds for t in x.numpy().tolist()] for _ in range(2)]

    first = epochs(make_classification_dataset(ex, 8, seed=3))
    second = epochs(make_classification_dataset(ex, 8, seed=3))
    assert first == second
    assert first[0] != first[1] and sorted(first[0]) == sorted(t.encode() for t in ex.texts)


class WhitespacePreprocessor:
    """Stand-in for `BertPreprocessor`: hashed words, `[CLS] a [SEP] (b [SEP])`, cut at `max_length`.

    Pads to `sequence_length`, or to the batch's longest row when it is `None` (dynamic padding).
    """

    def __init__(self, sequence_length=None, max_length=64):
        self.sequence_length, self.max_length = sequence_length, max_length

    def __call__(self, x):
        a, b = x if isinstance(x, tuple) else (x, None)
        first_len = tf.strings.split(a).row_lengths() + 2
        joined = tf.strings.join(["[CLS] ", a, " [SEP]"] + ([" ", b, " [SEP]"] if b is not None else []))
        words = tf.strings.split(joined)[:, :self.max_length]
        positions = tf.ragged.range(words.row_lengths())
        shape = [None, self.sequence_length]
        return {"token_ids": (tf.strings.to_hash_bucket_fast(words, 1000) + 1).to_tensor(shape=shape),
                "segment_ids": tf.cast(positions >= first_len[:, None], tf.int32).to_tensor(shape=shape),
                "padding_mask": tf.ones_like(positions, tf.int32).to_tensor(shape=shape)}


def test_preprocessor_is_mapped_on_batches():
    ex = _examples(5, pairs=True)
    x, y = next(iter(make_classification_dataset(ex, 5, shuffle=False, preprocessor=WhitespacePreprocessor())))
    assert x["token_ids"].shape == (5, 11)  # longest: [CLS] text 4 w w w w [SEP] pair 4 [SEP]
    np.testing.assert_array_equal(x["segment_ids"][4], [0] * 8 + [1] * 3)
    np.testing.assert_array_equal(x["padding_mask"].numpy().sum(1), [7, 8, 9, 10, 11])


@pytest.mark.parametrize("sequence_length", [None, 64])  # dynamic padding; fixed (trimmed to buckets)
def test_length_buckets_give_few_shapes_and_shuffled_batches(sequence_length):
    boundaries = [16, 32, 48, 64]
    ex = read_classification_file(SENTIMENT / "test.tsv", "text", "label")
    ex = ClassificationExamples(ex.texts[:400], None, ex.labels[:400], ex.label_vocabulary, ex.source)
    ds = make_classification_dataset(ex, 16, seed=1, preprocessor=WhitespacePreprocessor(sequence_length),
                                     bucket_boundaries=boundaries)
    for _ in range(2):  # two epochs
        shapes, count, positives = [], 0, 0
        for x, y in ds:
            width = x["token_ids"].shape[1]
            lengths = x["padding_mask"].numpy().sum(1)
            assert width in boundaries and x["segment_ids"].shape[1] == width
            lower = ([0] + boundaries)[boundaries.index(width)]
            assert (lengths > lower).all() and (lengths <= width).all()  # one bucket per batch
            shapes.append(width)
            count, positives = count + len(lengths), positives + int(y.numpy().sum())
        assert count == 400 and positives == int(ex.labels.sum())
        assert len(set(shapes)) > 1 and shapes != sorted(shapes)  # batches of all buckets, mixed


def test_buckets_with_the_real_bert_preprocessor():
    from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
    from keras_bert_kit.text.bert_tokenizer import BertTokenizer

    ex = read_classification_file(SENTIMENT / "test.tsv", "text", "label")
    ex = ClassificationExamples(ex.texts[:200], ex.texts[200:400], ex.labels[:200], ex.label_vocabulary, "mem")
    words = sorted({w for t in ex.texts + ex.pairs for w in t.lower().split()})[:3000]
    tokenizer = BertTokenizer(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + words)
    preprocessor = BertPreprocessor(tokenizer, sequence_length=96)
    boundaries = [32, 64, 96]
    widths, count = set(), 0
    for x, _ in make_classification_dataset(ex, 16, seed=0, preprocessor=preprocessor,
                                            bucket_boundaries=boundaries):
        ids, mask = x["token_ids"].numpy(), x["padding_mask"].numpy()
        lengths = mask.sum(1)
        lower = ([0] + boundaries)[boundaries.index(ids.shape[1])]
        assert (lengths > lower).all() and (lengths <= ids.shape[1]).all()
        assert (ids[:, 0] == 2).all() and (ids[np.arange(len(ids)), lengths - 1] == 3).all()
        assert (ids[mask == 0] == 0).all() and x["segment_ids"].shape == ids.shape
        widths.add(ids.shape[1])
        count += len(ids)
    assert count == 200 and widths <= set(boundaries) and len(widths) > 1


def test_length_fn_buckets_raw_strings_and_sums_pairs():
    lengths = lambda texts: tf.strings.split(texts).row_lengths()  # noqa: E731
    ex = _examples(40, pairs=True)
    for (texts, pairs), _ in make_classification_dataset(ex, 4, shuffle=False, length_fn=lengths,
                                                         bucket_boundaries=[12, 24]):
        total = lengths(texts).numpy() + lengths(pairs).numpy()  # i + 2 + 2 words
        assert ((total <= 12).all() or ((total > 12) & (total <= 24)).all() or (total > 24).all())


def test_bucketing_needs_a_length_source_and_valid_boundaries():
    with pytest.raises(ValueError, match="needs a preprocessor or a length_fn"):
        make_classification_dataset(_examples(), 2, bucket_boundaries=[8])
    with pytest.raises(ValueError, match="increasing positive ints"):
        make_classification_dataset(_examples(), 2, bucket_boundaries=[16, 8],
                                    preprocessor=WhitespacePreprocessor())
