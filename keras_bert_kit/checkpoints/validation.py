"""Up-front checks of a checkpoint against its config and vocabulary, before any weight moves.

Every config field that fixes a tensor's shape is compared with the tensor: a wrong
`hidden_size` is reported as `hidden_size` (naming the tensor and both shapes), not as whatever
variable happens to be assigned first. `vocab.txt` is compared with `vocab_size`
(`check_vocabulary_size`) wherever weights meet a vocabulary: a task's `from_pretrained` (and so
`kbk finetune --init`, `kbk export --model`), `kbk embed`, `kbk convert`, and a `.keras` model with
its preprocessor. Readers of weight files live in `hf_checkpoint` / `google_checkpoint`; this
module only reads what they return.
"""

import logging
import re

from keras_bert_kit.errors import UserError

logger = logging.getLogger(__name__)

_QKVO = r"encoder\.layer\.\d+\.attention\.(self\.(query|key|value)|output\.dense)"
_SQUARE = r"(pooler|cls\.predictions\.transform)\.dense"
# Canonical tensor name → the config field behind each dimension (None: not a config field).
_SHAPES = [
    (r"embeddings\.word_embeddings\.weight", ("vocab_size", "hidden_size")),
    (r"embeddings\.position_embeddings\.weight", ("max_position_embeddings", "hidden_size")),
    (r"embeddings\.token_type_embeddings\.weight", ("type_vocab_size", "hidden_size")),
    (r".*LayerNorm\.(weight|bias)", ("hidden_size",)),
    (rf"({_QKVO}|{_SQUARE})\.weight", ("hidden_size", "hidden_size")),
    (rf"({_QKVO}|{_SQUARE})\.bias", ("hidden_size",)),
    (r"encoder\.layer\.\d+\.intermediate\.dense\.weight", ("intermediate_size", "hidden_size")),
    (r"encoder\.layer\.\d+\.intermediate\.dense\.bias", ("intermediate_size",)),
    (r"encoder\.layer\.\d+\.output\.dense\.weight", ("hidden_size", "intermediate_size")),
    (r"encoder\.layer\.\d+\.output\.dense\.bias", ("hidden_size",)),
    (r"cls\.predictions\.bias", ("vocab_size",)),
    (r"(cls\.seq_relationship|classifier|qa_outputs)\.weight", (None, "hidden_size")),
]


def _fields_of(name):
    for pattern, fields in _SHAPES:
        if re.fullmatch(pattern, name):
            return fields
    return None


def _check_layers(checkpoint, hf):
    layers = {int(m.group(1)) for name in checkpoint.tensors
              if (m := re.match(r"encoder\.layer\.(\d+)\.", name))}
    expected = hf["num_hidden_layers"]
    if layers and max(layers) + 1 != expected:
        raise UserError(
            f"{checkpoint.config_source}: num_hidden_layers={expected} disagrees with the weights: "
            f"{checkpoint.source} has {max(layers) + 1} layers (encoder.layer.0 .. "
            f"encoder.layer.{max(layers)}); set num_hidden_layers to {max(layers) + 1}")


def validate_checkpoint(checkpoint):
    """Raises a `UserError` naming the config field, the tensor and both shapes on a mismatch.

    Example:
    >>> import numpy as np
    >>> from keras_bert_kit.checkpoints.checkpoint import Checkpoint
    >>> from keras_bert_kit.config import BertConfig
    >>> tensors = {"embeddings.word_embeddings.weight": np.zeros((99, 32))}
    >>> validate_checkpoint(Checkpoint(BertConfig(vocabulary_size=99, hidden_dim=40, num_heads=4,
    ...                                           num_layers=1), tensors, "w.bin"))
    Traceback (most recent call last):
    ...
    keras_bert_kit.errors.UserError: config.json: hidden_size=40 disagrees with the weights: tensor 'embeddings.word_embeddings.weight' in w.bin has shape (99, 32), but hidden_size=40 implies (99, 40) (set hidden_size to 32 in config.json, or use the weights this config belongs to)
    """
    hf = checkpoint.config.to_hf_dict()
    _check_layers(checkpoint, hf)
    # Matrices before vectors (two named dimensions), the word embeddings first.
    order = sorted(checkpoint.tensors, key=lambda n: (
        n != "embeddings.word_embeddings.weight", checkpoint.tensors[n].ndim != 2, n))
    for name in order:
        fields = _fields_of(name)
        if fields is None:
            continue
        actual = tuple(checkpoint.tensors[name].shape)
        expected = tuple(hf[f] if f else actual[i] if i < len(actual) else "?"
                         for i, f in enumerate(fields))
        if actual == expected:
            continue
        if len(actual) != len(fields):
            raise UserError(f"{checkpoint.source}: tensor {name!r} has shape {actual}, expected "
                            f"{len(fields)} dimensions like {expected}; the file is not a BERT "
                            "checkpoint of this layout")
        field = next(f for f, a, e in zip(fields, actual, expected) if a != e)
        got = actual[fields.index(field)]
        raise UserError(
            f"{checkpoint.config_source}: {field}={hf[field]} disagrees with the weights: tensor "
            f"{name!r} in {checkpoint.source} has shape {actual}, but {field}={hf[field]} implies "
            f"{expected} (set {field} to {got} in {checkpoint.config_source}, or use the weights "
            "this config belongs to)")


def check_vocabulary_size(vocab_path, num_tokens, config, config_source="config.json"):
    """A `vocab.txt` longer than `vocab_size` is an error (its extra ids have no embedding row);
    a shorter one is allowed (padded embedding tables) and logged.

    Args:
        vocab_path: the vocabulary's file, as the user named it (for the message).
        num_tokens: its number of tokens.
        config: what says how many embedding rows the weights have: a `BertConfig`, or the
            `BertBackbone` of a `.keras` file (anything with `vocabulary_size`).
        config_source: where that number was read: the `config.json`, or the `.keras` file.

    Example:
    >>> from keras_bert_kit.config import BertConfig
    >>> check_vocabulary_size("vocab.txt", 120, BertConfig(vocabulary_size=99))
    Traceback (most recent call last):
    ...
    keras_bert_kit.errors.UserError: vocab.txt has 120 tokens but config.json says vocab_size=99: ids 99..119 have no embedding row (use the vocab.txt that belongs to these weights, or fix vocab_size)
    """
    size = config.vocabulary_size
    if num_tokens > size:
        # A config file can be edited; the embedding table of a `.keras` file cannot.
        fix = ", or fix vocab_size" if str(config_source).endswith(".json") else ""
        raise UserError(
            f"{vocab_path} has {num_tokens} tokens but {config_source} says vocab_size={size}: "
            f"ids {size}..{num_tokens - 1} have no embedding row (use the vocab.txt that belongs "
            f"to these weights{fix})")
    if num_tokens < size:
        logger.warning("%s has %d tokens, fewer than vocab_size=%d in %s: embedding rows %d.. "
                       "are never used", vocab_path, num_tokens, size, config_source, num_tokens)


def check_vocabulary_file(vocab_path, config, config_source="config.json"):
    """`check_vocabulary_size` of a `vocab.txt` file (one token per line, as the tokenizer reads
    it).

    Example:
    >>> from keras_bert_kit.config import BertConfig
    >>> _ = open("vocab.txt", "w").write("\\n".join(f"t{i}" for i in range(101)) + "\\n")
    >>> check_vocabulary_file("vocab.txt", BertConfig(vocabulary_size=99), "bert/config.json")
    Traceback (most recent call last):
    ...
    keras_bert_kit.errors.UserError: vocab.txt has 101 tokens but bert/config.json says vocab_size=99: ids 99..100 have no embedding row (use the vocab.txt that belongs to these weights, or fix vocab_size)
    """
    from keras_bert_kit.text.bert_tokenizer import read_vocabulary

    check_vocabulary_size(vocab_path, len(read_vocabulary(vocab_path)), config, config_source)
