"""`BertConfig`: the one description of a BERT architecture, plus the named presets.

Hugging Face `config.json` and Google `bert_config.json` map onto it field by field. This module
is on the ground floor (it imports only `errors`), so checkpoint readers and models share it.
"""

import dataclasses
import json
import os

from keras_bert_kit.errors import UserError

_HF_FIELDS = {
    "vocab_size": "vocabulary_size",
    "hidden_size": "hidden_dim",
    "num_hidden_layers": "num_layers",
    "num_attention_heads": "num_heads",
    "intermediate_size": "intermediate_dim",
    "hidden_act": "hidden_act",
    "hidden_dropout_prob": "dropout",
    "attention_probs_dropout_prob": "attention_dropout",
    "max_position_embeddings": "max_sequence_length",
    "type_vocab_size": "num_segments",
    "layer_norm_eps": "layer_norm_epsilon",
    "initializer_range": "initializer_range",
}

_SUPPORTED_ACTIVATIONS = ("gelu", "gelu_new", "gelu_pytorch_tanh", "relu", "tanh", "silu", "swish")


@dataclasses.dataclass
class BertConfig:
    """Hyper-parameters of a BERT encoder.

    Args:
        vocabulary_size: number of WordPiece ids.
        num_layers: transformer blocks.
        num_heads: attention heads per block.
        hidden_dim: model width.
        intermediate_dim: width of the feed-forward layer.
        hidden_act: feed-forward activation; `"gelu"` is the exact erf GELU.
        dropout: dropout on embeddings and residual branches.
        attention_dropout: dropout on the attention probabilities.
        max_sequence_length: number of learned positions.
        num_segments: segment (token type) vocabulary.
        layer_norm_epsilon: LayerNorm epsilon.
        initializer_range: stddev of the truncated-normal initializer.

    Example:
    >>> cfg = BertConfig.from_preset("bert_tiny_uncased")
    >>> cfg.hidden_dim
    128
    """

    vocabulary_size: int = 30522
    num_layers: int = 12
    num_heads: int = 12
    hidden_dim: int = 768
    intermediate_dim: int = 3072
    hidden_act: str = "gelu"
    dropout: float = 0.1
    attention_dropout: float = 0.1
    max_sequence_length: int = 512
    num_segments: int = 2
    layer_norm_epsilon: float = 1e-12
    initializer_range: float = 0.02

    def __post_init__(self):
        if self.hidden_dim % self.num_heads:
            raise UserError(
                f"hidden_dim={self.hidden_dim} is not divisible by num_heads={self.num_heads}"
            )
        if self.hidden_act not in _SUPPORTED_ACTIVATIONS:
            raise UserError(
                f"hidden_act={self.hidden_act!r} is not supported; use one of {_SUPPORTED_ACTIVATIONS}"
            )

    def to_dict(self):
        return dataclasses.asdict(self)

    @classmethod
    def from_preset(cls, name):
        if name not in PRESETS:
            raise UserError(f"Unknown preset {name!r}; known presets: {sorted(PRESETS)}")
        return cls(**PRESETS[name])

    @classmethod
    def from_hf_dict(cls, hf, source="config"):
        """Builds a config from a Hugging Face / Google BERT config dict."""
        model_type = hf.get("model_type", "bert")
        if model_type != "bert":
            raise UserError(f"{source}: model_type is {model_type!r}, not 'bert'")
        position_type = hf.get("position_embedding_type", "absolute")
        if position_type != "absolute":
            raise UserError(
                f"{source}: position_embedding_type {position_type!r} is not supported (only 'absolute')"
            )
        missing = [k for k in ("vocab_size", "hidden_size", "num_hidden_layers", "num_attention_heads",
                               "intermediate_size") if k not in hf]
        if missing:
            raise UserError(f"{source}: missing BERT fields {missing}")
        kwargs = {ours: hf[theirs] for theirs, ours in _HF_FIELDS.items() if theirs in hf}
        return cls(**kwargs)

    @classmethod
    def from_hf_config(cls, path):
        """Reads a Hugging Face `config.json` or Google `bert_config.json` (file or folder)."""
        path = find_config_file(path)
        return cls.from_hf_dict(read_json(path), source=path)

    def to_hf_dict(self):
        """The Hugging Face `config.json` content for a `BertModel` with this architecture."""
        hf = {theirs: getattr(self, ours) for theirs, ours in _HF_FIELDS.items()}
        hf.update(
            architectures=["BertModel"],
            model_type="bert",
            pad_token_id=0,
            position_embedding_type="absolute",
        )
        return hf


def checkpoint_folder(path):
    """The folder a checkpoint's `config.json` and `vocab.txt` sit in: `path` itself when it is a
    folder, else the folder of the file it names (`"."` for a bare name such as `tiny.keras`).

    Example:
    >>> checkpoint_folder("tiny.keras"), checkpoint_folder("models/bert/model.safetensors")
    ('.', 'models/bert')
    """
    path = os.fspath(path)
    return path if os.path.isdir(path) else os.path.dirname(path) or "."


def find_config_file(path):
    """`path` itself, or the `config.json` / `bert_config.json` in the folder `path`."""
    path = os.fspath(path)
    if not os.path.isdir(path):
        return path
    for name in ("config.json", "bert_config.json"):
        if os.path.exists(os.path.join(path, name)):
            return os.path.join(path, name)
    raise FileNotFoundError(f"{path}: no config.json or bert_config.json in this folder")


def read_json(path):
    """A JSON file's content; invalid JSON is a `UserError` naming the file."""
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e}); the file is damaged or not a config") from None


# Hugging Face `problem_type` ↔ ours (`BertClassifier.problem_type`).
HF_PROBLEM_TYPES = {
    "single_label_classification": "classification",
    "multi_label_classification": "multilabel",
    "regression": "regression",
}


@dataclasses.dataclass
class HeadConfig:
    """What a Hugging Face `config.json` says about a task head.

    Args:
        architecture: the first `architectures` entry (e.g. `"BertForSequenceClassification"`),
            or None.
        labels: `id2label` in id order, or None when the config has no labels.
        problem_type: ours (`"classification"`, `"multilabel"`, `"regression"`) or None.

    Example:
    >>> head = HeadConfig.from_hf_dict({"architectures": ["BertForSequenceClassification"],
    ...                                 "id2label": {"1": "pos", "0": "neg"},
    ...                                 "problem_type": "single_label_classification"})
    >>> head.labels, head.problem_type
    (['neg', 'pos'], 'classification')
    >>> head.to_hf_dict()["label2id"]
    {'neg': 0, 'pos': 1}
    """

    architecture: str | None = None
    labels: list | None = None
    problem_type: str | None = None

    @classmethod
    def from_hf_dict(cls, hf, source="config"):
        architectures = hf.get("architectures") or [None]
        labels = None
        if hf.get("id2label"):
            try:
                by_id = {int(k): str(v) for k, v in hf["id2label"].items()}
            except (TypeError, ValueError, AttributeError):
                raise UserError(f"{source}: id2label must map ids to names, "
                                f"got {hf['id2label']!r}") from None
            if sorted(by_id) != list(range(len(by_id))):
                raise UserError(f"{source}: id2label ids must be 0..{len(by_id) - 1}, "
                                f"got {sorted(by_id)}")
            labels = [by_id[i] for i in range(len(by_id))]
        problem_type = hf.get("problem_type")
        if problem_type is not None and problem_type not in HF_PROBLEM_TYPES:
            raise UserError(f"{source}: problem_type {problem_type!r} is not one of "
                            f"{sorted(HF_PROBLEM_TYPES)}")
        return cls(architectures[0], labels, HF_PROBLEM_TYPES.get(problem_type))

    @classmethod
    def from_hf_config(cls, path):
        """Reads the head fields of a `config.json` (file or folder); Google configs have none."""
        path = find_config_file(path)
        return cls.from_hf_dict(read_json(path), source=path)

    def to_hf_dict(self):
        """The `config.json` fields: `architectures`, `id2label`/`label2id`, `problem_type`."""
        hf = {}
        if self.architecture:
            hf["architectures"] = [self.architecture]
        if self.labels is not None:
            hf["id2label"] = {str(i): label for i, label in enumerate(self.labels)}
            hf["label2id"] = {label: i for i, label in enumerate(self.labels)}
        if self.problem_type is not None:
            ours = {v: k for k, v in HF_PROBLEM_TYPES.items()}
            hf["problem_type"] = ours[self.problem_type]
        return hf


def _preset(layers, hidden, heads=None, vocab=30522, **kw):
    heads = heads or hidden // 64
    return dict(vocabulary_size=vocab, num_layers=layers, hidden_dim=hidden, num_heads=heads,
                intermediate_dim=4 * hidden, **kw)


PRESETS = {
    "bert_tiny_uncased": _preset(2, 128),
    "bert_mini_uncased": _preset(4, 256),
    "bert_small_uncased": _preset(4, 512),
    "bert_medium_uncased": _preset(8, 512),
    "bert_base_uncased": _preset(12, 768),
    "bert_base_cased": _preset(12, 768, vocab=28996),
    "bert_large_uncased": _preset(24, 1024, heads=16),
    "bert_large_cased": _preset(24, 1024, heads=16, vocab=28996),
    "bert_base_chinese": _preset(12, 768, vocab=21128),
    "bert_base_multilingual_cased": _preset(12, 768, vocab=119547),
    "all_minilm_l6_v2": _preset(6, 384, heads=12),
}
