"""bfloat16 exports: what the graph stores and computes, that stock loaders serve it, and how far
it is from the float32 model (a real checkpoint, all-MiniLM-L6-v2, and tiny task models)."""

import json
import os

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit import cli
from keras_bert_kit.errors import UserError
from keras_bert_kit.export import precision as precision_module
from keras_bert_kit.export.precision import (bf16_cpu_note, cpu_bf16_features,
                                             normalize_precision, with_precision)
from keras_bert_kit.export.saved_model import export_saved_model
from keras_bert_kit.export.serving_checks import ServingCheckError, op_report
from keras_bert_kit.models.bert_classifier import BertClassifier
from tests.export.test_export import tiny_classifier

SENTENCES = [
    "A gripping, beautifully acted film.", "Dull, overlong and badly written.",
    "The soundtrack is wonderful but the plot makes no sense at all.",
    "I would not watch it again.", "One of the best performances of the year!",
    "Émile's café served 寿司 and crêpes 🎉", "", "ok", "The the the the the the the.",
    "It was fine, I guess, for a rainy afternoon with nothing else to do.",
] * 2


def stored_dtypes(export_dir):
    """`{variable name: dtype}` of the float variables a SavedModel restores."""
    return {v.name: v.dtype for v in tf.saved_model.load(export_dir).variables
            if v.dtype.is_floating}


@pytest.fixture(scope="module")
def tiny_exports(tmp_path_factory):
    classifier = tiny_classifier()
    root = tmp_path_factory.mktemp("precision")
    f32 = export_saved_model(classifier, root / "m" / "1")
    bf16 = export_saved_model(classifier, root / "m" / "2", precision="bf16")
    return classifier, f32, bf16


def test_bfloat16_export_stores_backbone_weights_in_bfloat16_and_serves_float32(tiny_exports):
    classifier, f32, bf16 = tiny_exports
    assert bf16.precision == "bfloat16" and f32.precision == "float32"
    dtypes = stored_dtypes(bf16.path)
    assert len(dtypes) == len(classifier.weights)
    assert {n for n, d in dtypes.items() if d == tf.float32} == {"logits/kernel:0", "logits/bias:0"}
    assert sum(d == tf.bfloat16 for d in dtypes.values()) == len(classifier.backbone.weights)
    assert set(stored_dtypes(f32.path).values()) == {tf.float32}
    with open(bf16.declaration_file) as f:
        assert json.load(f)["precision"] == "bfloat16"
    loaded = tf.saved_model.load(bf16.path).signatures["serving_default"]
    out = loaded(text=tf.constant(SENTENCES))
    assert out["probabilities"].dtype == tf.float32 and out["label"].dtype == tf.string
    # the in-process float32 model vs the bfloat16 graph: close, with the summary saying so
    want = classifier.predict(SENTENCES, verbose=0)
    got = tf.math.log(out["probabilities"]).numpy()
    want = want - np.log(np.exp(want).sum(-1, keepdims=True))
    assert np.abs(got - want).max() < 0.05
    assert "bfloat16 vs float32 on the examples" in bf16.summary()
    assert bf16.precision_check["probabilities"]["max_abs_diff"] < 0.01
    assert bf16.max_abs_diff is not None  # fresh process, TF1 loader and saved_model_cli ran


def test_bfloat16_export_needs_no_other_ops_than_float32(tiny_exports):
    _, f32, bf16 = tiny_exports
    report32, report16 = op_report(f32.path), op_report(bf16.path)
    assert report16["non_core"] == report32["non_core"] == f32.non_core_ops
    assert set(report16["all"]) == set(report32["all"])
    assert not [op for op in report16["all"] if "Xla" in op]


@pytest.mark.slow  # real-checkpoint check: MiniLM exported twice
def test_bfloat16_export_is_close_to_float32_on_a_real_checkpoint(minilm_path, tmp_path):
    """all-MiniLM-L6-v2: the bfloat16 pooled output keeps its direction, probabilities stay close."""
    model = BertClassifier.from_pretrained(minilm_path, num_classes=3, sequence_length=64)
    f32 = export_saved_model(model, tmp_path / "m" / "1", check=False)
    bf16 = export_saved_model(model, tmp_path / "m" / "2", check=False, precision="bfloat16")
    a = tf.saved_model.load(f32.path).signatures["encode"](text=tf.constant(SENTENCES))
    b = tf.saved_model.load(bf16.path).signatures["encode"](text=tf.constant(SENTENCES))
    x, y = a["pooled_output"].numpy(), b["pooled_output"].numpy()
    cosine = (x * y).sum(-1) / np.linalg.norm(x, axis=-1) / np.linalg.norm(y, axis=-1)
    assert cosine.min() > 0.995, cosine
    assert b["pooled_output"].dtype == tf.float32
    p32 = tf.saved_model.load(f32.path).signatures["serving_default"](text=tf.constant(SENTENCES))
    p16 = tf.saved_model.load(bf16.path).signatures["serving_default"](text=tf.constant(SENTENCES))
    assert np.abs(p32["probabilities"].numpy() - p16["probabilities"].numpy()).max() < 0.02


@pytest.mark.parametrize("task", ["tag", "squad"])
@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_bfloat16_export_of_taggers_and_question_answerers(task, tmp_path):
    from tests.export.test_export_tagger_qa import (CONTEXTS, QUESTIONS, TAGGER_TEXTS,
                                                    make_answerer, make_tagger)

    if task == "tag":
        model, kwargs = make_tagger(), {"examples": TAGGER_TEXTS}
    else:
        model, kwargs = make_answerer(), {"examples": QUESTIONS, "example_pairs": CONTEXTS}
    report = export_saved_model(model, tmp_path / "m" / "1", precision="bf16", **kwargs)
    assert report.precision == "bfloat16" and report.max_abs_diff is not None
    agreements = [v["agreement"] for v in report.precision_check.values() if "agreement" in v]
    assert agreements and min(agreements) == 1.0, report.precision_check
    assert model.backbone.weights[0].dtype == "float32", "the exported model is not changed"


def test_a_bfloat16_result_too_far_from_float32_fails_and_writes_nothing(tmp_path):
    with pytest.raises(ServingCheckError, match="bfloat16 vs float32: output 'probabilities'"):
        export_saved_model(tiny_classifier(), tmp_path / "m" / "1", precision="bfloat16",
                           precision_atol=0.0)
    assert not os.path.exists(tmp_path / "m"), "checked before anything is written"


def test_precision_names_and_cpu_features(tmp_path):
    assert normalize_precision("fp32") == "float32" and normalize_precision("BF16") == "bfloat16"
    with pytest.raises(UserError, match="precision 'float16' is not one of float32, bfloat16"):
        normalize_precision("float16")
    intel = tmp_path / "intel"
    intel.write_text("processor\t: 0\nflags\t\t: fpu avx512f avx512_bf16 amx_bf16 amx_tile\n")
    arm = tmp_path / "arm"
    arm.write_text("processor\t: 0\nFeatures\t: fp asimd sve bf16 i8mm\n")
    zen3 = tmp_path / "zen3"
    zen3.write_text("processor\t: 0\nflags\t\t: fpu avx2 fma\n")
    assert cpu_bf16_features(str(intel)) == ["amx_bf16", "avx512_bf16"]
    assert cpu_bf16_features(str(arm)) == ["bf16"]
    assert cpu_bf16_features(str(zen3)) == [] == cpu_bf16_features(str(tmp_path / "missing"))
    assert "slower than float32 (measured on AVX2: 1.36x at batch 1, 1.24x at batch 32" in (
        bf16_cpu_note([]))


def test_bf16_slowdown_quoted_is_the_benchmarks():
    # One home for the figure: bench/results_cpu_paths.json; the warning's constant follows it.
    with open(os.path.join(os.path.dirname(__file__), "..", "..", "bench",
                           "results_cpu_paths.json"), encoding="utf-8") as f:
        measured = json.load(f)["summary"]["avx2_onednn_off"]
    for batch, quoted in precision_module.BF16_SLOWDOWN_ON_AVX2.items():
        case = measured[f"serve bs{batch.split()[-1]}"]
        assert round(case["ours_bf16"]["p50"] / case["ours"]["p50"], 2) == quoted


def test_float32_is_the_model_itself_and_bfloat16_a_copy():
    model = tiny_classifier()
    assert with_precision(model, "float32") is model
    copy = with_precision(model, "bf16")
    assert copy is not model and copy.preprocessor is model.preprocessor
    assert copy.label_vocabulary == model.label_vocabulary and copy.num_classes == model.num_classes
    for a, b in zip(model.backbone.weights, copy.backbone.weights):
        assert b.dtype == "bfloat16" and a.path == b.path
        np.testing.assert_array_equal(tf.cast(tf.cast(a.value, tf.bfloat16), tf.float32),
                                      tf.cast(b.value, tf.float32))


def test_kbk_export_precision_flag_and_warning_without_bf16_cpu(tmp_path, capsys, monkeypatch):
    model = tiny_classifier()
    model.save(tmp_path / "m.keras")
    monkeypatch.setattr(precision_module, "cpu_bf16_features", lambda *a: [])
    cli.main(["export", "--model", str(tmp_path / "m.keras"), "--output",
              str(tmp_path / "out" / "1"), "--precision", "bf16", "--no-check"])
    captured = capsys.readouterr()
    assert captured.err.count("kbk export: warning: this CPU has none of amx_bf16") == 1
    assert "precision: bfloat16" in captured.out
    with open(tmp_path / "out" / "1" / "assets.extra" / "keras_bert_kit.json") as f:
        assert json.load(f)["precision"] == "bfloat16"
