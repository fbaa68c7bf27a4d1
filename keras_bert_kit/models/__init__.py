"""Models: the backbone, the pretrainer and the task models (the `BertTask` contract).

`BertConfig` and the presets live in `keras_bert_kit.config`. Each `bert_*.py` holds the one
public class named after it (`keras_bert_kit/__init__.py` exports them by that rule); the task
models are found by name and Hugging Face class through `task_registry.py`.
"""
