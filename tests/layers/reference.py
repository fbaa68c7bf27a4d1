"""Plain numpy BERT attention and block (separate heads, post-LN, erf GELU) to compare with."""

import math

import numpy as np


def _weights(dense):
    return dense.kernel.numpy(), dense.bias.numpy()


def layer_norm(t, ln, epsilon=1e-12):
    normed = (t - t.mean(-1, keepdims=True)) / np.sqrt(t.var(-1, keepdims=True) + epsilon)
    return normed * ln.gamma.numpy() + ln.beta.numpy()


def self_attention(attention, x, mask, score_scale=1.0):
    """`BertSelfAttention` in numpy: scores (times `score_scale`), padding bias, softmax, output."""
    kernel, bias = _weights(attention.qkv_dense)
    q, k, v = np.split(x @ kernel + bias, 3, axis=-1)
    heads, dim = attention.num_heads, attention.hidden_dim // attention.num_heads

    def split(t):
        return t.reshape(t.shape[0], t.shape[1], heads, dim).transpose(0, 2, 1, 3)

    scores = split(q) @ split(k).transpose(0, 1, 3, 2) / math.sqrt(dim) * score_scale
    scores = scores + (1 - mask[:, None, None, :]) * -1e4
    probs = np.exp(scores - scores.max(-1, keepdims=True))
    probs /= probs.sum(-1, keepdims=True)
    context = (probs @ split(v)).transpose(0, 2, 1, 3).reshape(x.shape)
    out_kernel, out_bias = _weights(attention.output_dense)
    return context @ out_kernel + out_bias


def encoder_block(block, x, mask, score_scale=1.0):
    """`TransformerEncoder` in numpy, around `self_attention`."""
    h = layer_norm(x + self_attention(block.attention, x, mask, score_scale),
                   block.attention_layer_norm)
    kernel, bias = _weights(block.intermediate_dense)
    inner = h @ kernel + bias
    gelu = 0.5 * inner * (1 + np.vectorize(math.erf)(inner / math.sqrt(2)))
    kernel, bias = _weights(block.output_dense)
    return layer_norm(h + gelu @ kernel + bias, block.output_layer_norm)
