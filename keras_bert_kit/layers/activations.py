"""Activation lookup shared by the encoder block and the MLM head (BERT's names, HF's semantics)."""

import keras
from keras import ops


def _gelu_exact(x):
    # erf has no vectorized bfloat16 kernel on CPU (several times float32's time there): compute
    # it in float32, which also keeps the activation exact; float32 inputs are unchanged.
    if keras.backend.standardize_dtype(x.dtype) == "bfloat16":
        return ops.cast(keras.activations.gelu(ops.cast(x, "float32"), approximate=False),
                        "bfloat16")
    return keras.activations.gelu(x, approximate=False)


def _gelu_tanh(x):
    return keras.activations.gelu(x, approximate=True)


_ACTIVATIONS = {
    "gelu": _gelu_exact,
    "gelu_new": _gelu_tanh,
    "gelu_pytorch_tanh": _gelu_tanh,
    "relu": keras.activations.relu,
    "tanh": ops.tanh,
    "silu": keras.activations.silu,
    "swish": keras.activations.silu,
}


def get_activation(name):
    """Returns the activation function for a Hugging Face `hidden_act` name."""
    if name not in _ACTIVATIONS:
        raise ValueError(f"Unknown activation {name!r}; expected one of {sorted(_ACTIVATIONS)}")
    return _ACTIVATIONS[name]


def initializer(stddev):
    """BERT's weight initializer: truncated normal with the config's `initializer_range`."""
    return keras.initializers.TruncatedNormal(stddev=stddev)
