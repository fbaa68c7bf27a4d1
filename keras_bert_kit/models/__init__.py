"""Models: the backbone, the pretrainer and the task models (the `BertTask` contract).

`BertConfig` and the presets live in `keras_bert_kit.config` (`models.bert_config` re-exports
them for old imports).
"""
