"""Layers: BERT embeddings, self-attention, transformer encoder block, pooler, MLM and NSP heads."""

from keras_bert_kit.layers.attention import BertSelfAttention
from keras_bert_kit.layers.bert_embeddings import BertEmbeddings
from keras_bert_kit.layers.hash_dropout import HashDropout
from keras_bert_kit.layers.masked_lm_head import MaskedLMHead
from keras_bert_kit.layers.mean_pooling import MeanPooling
from keras_bert_kit.layers.next_sentence_head import NextSentenceHead
from keras_bert_kit.layers.pooler import BertPooler
from keras_bert_kit.layers.transformer_encoder import TransformerEncoder

__all__ = ["BertEmbeddings", "BertPooler", "BertSelfAttention", "HashDropout", "MaskedLMHead",
           "MeanPooling", "NextSentenceHead", "TransformerEncoder"]
