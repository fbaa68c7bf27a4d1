"""`export_saved_model`: one call from a task model to a text-in SavedModel that TF Serving loads."""

import dataclasses
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from keras_bert_kit.export import serving_checks
from keras_bert_kit.export.serving_module import ServingModule
from keras_bert_kit.export.warmup import write_warmup_requests

DEFAULT_EXAMPLES = [
    "A gripping, beautifully acted film.",
    "Dull, overlong and badly written.",
    "",
    "   ",
    "Émile's café served 寿司 and crêpes 🎉",
]


@dataclasses.dataclass
class ExportReport:
    """What `export_saved_model` wrote and verified.

    Args:
        path: the SavedModel folder (`.../<name>/<version>`).
        signatures: signature names.
        non_core_ops: ops TF Serving needs beyond core TensorFlow (the tf-text ops).
        max_abs_diff: worst difference between in-process and reloaded outputs (None: unchecked).
        warmup_file: path of the warm-up requests (None: not written).
    """

    path: str
    signatures: list
    non_core_ops: list
    max_abs_diff: float | None
    warmup_file: str | None

    def summary(self):
        lines = [f"SavedModel: {self.path}", f"signatures: {', '.join(self.signatures)}",
                 f"ops beyond core TensorFlow (need tensorflow-text in TF Serving): "
                 f"{', '.join(self.non_core_ops) or 'none'}"]
        if self.max_abs_diff is not None:
            lines.append("serving checks passed (fresh tensorflow+tensorflow_text process, TF1 "
                         f"session loader, saved_model_cli): max |Δ| = {self.max_abs_diff:.2e}")
        if self.warmup_file:
            lines.append(f"warm-up requests: {self.warmup_file}")
        return "\n".join(lines)


def export_saved_model(model, path, *, check=True, warmup=True, examples=None, example_pairs=None,
                       overwrite=True, atol=1e-5, pad_to_multiple_of=8):
    """Exports `model` with its preprocessor as a SavedModel taking raw strings.

    The folder is TF Serving's layout (`saved_models/<name>/<version>/`); it is written to a
    temporary folder beside it and renamed into place only after everything (and, with `check`,
    every serving check) succeeded, so a failed export leaves nothing behind.

    Args:
        model: a task model with a `preprocessor` (e.g. `BertClassifier`).
        path: the version folder, e.g. `"saved_models/sentiment/1"`.
        check: reload in a fresh process (TF2 and TF Serving's TF1 loader) and through
            `saved_model_cli run`, and compare with in-process outputs.
        warmup: write `assets.extra/tf_serving_warmup_requests`.
        examples: texts for the checks and warm-up (default: a mixed set).
        example_pairs: second texts for pair models (default: the examples reversed).
        overwrite: replace an existing export at `path`.
        atol: tolerance of the output comparison.
        pad_to_multiple_of: classifiers and `encode` run each request at its longest text's
            length rounded up to a multiple of this, not the full sequence length (same outputs,
            less work: see `ServingModule`); None: always the full length.

    Returns:
        An `ExportReport`.

    Example:
    >>> report = export_saved_model(classifier, "saved_models/sentiment/1")  # doctest: +SKIP
    >>> print(report.summary())  # doctest: +SKIP
    """
    path = os.path.abspath(os.fspath(path))
    if os.path.exists(path) and not overwrite:
        raise FileExistsError(f"{path} exists; pass overwrite=True to replace it")
    module = ServingModule(model, pad_to_multiple_of=pad_to_multiple_of)
    examples = list(examples or DEFAULT_EXAMPLES)
    inputs = {"text": np.array(examples, dtype=object)}
    if module.pair:
        inputs["text_pair"] = np.array(example_pairs or examples[::-1], dtype=object)

    parent = os.path.dirname(path)
    os.makedirs(parent, exist_ok=True)
    staging = tempfile.mkdtemp(prefix=f".{os.path.basename(path)}.staging-", dir=parent)
    try:
        module.write(staging)
        signatures = list(module.endpoints)
        warmup_file = None
        if warmup:
            write_warmup_requests(staging, os.path.basename(parent) or "model", examples,
                                  inputs.get("text_pair"))
            warmup_file = os.path.join(path, "assets.extra", "tf_serving_warmup_requests")
        non_core = serving_checks.op_report(staging)["non_core"]
        worst = None
        if check:
            worst = _check(module, staging, inputs, atol)
        if os.path.exists(path):
            shutil.rmtree(path)
        os.replace(staging, path)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportReport(path=path, signatures=sorted(signatures), non_core_ops=non_core,
                        max_abs_diff=worst, warmup_file=warmup_file)


def _check(module, export_dir, inputs, atol):
    expected = {k: v.numpy() for k, v in
                module.endpoints["serving_default"](*[tf.constant(v) for v in inputs.values()]).items()}
    text_only = {"text": inputs["text"]}
    expected_encode = {k: v.numpy() for k, v in
                       module.endpoints["encode"](tf.constant(inputs["text"])).items()}
    worst = 0.0
    fresh = serving_checks.run_in_fresh_process(export_dir, inputs)
    encode = serving_checks.run_in_fresh_process(export_dir, text_only, signature="encode")
    for prefix in ("tf2/", "tf1/"):
        where = "fresh process" if prefix == "tf2/" else "TF1 session loader (TF Serving's path)"
        got = {k[len(prefix):]: v for k, v in fresh.items() if k.startswith(prefix)}
        worst = max(worst, serving_checks.compare_outputs(expected, got, where, atol))
        got = {k[len(prefix):]: v for k, v in encode.items() if k.startswith(prefix)}
        worst = max(worst, serving_checks.compare_outputs(expected_encode, got, where + " / encode", atol))
    cli = serving_checks.run_saved_model_cli(export_dir, inputs)
    worst = max(worst, serving_checks.compare_outputs(expected, cli, "saved_model_cli run", atol))
    return worst
