"""The runner: `run(...)` and `kbk finetune classify` give the same run; task defaults; refusals."""

import json

import pytest

from keras_bert_kit import cli
from keras_bert_kit.errors import UserError
from keras_bert_kit.training import (ClassifyOptions, DataConfig, ModelConfig, OptimizerConfig,
                                     RunConfig, TrainingConfig, run)
from keras_bert_kit.training.runner import Runner
from tests.training.runner_fixtures import POSITIONS, TINY_FLAGS, make_tiny_classification


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return make_tiny_classification(tmp_path_factory.mktemp("tiny"))


def tiny_configs(tiny, output, **model):
    return dict(model=ModelConfig(init=str(tiny["init"]), **{"sequence_length": 8, **model}),
                data=DataConfig(train=str(tiny["train"]), dev=str(tiny["dev"]), batch_size=8),
                optimizer=OptimizerConfig(learning_rate=1e-3),
                run=RunConfig(output_dir=str(output), epochs=1, jit_compile=False, verbose=0))


@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_run_and_the_command_line_write_the_same_metrics(tiny, tmp_path, capsys):
    from_api = run("classify", **tiny_configs(tiny, tmp_path / "api"))
    assert cli.main(["finetune", "classify", "--train", str(tiny["train"]), "--dev",
                     str(tiny["dev"]), "--init", str(tiny["init"]), "--output",
                     str(tmp_path / "cli"), *TINY_FLAGS]) is None  # the script's exit status 0
    printed = json.loads(capsys.readouterr().out)
    assert set(printed) == {"dev_metrics", "train_seconds"}
    saved = {name: json.loads((tmp_path / name / "metrics.json").read_text())
             for name in ("api", "cli")}
    from_cli = saved["cli"]
    assert from_api == saved["api"]
    assert set(saved["api"]) == set(saved["cli"]) == {
        "dev_metrics", "train_seconds", "train_examples", "dev_examples", "epochs", "history",
        "settings", "label_vocabulary"}
    assert saved["api"]["settings"] == saved["cli"]["settings"]
    assert set(saved["api"]["dev_metrics"]) == set(saved["cli"]["dev_metrics"]) == {
        "loss", "accuracy", "f1", "matthews_correlation"}
    for name in saved["api"]["dev_metrics"]:  # same seed, same data: the same run
        assert from_cli["dev_metrics"][name] == pytest.approx(from_api["dev_metrics"][name],
                                                              abs=1e-5)
    for name in ("model.keras", "history.csv", "metrics.json"):
        assert (tmp_path / "cli" / name).exists()


def test_task_defaults_fill_what_is_not_given():
    squad = Runner("squad", TrainingConfig(model=ModelConfig(init="m/"),
                                           data=DataConfig(train="t.json", dev="d.json")))
    assert (squad.config.model.sequence_length, squad.config.run.epochs,
            squad.config.run.output_dir, squad.config.optimizer.learning_rate) == (
        384, 2, "runs/squad", 5e-5)
    pretraining = Runner("pretrain", TrainingConfig(
        model=ModelConfig(preset="bert_tiny_uncased", vocab_file="v.txt"),
        data=DataConfig(train="a.tfrecord"), run=RunConfig(output_dir="runs/p")))
    assert pretraining.config.optimizer.learning_rate == 1e-4
    assert pretraining.resuming and squad.backing_up and not squad.resuming  # nothing to resume
    given = Runner("classify", TrainingConfig(
        model=ModelConfig(init="m/", sequence_length=64), data=DataConfig(train="t", dev="d"),
        run=RunConfig(epochs=5)))
    assert (given.config.model.sequence_length, given.config.run.epochs) == (64, 5)
    assert isinstance(given.config.options, ClassifyOptions)


@pytest.mark.parametrize("task, configs, message", [
    ("classify", dict(model=ModelConfig(init="m/", preset="bert_tiny_uncased"),
                      data=DataConfig(train="t", dev="d")),
     "classify does not use model.preset"),
    ("classify", dict(model=ModelConfig(init="m/"), data=DataConfig(train="t")),
     "classify needs data.dev"),
    ("pretrain", dict(model=ModelConfig(init="m/", sequence_length=64, vocab_file="v"),
                      data=DataConfig(train="t"), run=RunConfig(output_dir="o")),
     "pretrain does not use model.sequence_length"),
    ("pretrain", dict(model=ModelConfig(vocab_file="v"), data=DataConfig(train="t"),
                      run=RunConfig(output_dir="o")),
     "exactly one of preset"),
    ("tag", dict(model=ModelConfig(init="m/"), data=DataConfig(train="t", dev="d"),
                 options=ClassifyOptions()),
     "tag takes options=TagOptions"),
    ("parse", dict(), "unknown task 'parse'"),
])
def test_settings_a_task_cannot_use_are_refused_before_anything_runs(task, configs, message):
    with pytest.raises(UserError, match=message):
        run(task, **configs)


@pytest.mark.parametrize("make, message", [
    (lambda: DataConfig(batch_size=0), r"DataConfig.batch_size=0: expected a positive number"),
    (lambda: RunConfig(epochs=-1), r"RunConfig.epochs=-1: expected a positive number"),
    (lambda: OptimizerConfig(warmup_ratio=1.5), r"warmup_ratio=1.5: expected a number from 0"),
    (lambda: RunConfig(strategy="cluster"), r"strategy='cluster': expected one of auto"),
    (lambda: ClassifyOptions(pooling="max"), r"pooling='max': expected one of pooled, mean"),
])
def test_bad_values_are_refused_when_the_config_is_made(make, message):
    with pytest.raises(UserError, match=message):
        make()


def test_a_sequence_length_beyond_the_model_is_refused_before_training(tiny, tmp_path):
    with pytest.raises(UserError, match=rf"sequence_length=64 is more than the {POSITIONS} "
                                        "positions"):
        run("classify", **tiny_configs(tiny, tmp_path / "out", sequence_length=64))
    assert not (tmp_path / "out" / "history.csv").exists()
