"""BertTokenClassifier: learns a toy tagging task, decodes words and entities with exact offsets."""

import random

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.data.conll_data import align_words, build_tag_vocabulary, make_tagging_dataset
from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.models.bert_token_classifier import BertTokenClassifier
from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
from keras_bert_kit.text.bert_tokenizer import BertTokenizer
from keras_bert_kit.training.ner_metrics import entity_scores
from tests.helpers import TINY, random_inputs

NAMES = ["zoe", "bob", "carol", "smith"]     # "Zoë" → zoe, "Carolson" → carol ##son
PLACES = ["paris", "rome", "北", "京"]
FILLER = ["went", "to", "and", "saw", "the", "un", "##believ", "##able", "."]
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + NAMES + PLACES + FILLER + ["##son"]
LABELS = ["O", "B-LOC", "I-LOC", "B-PER", "I-PER"]


def toy_sentences(n, seed=0):
    """Person names (one or two words, some split into pieces) and places among filler words."""
    rng = random.Random(seed)
    sentences, tags = [], []
    for _ in range(n):
        words, word_tags = [], []
        for _ in range(rng.randint(3, 9)):
            r = rng.random()
            if r < 0.25:
                words.append(rng.choice(["Zoë", "Bob", "Carolson"]))
                word_tags.append("B-PER")
                if rng.random() < 0.4:
                    words.append(rng.choice(["Smith", "Smithson"]))
                    word_tags.append("I-PER")
            elif r < 0.4:
                words.append(rng.choice(["Paris", "Rome"]))
                word_tags.append("B-LOC")
            elif r < 0.5:
                words += ["北", "京"]
                word_tags += ["B-LOC", "I-LOC"]
            else:
                words.append(rng.choice(["went", "to", "and", "saw", "the", "unbelievable", "."]))
                word_tags.append("O")
        sentences.append(words)
        tags.append(word_tags)
    return sentences, tags


def make_tagger(sequence_length=10, **kwargs):
    preprocessor = BertPreprocessor(BertTokenizer(VOCAB), sequence_length=sequence_length)
    return BertTokenClassifier(BertBackbone(**{**TINY, "vocabulary_size": len(VOCAB)}),
                               num_labels=len(LABELS), preprocessor=preprocessor,
                               label_vocabulary=LABELS, **kwargs)


@pytest.fixture(scope="module")
def trained():
    keras.utils.set_random_seed(0)
    tagger = make_tagger()
    sentences, tags = toy_sentences(160)
    windows = align_words(tagger.preprocessor.tokenizer, sentences, 10, tags=tags,
                          label_vocabulary=LABELS)
    tagger.compile(optimizer=keras.optimizers.Adam(3e-3))
    tagger.fit(make_tagging_dataset(windows, 16, seed=0), epochs=6, verbose=0)
    return tagger


def test_learns_toy_tagging_with_windows_over_long_sentences(trained):
    sentences, tags = toy_sentences(40, seed=1)
    long_sentence = sum(sentences[:6], [])       # far longer than the 10-token window
    predicted = trained.predict_tags(sentences + [long_sentence])
    assert entity_scores(tags, predicted[:-1])["micro"]["f1"] >= 0.95
    assert len(predicted[-1]) == len(long_sentence)
    assert entity_scores([sum(tags[:6], [])], predicted[-1:])["micro"]["f1"] >= 0.9


def test_entities_map_to_exact_substrings(trained):
    texts = ["Zoë  Smithson went to 北京 and   saw Rome .", "the unbelievable Bob"]
    entities = trained.predict_entities(texts)
    for text, found in zip(texts, entities):
        for entity in found:
            assert text[entity["start"]:entity["end"]] == entity["text"]
    assert [(e["text"], e["type"]) for e in entities[0]] == [
        ("Zoë  Smithson", "PER"), ("北京", "LOC"), ("Rome", "LOC")]
    assert [(e["text"], e["type"], e["start"]) for e in entities[1]] == [("Bob", "PER", 17)]


def test_character_word_split_for_cjk():
    tagger = make_tagger(word_split="character")
    assert [len(tags) for tags in tagger.predict_tags([list("北京to")])] == [4]
    for entity in tagger.predict_entities("北京北京 x")[0]:
        assert "北京北京 x"[entity["start"]:entity["end"]] == entity["text"]


def test_float32_logits_under_mixed_precision():
    keras.config.set_dtype_policy("mixed_bfloat16")
    tagger = BertTokenClassifier(BertBackbone(**TINY), num_labels=5)
    logits = tagger(random_inputs())
    assert logits.dtype == "float32" and tuple(logits.shape) == (3, 11, 5)


def test_keras_round_trip(trained, tmp_path):
    path = str(tmp_path / "tagger.keras")
    trained.save(path)
    reloaded = keras.saving.load_model(path)
    assert reloaded.label_vocabulary == LABELS and reloaded.word_split == "whitespace"
    text = ["Bob went to Paris"]
    assert reloaded.predict_entities(text) == trained.predict_entities(text)
    x = trained.preprocessor(text)
    np.testing.assert_array_equal(np.asarray(reloaded(x)), np.asarray(trained(x)))


def test_serving_outputs_labels_word_starts_and_offsets(trained):
    text = tf.constant(["Zoë went to Parisson", ""])
    outputs = trained.serving_outputs(trained.preprocessor(text), text=text)
    assert outputs["label"].shape == (2, 10) and outputs["label"].dtype == tf.string
    assert outputs["word_start"].numpy()[0].tolist() == [0, 1, 1, 1, 1, 0, 0, 0, 0, 0]
    assert outputs["label"].numpy()[0, 1] == b"B-PER"
    starts, ends = outputs["token_start"].numpy()[0], outputs["token_end"].numpy()[0]
    data = "Zoë went to Parisson".encode()
    assert [data[s:e].decode() for s, e in zip(starts[1:6], ends[1:6])] == [
        "Zoë", "went", "to", "Paris", "son"]
    assert starts[0] == -1 and (starts[6:] == -1).all() and (outputs["token_start"].numpy()[1] == -1).all()


def test_bad_arguments():
    with pytest.raises(ValueError, match="label_vocabulary has 2 labels but num_labels=3"):
        BertTokenClassifier(BertBackbone(**TINY), num_labels=3, label_vocabulary=["O", "B-X"])
    with pytest.raises(ValueError, match="word_split='words'"):
        BertTokenClassifier(BertBackbone(**TINY), num_labels=3, word_split="words")
    with pytest.raises(ValueError, match="needs a preprocessor with a fixed sequence_length"):
        BertTokenClassifier(BertBackbone(**TINY), num_labels=2).predict_tags([["a"]])
    tagger = make_tagger()
    with pytest.raises(ValueError, match="needs a label_vocabulary"):
        BertTokenClassifier(tagger.backbone, 2, tagger.preprocessor).predict_tags([["a"]])
    assert build_tag_vocabulary([["B-PER", "I-LOC"]]) == LABELS


def test_finetune_tagger_run(tmp_path):
    from keras_bert_kit.training.finetune_tagger import finetune_tagger

    init = tmp_path / "init"
    BertBackbone(**{**TINY, "vocabulary_size": len(VOCAB)}).save_pretrained(str(init))
    (init / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    conll = tmp_path / "train.conll"
    sentences, tags = toy_sentences(12)
    conll.write_text("\n\n".join("\n".join(f"{w} {t}" for w, t in zip(s, ts))
                                 for s, ts in zip(sentences, tags)) + "\n")
    result = finetune_tagger(conll, conll, init, tmp_path / "run", epochs=1, sequence_length=12,
                             batch_size=8, verbose=0)
    assert set(result["dev_entity_scores"]) == {"LOC", "PER", "micro"}
    assert result["label_vocabulary"] == LABELS and result["train_sentences"] == 12
    reloaded = keras.saving.load_model(str(tmp_path / "run" / "model.keras"))
    assert isinstance(reloaded, BertTokenClassifier) and reloaded.label_vocabulary == LABELS


@pytest.mark.slow
def test_export_serves_tags_from_raw_text(trained, tmp_path):
    from keras_bert_kit.export.saved_model import export_saved_model

    report = export_saved_model(trained, tmp_path / "tagger" / "1")
    assert report.max_abs_diff is not None
    loaded = tf.saved_model.load(str(tmp_path / "tagger" / "1"))
    outputs = loaded.signatures["serving_default"](text=tf.constant(["Bob went to Rome"]))
    assert outputs["label"].numpy()[0, 1:5].tolist() == [b"B-PER", b"O", b"O", b"B-LOC"]
    assert outputs["token_start"].numpy()[0, :6].tolist() == [-1, 0, 4, 9, 12, -1]
    assert outputs["token_end"].numpy()[0, :6].tolist() == [-1, 3, 8, 11, 16, -1]
