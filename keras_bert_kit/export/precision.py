"""Serving precision: a bfloat16 copy of a task model for exports, and the CPU features it needs.

A bfloat16 export stores the backbone's weights in bfloat16 and runs its matmuls and attention
in bfloat16 (TF's oneDNN kernels use AVX512-BF16 / AMX on x86 and the BF16 extension on Arm);
LayerNorm statistics, the attention softmax, the task head and the served outputs stay float32
(the layers cast for that), and the inputs (strings) and outputs (float32 probabilities) are
those of the float32 export. The graph uses only ops stock TF Serving registers: no XLA.

Storing the weights in bfloat16 (Keras' `"bfloat16"` policy), not `"mixed_bfloat16"` (float32
variables cast at every call), saves the cast of every weight on every request and halves the
weight memory the server reads.
"""

import os

import keras

from keras_bert_kit.errors import UserError

PRECISIONS = ("float32", "bfloat16")
_ALIASES = {"float32": "float32", "fp32": "float32", "f32": "float32",
            "bfloat16": "bfloat16", "bf16": "bfloat16"}

# CPU flags (Linux /proc/cpuinfo names) that give TF's oneDNN kernels native bfloat16
# arithmetic; without them bfloat16 runs through conversions and is slower than float32.
BF16_CPU_FLAGS = ("amx_bf16", "avx512_bf16", "bf16")
# A bfloat16 export's serving time ÷ the float32 export's on an AVX2 CPU (TF's default path
# there), all-MiniLM-L6-v2, text → probabilities: bench/bench_cpu_paths.py's `avx2_onednn_off`
# rows in bench/results_cpu_paths.md (tests/export/test_precision.py compares the two).
BF16_SLOWDOWN_ON_AVX2 = {"batch 1": 1.36, "batch 32": 1.24}


def normalize_precision(precision):
    """The canonical name of a serving precision (`"bf16"` → `"bfloat16"`).

    Args:
        precision: `"float32"`/`"fp32"` or `"bfloat16"`/`"bf16"` (any case).

    Example:
    >>> normalize_precision("BF16")
    'bfloat16'
    """
    name = _ALIASES.get(str(precision).lower())
    if name is None:
        raise UserError(f"precision {precision!r} is not one of float32, bfloat16 (bf16)")
    return name


def cpu_bf16_features(cpuinfo="/proc/cpuinfo"):
    """The bfloat16 CPU features of this machine (from `/proc/cpuinfo`; empty where unreadable).

    Args:
        cpuinfo: the file to read (Linux's; other systems report none).

    Example:
    >>> _ = open("cpuinfo", "w").write("flags\\t: fpu avx2 avx512f avx512_bf16 amx_tile\\n")
    >>> cpu_bf16_features("cpuinfo")
    ['avx512_bf16']
    """
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as f:
            text = f.read()
    except OSError:
        return []
    flags = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return [flag for flag in BF16_CPU_FLAGS if flag in flags]


def bf16_cpu_note(features=None):
    """One line on whether this CPU computes bfloat16 natively (for reports and warnings).

    Args:
        features: the CPU's bfloat16 features (default: `cpu_bf16_features()`).

    Example:
    >>> bf16_cpu_note(["avx512_bf16"])
    'this CPU has avx512_bf16: TF runs bfloat16 matmuls natively here'
    """
    features = cpu_bf16_features() if features is None else features
    if features:
        return f"this CPU has {', '.join(features)}: TF runs bfloat16 matmuls natively here"
    slowdown = ", ".join(f"{v:.2f}x at {k}" for k, v in BF16_SLOWDOWN_ON_AVX2.items())
    return ("this CPU has none of " + ", ".join(BF16_CPU_FLAGS) + ": bfloat16 runs through "
            f"conversions here, slower than float32 (measured on AVX2: {slowdown}, MiniLM; "
            "the export is still valid; serve it on a CPU with AVX512-BF16 or AMX, e.g. AMD "
            "Zen 4+ or Intel Sapphire Rapids+)")


def with_precision(model, precision):
    """The task model to export at `precision`: `model` itself for float32, else a copy.

    The copy has the same class, head and preprocessor; its backbone is built with the
    `"bfloat16"` dtype policy and gets `model`'s weights rounded to bfloat16 (the head keeps its
    float32 weights). `model` is not changed.

    Args:
        model: a task model (`BertClassifier`, `BertTokenClassifier`, ...) with a `backbone`.
        precision: `"float32"` or `"bfloat16"` (aliases as in `normalize_precision`).

    Example:
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "great", "movie"]
    >>> classifier = BertClassifier(
    ...     BertBackbone(len(vocab), num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=8),
    ...     num_classes=2, preprocessor=BertPreprocessor(BertTokenizer(vocab), sequence_length=8))
    >>> fast = with_precision(classifier, "bf16")
    >>> precision_name(fast), fast.backbone.weights[0].dtype
    ('bfloat16', 'bfloat16')
    >>> logits = fast.predict(["great movie"], verbose=0)
    >>> bool(np.allclose(logits, classifier.predict(["great movie"], verbose=0), atol=0.05))
    True
    """
    precision = normalize_precision(precision)
    if precision == "float32":
        return model
    backbone_config = dict(model.backbone.get_config(), dtype=precision)
    backbone = type(model.backbone).from_config(backbone_config)
    # The task's own config with the parts given as objects: the new backbone, the same
    # preprocessor (its vocabulary is an asset, not in the config).
    config = dict(model.get_config(), backbone=backbone, preprocessor=model.preprocessor)
    copy = type(model)(**config)
    _copy_weights(model, copy)
    return copy


def _copy_weights(source, target):
    """Builds `target` like `source` and copies every weight by path, cast to the target's dtype."""
    if not target.built:
        target.build_from_config(source.get_build_config())
    sources = {v.path: v for v in source.weights}
    targets = {v.path: v for v in target.weights}
    if sorted(sources) != sorted(targets):
        missing = sorted(set(sources) ^ set(targets))[:3]
        raise RuntimeError(f"the {precision_name(target)} copy of {source.name} has other "
                           f"weights than the model: {missing}")
    for path, variable in targets.items():
        variable.assign(keras.ops.cast(sources[path].value, variable.dtype))


def precision_name(model):
    """The precision a task model computes its backbone in (`"float32"`, `"bfloat16"`, ...)."""
    return model.backbone.embeddings.compute_dtype


def cpu_model_name(cpuinfo="/proc/cpuinfo"):
    """The CPU's model name from `/proc/cpuinfo` (None where unreadable)."""
    if not os.path.isfile(cpuinfo):
        return None
    with open(cpuinfo, encoding="utf-8", errors="replace") as f:
        for line in f:
            if line.startswith("model name"):
                return line.partition(":")[2].strip()
    return None
