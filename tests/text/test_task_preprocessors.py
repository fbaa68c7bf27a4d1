"""Per-task preprocessors: `TaggingPreprocessor` and `SquadPreprocessor` pack like their base and
hold the task's Python-side packing and decoding; the old data/ and training/ names still work."""

import keras
import numpy as np
import pytest

from keras_bert_kit.data import conll_data, squad_data
from keras_bert_kit.text import squad_preprocessor, tagging_preprocessor, tags
from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
from keras_bert_kit.text.bert_tokenizer import BertTokenizer
from keras_bert_kit.text.squad_preprocessor import SquadExample, SquadPreprocessor
from keras_bert_kit.text.tagging_preprocessor import TaggingPreprocessor
from keras_bert_kit.training import ner_metrics

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "who", "?", "ann", "met", "bob", ".",
         "un", "##believ", "##able", "北", "京"]


@pytest.mark.filterwarnings("ignore:You are saving a model that has not yet been built")
@pytest.mark.parametrize("cls", [TaggingPreprocessor, SquadPreprocessor])
def test_task_preprocessors_pack_like_the_base_and_round_trip(cls, tmp_path):
    tokenizer = BertTokenizer(VOCAB)
    plain = BertPreprocessor(tokenizer, sequence_length=10)
    task = cls.from_preprocessor(plain)
    assert type(task) is cls and task.tokenizer is tokenizer and task.name == plain.name
    assert set(task.get_config()) == set(plain.get_config())
    texts = (["Ann met Bob.", "unbelievable 北京"], ["who ?", ""])
    for key, value in plain(texts).items():
        np.testing.assert_array_equal(task(texts)[key], value)
    path = tmp_path / "pre.keras"
    keras.Sequential([task]).save(path)
    reloaded = keras.saving.load_model(path).layers[0]
    assert type(reloaded) is cls and reloaded.sequence_length == 10
    for key, value in plain(texts).items():
        np.testing.assert_array_equal(reloaded(texts)[key], value)


def test_tagging_preprocessor_is_align_words_with_its_tokenizer_and_length():
    pre = TaggingPreprocessor(BertTokenizer(VOCAB), sequence_length=6)
    sentences = [["Ann", "met", "unbelievable", "Bob", "北", "京", "."]]
    windows = pre.align_words(sentences, stride=2)
    reference = tagging_preprocessor.align_words(pre.tokenizer, sentences, 6, stride=2)
    assert [w.tolist() for w in windows.token_ids] == [w.tolist() for w in reference.token_ids]
    assert len(windows) > 1 and all(len(w) <= 6 for w in windows.token_ids)
    logits = [np.eye(3)[np.where(ids == 2, 0, 1)] for ids in windows.token_ids]   # B-X on pieces
    tags_ = pre.word_tags(windows, logits, ["O", "B-X", "I-X"])
    assert tags_ == [["B-X"] * 7]
    text = "Ann  met  北京"
    words, spans = pre.split_texts([text])
    assert words == [["Ann", "met", "北", "京"]]
    entities = pre.entities([text], spans, [["B-X", "O", "B-Y", "I-Y"]])
    assert entities == [[{"text": "Ann", "type": "X", "start": 0, "end": 3},
                         {"text": "北京", "type": "Y", "start": 10, "end": 12}]]
    with pytest.raises(ValueError, match="fixed sequence_length"):
        TaggingPreprocessor(pre.tokenizer, sequence_length=None).align_words(sentences)


def test_squad_preprocessor_windows_and_decodes():
    pre = SquadPreprocessor(BertTokenizer(VOCAB), sequence_length=8)
    examples = pre.examples(["Who?", "who ?"], ["Ann met Bob.", "Bob met Ann met Bob ."])
    assert [e.qas_id for e in examples] == ["0", "1"]
    features = pre.features(examples, doc_stride=2)
    reference = squad_preprocessor.make_squad_features(examples, pre.tokenizer, 8, doc_stride=2)
    np.testing.assert_array_equal(features.token_ids, reference.token_ids)
    assert len(features) > len(examples)
    start = np.where(features.token_ids == 9, 5.0, 0.0)      # "bob"
    answers = pre.decode_answers(features, start, start, max_answer_length=2)
    assert [answers[i]["text"] for i in ("0", "1")] == ["Bob", "Bob"]
    with pytest.raises(ValueError, match="2 questions but 1 contexts"):
        pre.examples(["a", "b"], ["c"])
    assert pre.examples("Who?", "Ann.")[0] == SquadExample("0", "Who?", "Ann.")


def test_old_module_names_still_import():
    assert conll_data.align_words is tagging_preprocessor.align_words
    assert conll_data.TaggingWindows is tagging_preprocessor.TaggingWindows
    assert conll_data.split_words is tagging_preprocessor.split_words
    assert conll_data.IGNORE_LABEL == tagging_preprocessor.IGNORE_LABEL == -100
    assert squad_data.make_squad_features is squad_preprocessor.make_squad_features
    assert squad_data.decode_answers is squad_preprocessor.decode_answers
    assert squad_data.SquadExample is squad_preprocessor.SquadExample
    assert ner_metrics.get_entities is tags.get_entities
    assert issubclass(squad_data.SquadDataError, ValueError)
