"""The task contract (`models/bert_task.py`): what each task model declares in one place."""

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.models.bert_classifier import BertClassifier
from keras_bert_kit.models.bert_multiple_choice import BertMultipleChoice
from keras_bert_kit.models.bert_question_answerer import BertQuestionAnswerer
from keras_bert_kit.models.bert_task import BertTask
from keras_bert_kit.models.bert_token_classifier import BertTokenClassifier
from keras_bert_kit.models.serving_signature import ServingSignature
from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
from keras_bert_kit.text.bert_tokenizer import BertTokenizer
from keras_bert_kit.text.decoding import DECODERS
from keras_bert_kit.text.squad_preprocessor import SquadPreprocessor
from keras_bert_kit.text.tagging_preprocessor import IGNORE_LABEL, TaggingPreprocessor
from tests.helpers import TINY

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "film", "was", "great", "who", "?"]
IDS = ["token_ids", "segment_ids", "padding_mask"]


def _preprocessor(sequence_length=12):
    return BertPreprocessor(BertTokenizer(VOCAB), sequence_length=sequence_length)


def _backbone():
    return BertBackbone(**{**TINY, "vocabulary_size": len(VOCAB)})


def tasks():
    return {
        "classifier": BertClassifier(_backbone(), 2, preprocessor=_preprocessor()),
        "pair_classifier": BertClassifier(_backbone(), 2, preprocessor=_preprocessor(),
                                          text_inputs=2),
        "tagger": BertTokenClassifier(_backbone(), 3, preprocessor=_preprocessor(),
                                      label_vocabulary=["O", "B-X", "I-X"]),
        "qa": BertQuestionAnswerer(_backbone(), preprocessor=_preprocessor()),
        "choices": BertMultipleChoice(_backbone(), num_choices=3, preprocessor=_preprocessor()),
    }


@pytest.fixture(scope="module")
def models():
    return tasks()


DECLARED = {   # task: (preprocessor class, decoder, serving_default inputs)
    "classifier": (BertPreprocessor, "classes", ["text"]),
    "pair_classifier": (BertPreprocessor, "classes", ["text", "text_pair"]),
    "tagger": (TaggingPreprocessor, "entities", ["text"]),
    "qa": (SquadPreprocessor, "answer", ["text", "text_pair"]),
    "choices": (BertPreprocessor, "choices", ["text", "choices"]),
}


@pytest.mark.parametrize("name", sorted(DECLARED))
def test_each_task_declares_preprocessor_decoder_and_signature_inputs(models, name):
    model = models[name]
    preprocessor_cls, decoder, default_inputs = DECLARED[name]
    assert model.preprocessor_cls is preprocessor_cls and type(model.preprocessor) is preprocessor_cls
    assert model.decoder == decoder and decoder in DECODERS
    signatures = model.serving_signatures()
    assert sorted(signatures) == ["encode", "serving_default", "token_ids"]
    assert all(isinstance(s, ServingSignature) for s in signatures.values())
    assert signatures["serving_default"].input_names == default_inputs
    assert signatures["encode"].input_names == ["text"]
    assert signatures["token_ids"].input_names == IDS
    for signature in signatures.values():
        assert [s.name for s in signature.input_signature()] == signature.input_names
    text_specs = signatures["serving_default"].inputs
    assert all(spec.dtype == tf.string for spec in text_specs.values())
    ids_rank = 3 if name == "choices" else 2
    assert all(spec.shape.rank == ids_rank for spec in signatures["token_ids"].inputs.values())


def test_signature_functions_serve_in_process(models):
    texts = tf.constant(["the film was great", "who"])
    out = models["classifier"].serving_signatures()["serving_default"].fn(texts)
    assert sorted(out) == ["label", "label_id", "probabilities"]
    out = models["qa"].serving_signatures()["serving_default"].fn(texts, texts[::-1])
    assert {"answer", "answer_start", "score", "null_score"} <= set(out)
    choices = tf.constant([["the film", "great", "who ?"], ["the", "film", "was"]])
    out = models["choices"].serving_signatures()["serving_default"].fn(texts, choices)
    assert out["probabilities"].shape == (2, 3) and out["label_id"].dtype == tf.int32
    np.testing.assert_allclose(out["probabilities"].numpy().sum(-1), 1.0, atol=1e-6)
    encoded = models["tagger"].serving_signatures()["encode"].fn(texts)
    assert encoded["mean_embedding"].shape == (2, TINY["hidden_dim"])


def test_compile_uses_the_declared_defaults():
    models = tasks()
    regression = BertClassifier(_backbone(), 1, problem_type="regression")
    for model in [*models.values(), regression]:
        model.compile(optimizer="adam")
    assert isinstance(regression.loss, keras.losses.MeanSquaredError)
    assert isinstance(models["classifier"].loss, keras.losses.SparseCategoricalCrossentropy)
    tagger = models["tagger"]
    assert tagger.loss.ignore_class == IGNORE_LABEL
    # The tagger's accuracy is weighted (ignored pieces carry weight 0), the others' plain.
    compiled = tagger.get_compile_config()
    assert compiled["weighted_metrics"] is not None and compiled["metrics"] is None
    compiled = models["classifier"].get_compile_config()
    assert compiled["metrics"] is not None and compiled["weighted_metrics"] is None
    assert sorted(models["qa"].loss) == ["end_logits", "start_logits"]
    explicit = keras.losses.MeanAbsoluteError()
    models["choices"].compile(optimizer="adam", loss=explicit, metrics=[])
    assert models["choices"].loss is explicit


def test_a_plain_preprocessor_becomes_the_task_preprocessor_on_the_same_tokenizer():
    plain = _preprocessor(sequence_length=10)
    tagger = BertTokenClassifier(_backbone(), 2, preprocessor=plain)
    assert type(tagger.preprocessor) is TaggingPreprocessor
    assert tagger.preprocessor.tokenizer is plain.tokenizer
    assert tagger.preprocessor.sequence_length == 10
    texts = ["the film was great", ""]
    for key, value in plain(texts).items():
        np.testing.assert_array_equal(tagger.preprocessor(texts)[key], value)
    classifier = BertClassifier(_backbone(), 2, preprocessor=plain)
    assert classifier.preprocessor is plain           # a classifier's class is BertPreprocessor
    # get_config mirrors the constructor: the config names the preprocessor the model keeps.
    clone = BertTokenClassifier.from_config(tagger.get_config())
    assert type(clone.preprocessor) is TaggingPreprocessor


def test_from_pretrained_builds_the_declared_preprocessor(tmp_path):
    _backbone().save_pretrained(str(tmp_path))
    (tmp_path / "vocab.txt").write_text("\n".join(VOCAB) + "\n")
    tagger = BertTokenClassifier.from_pretrained(tmp_path, ["O", "B-X", "I-X"], sequence_length=9)
    qa = BertQuestionAnswerer.from_pretrained(tmp_path, sequence_length=16)
    classifier = BertClassifier.from_pretrained(tmp_path, sequence_length=8)
    assert type(tagger.preprocessor) is TaggingPreprocessor
    assert tagger.preprocessor.sequence_length == 9
    assert type(qa.preprocessor) is SquadPreprocessor and qa.preprocessor.sequence_length == 16
    assert type(classifier.preprocessor) is BertPreprocessor


def test_a_task_without_a_preprocessor_serves_nothing():
    with pytest.raises(ValueError, match="has no preprocessor"):
        BertClassifier(_backbone(), 2).serving_signatures()


def test_the_base_class_needs_the_declaration():
    class Bare(BertTask):
        def __init__(self, backbone, **kwargs):
            self.backbone, self.preprocessor = backbone, None
            inputs = dict(backbone.input)
            super().__init__(inputs=inputs, outputs=backbone(inputs)["pooled_output"], **kwargs)

    bare = Bare(_backbone())
    with pytest.raises(NotImplementedError, match="default_loss"):
        bare.compile()
    with pytest.raises(NotImplementedError, match="serving_outputs"):
        bare.serving_outputs({})
