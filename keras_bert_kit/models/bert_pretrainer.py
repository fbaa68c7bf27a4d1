"""`BertPretrainer`: backbone + tied MLM head + NSP head, trained with `fit()` on MLM and NSP."""

import logging

import keras

from keras_bert_kit.layers.masked_lm_head import MaskedLMHead
from keras_bert_kit.layers.next_sentence_head import NextSentenceHead
from keras_bert_kit.models.bert_backbone import BertBackbone

logger = logging.getLogger(__name__)


@keras.saving.register_keras_serializable(package="keras_bert_kit")
class BertPretrainer(keras.Model):
    """BERT pretraining model: masked-language modelling and next-sentence prediction.

    Inputs: dict `token_ids`, `segment_ids`, `padding_mask` (`[batch, seq]`) and `mask_positions`
    (`[batch, max_predictions]`). Outputs: dict `mlm` (float32 logits
    `[batch, max_predictions, vocab]`, scored only at the masked positions with the output
    projection tied to the word embeddings) and `nsp` (float32 logits `[batch, 2]`; 0 = is next).
    Labels for `fit()`: `{"mlm": mask_ids, "nsp": next_sentence_labels}` with sample weights
    `{"mlm": mask_weights, "nsp": ones}` — exactly what `read_pretraining_records` yields.
    The backbone's last block runs only at [CLS] and the masked positions (the rows the heads
    read; `BertBackbone(..., query_positions=)`), with the same outputs and gradients.

    Args:
        backbone: a `BertBackbone`.

    Example:
    >>> model = BertPretrainer(BertBackbone.from_preset("bert_tiny_uncased"))
    >>> model.compile(optimizer="adam")
    """

    def __init__(self, backbone, **kwargs):
        # === Layers ===
        self.backbone = backbone
        self.masked_lm_head = MaskedLMHead(
            vocabulary_size=backbone.vocabulary_size, hidden_dim=backbone.hidden_dim,
            activation=backbone.hidden_act, layer_norm_epsilon=backbone.layer_norm_epsilon,
            initializer_range=backbone.initializer_range, token_embedding=backbone.token_embedding,
            dtype=backbone.embeddings.dtype_policy, name="mlm_head")
        self.next_sentence_head = NextSentenceHead(
            backbone.hidden_dim, initializer_range=backbone.initializer_range,
            dtype=backbone.embeddings.dtype_policy, name="nsp_head")

        # === Functional model ===
        inputs = dict(backbone.input)
        inputs["mask_positions"] = keras.Input(shape=(None,), dtype="int32", name="mask_positions")
        # The heads read only [CLS] and the masked rows, so the backbone's last block runs at
        # those rows alone (`query_positions`); outputs are those of the full-sequence path.
        encoded = backbone({k: inputs[k] for k in ("token_ids", "segment_ids", "padding_mask")},
                           query_positions=inputs["mask_positions"])
        mlm = self.masked_lm_head(encoded["sequence_output"])
        nsp = self.next_sentence_head(encoded["pooled_output"])
        outputs = {
            "mlm": keras.layers.Activation("linear", dtype="float32", name="mlm")(mlm),
            "nsp": keras.layers.Activation("linear", dtype="float32", name="nsp")(nsp),
        }
        super().__init__(inputs=inputs, outputs=outputs, **kwargs)

    def compile(self, optimizer="adam", loss=None, metrics=None, weighted_metrics=None, **kwargs):
        """`keras.Model.compile` with BERT's losses and metrics as defaults.

        MLM: cross-entropy over masked positions, averaged over `mask_weights` (padding slots of
        `mask_positions` carry weight 0); NSP: cross-entropy. Metrics: MLM and NSP accuracy.
        """
        if loss is None:
            loss = {
                "mlm": keras.losses.SparseCategoricalCrossentropy(
                    from_logits=True, reduction="mean_with_sample_weight"),
                "nsp": keras.losses.SparseCategoricalCrossentropy(from_logits=True),
            }
        if weighted_metrics is None:
            weighted_metrics = {"mlm": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}
        if metrics is None:
            metrics = {"nsp": [keras.metrics.SparseCategoricalAccuracy(name="accuracy")]}
        super().compile(optimizer=optimizer, loss=loss, metrics=metrics,
                        weighted_metrics=weighted_metrics, **kwargs)

    def compile_from_config(self, config):
        # Imported here: bert_task imports TensorFlow (tf.data text input), which the
        # pretrainer itself does not need, so the model also builds on other Keras backends.
        from keras_bert_kit.models.bert_task import recompile_from_config

        recompile_from_config(self, config)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable,
                "backbone": keras.saving.serialize_keras_object(self.backbone)}

    @classmethod
    def from_config(cls, config):
        config = dict(config)
        config["backbone"] = keras.saving.deserialize_keras_object(config["backbone"])
        return cls(**config)

    @classmethod
    def from_pretrained(cls, path, **backbone_kwargs):
        """Loads a BERT checkpoint; its MLM/NSP heads too when it has them.

        Without heads (e.g. a `BertModel` checkpoint) the heads start initialised, with the MLM
        output projection tied to the loaded word embeddings.
        """
        from keras_bert_kit.checkpoints import load_checkpoint
        from keras_bert_kit.checkpoints.weight_mapping import assign_weights, head_entries

        checkpoint = load_checkpoint(path)
        backbone = BertBackbone.from_checkpoint(checkpoint, **backbone_kwargs)
        model = cls(backbone)
        if checkpoint.has_pretraining_heads():
            assign_weights(head_entries(model.masked_lm_head, model.next_sentence_head), checkpoint,
                           optional_prefixes=("cls.seq_relationship.",))
        else:
            logger.warning("%s has no pretraining heads; the MLM/NSP heads start newly "
                           "initialised", checkpoint.source)
        return model

    def save_pretrained(self, path, tokenizer=None):
        """Writes a Hugging Face `BertForPreTraining` folder (`config.json` + `model.safetensors`,
        and `vocab.txt` + `tokenizer_config.json` when a `BertTokenizer` is given)."""
        from keras_bert_kit.checkpoints.hf_checkpoint import save_hf_folder, tokenizer_files
        from keras_bert_kit.checkpoints.weight_mapping import (backbone_state_dict, head_entries,
                                                               state_dict)

        tensors = backbone_state_dict(self.backbone, prefix="bert.")
        tensors.update(state_dict(head_entries(self.masked_lm_head, self.next_sentence_head)))
        files = None
        if tokenizer is not None:
            files = tokenizer_files(tokenizer, self.backbone.max_sequence_length)
        save_hf_folder(path, self.backbone.bert_config, tensors, architecture="BertForPreTraining",
                       files=files)
