"""A `vocab.txt` longer than the weights' embedding table is one line naming the file, on every
path that loads weights: each `from_pretrained`, and each `kbk` command that takes a model.

Without the check the extra ids reach the embedding lookup and TensorFlow fails with
`indices[0,1] = 14 is not in [0, 12)` and a traceback.
"""

import pytest

from keras_bert_kit import cli
from keras_bert_kit.errors import UserError
from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.models.bert_classifier import BertClassifier
from keras_bert_kit.models.bert_pretrainer import BertPretrainer
from keras_bert_kit.models.task_registry import task_classes
from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
from keras_bert_kit.text.bert_tokenizer import BertTokenizer
from tests.training.runner_fixtures import TINY_FLAGS, WORDS, make_tiny_classification

LONG_VOCABULARY = WORDS + ["extra", "tokens"]  # 14 tokens for a 12-row embedding


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """`checkpoint/`: a Hugging Face `BertForSequenceClassification` folder whose vocab.txt has
    two lines more than `vocab_size`; `tiny.keras` (a backbone) with that vocab.txt beside it;
    `classifier.keras`, a task model whose preprocessor has those 14 tokens; `init/`, the same
    weights with the right vocab.txt; train/dev TSVs."""
    folder = tmp_path_factory.mktemp("long_vocab")
    tiny = make_tiny_classification(folder)
    BertClassifier.from_pretrained(tiny["init"], num_classes=2, sequence_length=8,
                                   label_vocabulary=["neg", "pos"]).save_pretrained(
        folder / "checkpoint")
    long_vocab = "\n".join(LONG_VOCABULARY) + "\n"
    (folder / "checkpoint" / "vocab.txt").write_text(long_vocab)
    backbone = BertBackbone.from_pretrained(tiny["init"])
    backbone.save(folder / "tiny.keras")
    (folder / "vocab.txt").write_text(long_vocab)
    preprocessor = BertPreprocessor(BertTokenizer.from_vocabulary(LONG_VOCABULARY),
                                    sequence_length=8)
    BertClassifier(backbone, 2, preprocessor=preprocessor).save(folder / "classifier.keras")
    return folder


CHECKPOINT_MESSAGE = ("checkpoint/vocab.txt has 14 tokens but checkpoint/config.json says "
                      "vocab_size=12: ids 12..13 have no embedding row (use the vocab.txt that "
                      "belongs to these weights, or fix vocab_size)")
KERAS_MESSAGE = ("./vocab.txt has 14 tokens but tiny.keras says vocab_size=12: ids 12..13 have no "
                 "embedding row (use the vocab.txt that belongs to these weights)")


@pytest.mark.parametrize("argv, message", [
    (["embed", "--model", "checkpoint", "a good film"], CHECKPOINT_MESSAGE),
    (["embed", "--model", "tiny.keras", "a good film"], KERAS_MESSAGE),
    (["export", "--model", "checkpoint", "--output", "exported/1", "--no-check"],
     CHECKPOINT_MESSAGE),
    (["export", "--model", "classifier.keras", "--output", "exported/1", "--no-check"],
     "the vocabulary of classifier.keras has 14 tokens but classifier.keras says vocab_size=12: "
     "ids 12..13 have no embedding row (use the vocab.txt that belongs to these weights)"),
    (["convert", "--input", "checkpoint", "--output", "converted"], CHECKPOINT_MESSAGE),
    (["finetune", "classify", "--init", "checkpoint", "--train", "train.tsv", "--dev", "dev.tsv",
      "--output", "run", *TINY_FLAGS], CHECKPOINT_MESSAGE),
    (["finetune", "classify", "--init", "tiny.keras", "--train", "train.tsv", "--dev", "dev.tsv",
      "--output", "run", *TINY_FLAGS], KERAS_MESSAGE),
], ids=["embed", "embed-keras", "export", "export-keras", "convert", "finetune",
        "finetune-keras"])
def test_each_command_says_which_vocab_txt_and_exits_2(folder, monkeypatch, capsys, argv,
                                                       message):
    monkeypatch.chdir(folder)
    with pytest.raises(SystemExit) as exit:
        cli.main(argv)
    assert exit.value.code == 2
    command = " ".join(argv[:2] if argv[0] == "finetune" else argv[:1])
    assert capsys.readouterr().err == f"kbk {command}: error: {message}\n"
    if "--output" in argv:  # nothing written before the check
        assert not (folder / argv[argv.index("--output") + 1]).exists()


@pytest.mark.parametrize("cls", [BertBackbone, BertPretrainer, *task_classes().values()],
                         ids=lambda cls: cls.__name__)
def test_every_from_pretrained_checks_the_vocabulary(folder, monkeypatch, cls):
    monkeypatch.chdir(folder)
    with pytest.raises(UserError, match=r"^checkpoint/vocab\.txt has 14 tokens but "
                                        r"checkpoint/config\.json says vocab_size=12"):
        cls.from_pretrained("checkpoint")


def test_a_given_preprocessor_is_checked_too(folder, monkeypatch):
    monkeypatch.chdir(folder)
    preprocessor = BertPreprocessor(BertTokenizer.from_vocabulary(LONG_VOCABULARY))
    with pytest.raises(UserError, match=r"^the given preprocessor's vocabulary has 14 tokens but "
                                        r"init/config\.json says vocab_size=12"):
        BertClassifier.from_pretrained("init", num_classes=2, preprocessor=preprocessor)
