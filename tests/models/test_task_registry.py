"""The task registry (`models/task_registry.py`): a `BertTask` class is its own one entry.

Declaring `task_name` / `hf_architecture` on the class is all it takes to be found by name, by
Hugging Face class and by `keras_bert_kit.load_model`; a toy task defined inside a test shows
it. A second copy of the table (architecture strings or task-name lists elsewhere) fails here.
"""

import ast
import json
import pathlib

import keras
import numpy as np
import pytest

import keras_bert_kit
from keras_bert_kit.checkpoints.checkpoint import HEAD_PREFIXES
from keras_bert_kit.errors import UserError
from keras_bert_kit.models import task_registry
from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.models.bert_task import BertTask
from keras_bert_kit.models.pretrained_task import checkpoint_task, load_task_model
from keras_bert_kit.models.task_registry import task_class, task_classes, task_for_architecture
from tests.helpers import TINY, random_inputs

PACKAGE = pathlib.Path(keras_bert_kit.__file__).parent

TASKS = {"classify": ("BertClassifier", "BertForSequenceClassification"),
         "tag": ("BertTokenClassifier", "BertForTokenClassification"),
         "squad": ("BertQuestionAnswerer", "BertForQuestionAnswering"),
         "multiple-choice": ("BertMultipleChoice", "BertForMultipleChoice")}


@pytest.fixture
def registry():
    """Leaves the registry as it found it, so a test's own task does not outlive the test."""
    task_classes()
    saved = dict(task_registry._TASKS)
    yield
    task_registry._TASKS.clear()
    task_registry._TASKS.update(saved)


def define_toy_task():
    """A task of one regression output on the pooled output, declared only in its class."""

    class ToyTask(BertTask):
        task_name = "toy"
        hf_architecture = "BertForToyTask"

        def __init__(self, backbone, preprocessor=None, **kwargs):
            # === Layers ===
            self.backbone = backbone
            self.preprocessor = self.adopt_preprocessor(preprocessor)
            self.output_dense = keras.layers.Dense(1, dtype="float32", name="toy_score")

            # === Functional model ===
            inputs = dict(backbone.input)
            score = self.output_dense(backbone(inputs)["pooled_output"])
            super().__init__(inputs=inputs, outputs=score, **kwargs)

        def default_loss(self):
            return keras.losses.MeanSquaredError()

        def serving_outputs(self, packed, text=None, text_pair=None):
            return {"score": self(packed, training=False)[:, 0]}

        def get_config(self):
            return {"name": self.name, "trainable": self.trainable,
                    "backbone": keras.saving.serialize_keras_object(self.backbone),
                    "preprocessor": self._serialize_preprocessor()}

        @classmethod
        def from_config(cls, config):
            return cls(**cls._deserialize_common(config))

    return ToyTask


def test_every_task_of_the_package_is_registered():
    classes = task_classes()
    assert {name: (cls.__name__, cls.hf_architecture) for name, cls in classes.items()} == TASKS
    for name, cls in classes.items():
        assert task_class(name) is cls and cls.task_name == name
        assert task_for_architecture(cls.hf_architecture) == name
        assert keras.saving.get_registered_name(cls) == f"keras_bert_kit>{cls.__name__}"
        assert getattr(keras_bert_kit, cls.__name__) is cls     # exported by its file name
    assert task_for_architecture("BertModel") is None and task_for_architecture(None) is None
    with pytest.raises(UserError, match=r"task 'nope': expected one of \['classify', "
                                        r"'multiple-choice', 'squad', 'tag'\]"):
        task_class("nope")


def test_a_task_defined_anywhere_is_found_by_name_architecture_and_load_model(registry, tmp_path):
    toy = define_toy_task()
    assert task_class("toy") is toy
    assert task_for_architecture("BertForToyTask") == "toy"
    assert "toy" in task_classes()

    model = toy(BertBackbone(**TINY))
    model.compile(optimizer="adam")
    model.save(tmp_path / "toy.keras")
    loaded = keras_bert_kit.load_model(tmp_path / "toy.keras")
    assert type(loaded) is toy
    # Recompiled from the saved config (`compile_from_config`), with the task's default loss.
    assert isinstance(loaded.optimizer, keras.optimizers.Adam)
    assert isinstance(loaded.loss, keras.losses.MeanSquaredError)
    inputs = random_inputs()
    # Same process, same kernels, weights read back exactly: bitwise by design.
    np.testing.assert_array_equal(loaded.predict(inputs, verbose=0),
                                  model.predict(inputs, verbose=0))

    folder = tmp_path / "toy-checkpoint"
    folder.mkdir()
    (folder / "config.json").write_text(json.dumps({"architectures": ["BertForToyTask"]}))
    assert checkpoint_task(folder) == "toy"


def test_the_registry_forgets_nothing_and_refuses_a_taken_name(registry):
    first = define_toy_task()
    second = define_toy_task()       # the same class statement run again replaces it
    assert task_class("toy") is second is not first

    class Subclass(task_class("classify")):    # inherits the name: not a task of its own
        pass

    assert task_class("classify").__name__ == "BertClassifier"
    with pytest.raises(TypeError, match="task_name = 'tag' is already .*BertTokenClassifier"):
        class Clash(BertTask):
            task_name = "tag"
    with pytest.raises(TypeError, match="hf_architecture = 'BertForToyTask' is already"):
        class SameHead(BertTask):
            task_name = "toy-2"
            hf_architecture = "BertForToyTask"


def test_load_task_model_names_the_registered_tasks(tmp_path):
    with pytest.raises(UserError, match=r"task 'nope': expected one of \["):
        load_task_model(tmp_path, task="nope")


def test_the_checkpoint_head_prefixes_agree_with_the_tasks():
    """`checkpoints/` sits below `models/` and reads head tensors by Hugging Face class
    (`HEAD_PREFIXES`): it must know exactly the registered tasks' classes and prefixes."""
    declared = {cls.hf_architecture: cls.hf_head_prefix for cls in task_classes().values()}
    assert HEAD_PREFIXES == declared


# Where an architecture string may appear outside the task classes' `hf_architecture`, and why.
ARCHITECTURE_STRINGS_ALLOWED = {
    "checkpoints/checkpoint.py": "the checkpoint floor names the head a checkpoint holds, below "
                                 "models/ (test_the_checkpoint_head_prefixes_agree_with_the_tasks)",
}
# Collections naming several task names that are not the task models' table, and why.
TASK_NAME_LISTS_ALLOWED = {
    "cli/train.py": "the training tasks (`training/tasks`, with `pretrain`), not the models",
}


def _string_constants(tree):
    """`(node, value, parent)` of every string constant in a module."""
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    return [(node, node.value, parents.get(node)) for node in ast.walk(tree)
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]


def _is_hf_architecture_declaration(parent):
    return (isinstance(parent, ast.Assign) and len(parent.targets) == 1
            and getattr(parent.targets[0], "id", None) == "hf_architecture")


def test_no_second_copy_of_the_task_table():
    architectures = {cls.hf_architecture for cls in task_classes().values()}
    names = set(task_classes())
    found = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE).as_posix()
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node, value, parent in _string_constants(tree):
            if (value in architectures and not _is_hf_architecture_declaration(parent)
                    and relative not in ARCHITECTURE_STRINGS_ALLOWED):
                found.append(f"{relative}:{node.lineno}: {value!r}")
        for node in ast.walk(tree):
            if isinstance(node, ast.Dict | ast.Tuple | ast.List | ast.Set):
                items = node.keys if isinstance(node, ast.Dict) else node.elts
                listed = {item.value for item in items if isinstance(item, ast.Constant)}
                if len(listed & names) >= 2 and relative not in TASK_NAME_LISTS_ALLOWED:
                    found.append(f"{relative}:{node.lineno}: {sorted(listed & names)}")
    assert not found, ("task names / Hugging Face classes are declared on the task classes "
                       "(task_name, hf_architecture); derive from models.task_registry instead "
                       "of: " + "; ".join(found))


def test_the_model_exports_follow_the_file_names():
    model_exports = {name: module for name, module in keras_bert_kit._EXPORTS.items()
                     if module.startswith("keras_bert_kit.models.")}
    files = sorted(p.stem for p in (PACKAGE / "models").glob("bert_*.py"))
    assert sorted(module.rpartition(".")[2] for module in model_exports.values()) == files
    for name in model_exports:
        cls = getattr(keras_bert_kit, name)
        assert isinstance(cls, type) and cls.__name__ == name
    assert {"BertBackbone", "BertPretrainer", "BertTask"} <= set(model_exports)
