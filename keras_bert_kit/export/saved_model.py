"""`export_saved_model`: one call from a task model to a text-in SavedModel that TF Serving loads.

Nothing half-written, nothing lost (`export/versions.py`): the export is written to a hidden
staging folder beside the version folder, checked and synced there, then moved into place; an
existing version is replaced only with `overwrite=True`, and only once the new one passed its
checks; leftovers of a killed export are removed by the next one; modes follow the umask."""

import dataclasses
import os
import shutil

import numpy as np
import tensorflow as tf

from keras_bert_kit.export import serving_checks
from keras_bert_kit.export.declaration import DECLARATION_FILE
from keras_bert_kit.export.precision import bf16_cpu_note, normalize_precision, with_precision
from keras_bert_kit.export.serving_module import ServingModule
from keras_bert_kit.export.versions import check_export_target, move_into_place
from keras_bert_kit.export.warmup import write_warmup_requests
from keras_bert_kit.files import staging_folder, sync_tree

# bfloat16 keeps 8 significant bits: probabilities of a served classifier move by a few 1e-3.
BF16_ATOL = 0.05

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
        declaration_file: path of `assets.extra/keras_bert_kit.json` (task, decoder, signature
            inputs: what `ExportedModel`, `kbk predict` and `serving/client.py` read).
        precision: `"float32"` or `"bfloat16"`, what the served backbone computes in.
        precision_check: for a bfloat16 export checked against the float32 model: per output of
            `serving_default`, `max_abs_diff` (floats) or `agreement` (labels, ids), on the
            examples (None: float32, or unchecked).
        cpu_note: for a bfloat16 export, whether the exporting CPU computes bfloat16 natively.
    """

    path: str
    signatures: list
    non_core_ops: list
    max_abs_diff: float | None
    warmup_file: str | None
    declaration_file: str | None = None
    precision: str = "float32"
    precision_check: dict | None = None
    cpu_note: str | None = None

    def summary(self):
        lines = [f"SavedModel: {self.path}", f"signatures: {', '.join(self.signatures)}",
                 f"ops beyond core TensorFlow (need tensorflow-text in TF Serving): "
                 f"{', '.join(self.non_core_ops) or 'none'}"]
        if self.max_abs_diff is not None:
            lines.append("serving checks passed (fresh tensorflow+tensorflow_text process, TF1 "
                         f"session loader, saved_model_cli): max |Δ| = {self.max_abs_diff:.2e}")
        if self.precision != "float32":
            lines.append(f"precision: {self.precision} (backbone weights and matmuls; LayerNorm, "
                         "softmax, head and outputs float32)")
        if self.precision_check:
            lines.append(f"{self.precision} vs float32 on the examples: " + ", ".join(
                f"{name} " + (f"max |Δ| {v['max_abs_diff']:.2e}" if "max_abs_diff" in v
                              else f"agreement {100 * v['agreement']:.0f} %")
                for name, v in sorted(self.precision_check.items())))
        if self.cpu_note:
            lines.append(self.cpu_note)
        if self.warmup_file:
            lines.append(f"warm-up requests: {self.warmup_file}")
        return "\n".join(lines)


def example_inputs(signature, examples, example_pairs=None):
    """Example inputs of a signature, built from its declared input specs (no task knowledge).

    String inputs of shape `[batch]` take `examples` (the first one) and `example_pairs` (the
    second; default: the examples reversed); a string input of shape `[batch, k]` takes `k`
    examples per row, rotating through them. A dict `examples` (`{input name: values}`) is
    used as it is.

    Returns:
        `{input name: numpy object array}`, or None when the signature has non-string inputs
        (such as `token_ids`) and no dict was given.

    Example:
    >>> import tensorflow as tf
    >>> from keras_bert_kit.models.serving_signature import ServingSignature
    >>> sig = ServingSignature(None, {"text": tf.TensorSpec([None], tf.string),
    ...                               "choices": tf.TensorSpec([None, 2], tf.string)})
    >>> {k: v.tolist() for k, v in example_inputs(sig, ["a", "b", "c"]).items()}
    {'text': ['a', 'b', 'c'], 'choices': [['b', 'a'], ['a', 'c'], ['c', 'b']]}
    """
    if isinstance(examples, dict):
        return {name: np.array(examples[name], dtype=object) for name in signature.input_names}
    examples = list(examples)
    pairs = list(example_pairs) if example_pairs is not None else examples[::-1]
    inputs, seen = {}, 0
    for name, spec in signature.inputs.items():
        if spec.dtype != tf.string or spec.shape.rank not in (1, 2):
            return None
        texts = examples if seen == 0 else pairs
        if spec.shape.rank == 2:
            width = int(spec.shape[1])
            texts = [[texts[(i + seen + j) % len(texts)] for j in range(width)]
                     for i in range(len(examples))]
        inputs[name] = np.array(texts, dtype=object)
        seen += 1
    return inputs


def export_saved_model(model, path, *, check=True, warmup=True, examples=None, example_pairs=None,
                       overwrite=False, atol=None, pad_to_multiple_of=8, precision="float32",
                       precision_atol=BF16_ATOL):
    """Exports `model` with its preprocessor as a SavedModel taking raw strings.

    The folder is TF Serving's layout (`saved_models/<name>/<version>/`); it is written to a
    hidden staging folder beside it and moved into place only after everything (and, with
    `check`, every serving check) succeeded, so a failed or killed export leaves nothing behind
    and an existing version is either kept or replaced whole (see the module docstring). The served
    functions are the model's declaration (`serving_signatures`); the export records them with
    the task's decoder in `assets.extra/keras_bert_kit.json`.

    Args:
        model: a task model with a `preprocessor` (any `BertTask`).
        path: the version folder, e.g. `"saved_models/sentiment/1"`.
        check: reload in a fresh process (TF2 and TF Serving's TF1 loader) and through
            `saved_model_cli`, and compare with in-process outputs, for every signature whose
            inputs are strings.
        warmup: write `assets.extra/tf_serving_warmup_requests` (on `serving_default`).
        examples: texts for the checks and warm-up (default: a mixed set), or a dict
            `{input name: values}` for `serving_default` (see `example_inputs`).
        example_pairs: second texts for pair models (default: the examples reversed).
        overwrite: replace an existing export at `path` (once the new one passed its checks);
            without it an existing, non-empty `path` is a `UserError`.
        atol: tolerance of the reload comparison (default: 1e-5 for float32, 1e-3 for
            bfloat16, whose kernels may differ between processes in their rounding).
        pad_to_multiple_of: requests run at their longest text rounded up to a multiple of this,
            not the full sequence length, where the task allows (same outputs, less work; see
            `BertTask.serving_signatures`); None: always the full length.

    Returns:
        An `ExportReport`.

    Example:
    >>> vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "great", "movie"]
    >>> classifier = BertClassifier(
    ...     BertBackbone(len(vocab), num_layers=1, num_heads=2, hidden_dim=8, intermediate_dim=8),
    ...     num_classes=2, preprocessor=BertPreprocessor(BertTokenizer(vocab), sequence_length=8))
    >>> report = export_saved_model(classifier, "saved_models/sentiment/1", check=False)
    >>> report.signatures
    ['encode', 'serving_default', 'token_ids']
    >>> print(report.summary())  # doctest: +ELLIPSIS
    SavedModel: .../saved_models/sentiment/1
    signatures: encode, serving_default, token_ids
    ops beyond core TensorFlow (need tensorflow-text in TF Serving): ...
    warm-up requests: .../saved_models/sentiment/1/assets.extra/tf_serving_warmup_requests
    """
    path = os.path.abspath(os.fspath(path))
    check_export_target(path, overwrite)
    precision = normalize_precision(precision)
    atol = atol if atol is not None else (1e-5 if precision == "float32" else 1e-3)
    module = ServingModule(with_precision(model, precision), pad_to_multiple_of=pad_to_multiple_of)
    examples = examples if isinstance(examples, dict) else list(examples or DEFAULT_EXAMPLES)
    inputs = {name: example_inputs(signature, examples, example_pairs)
              for name, signature in module.signatures.items()}
    precision_check = None
    if check and precision != "float32" and inputs.get("serving_default") is not None:
        precision_check = compare_with_float32(model, module, inputs["serving_default"],
                                               pad_to_multiple_of, precision_atol)

    parent = os.path.dirname(path)
    staging = staging_folder(path)
    try:
        module.write(staging)
        warmup_file = None
        if warmup and inputs.get("serving_default") is not None:
            write_warmup_requests(staging, os.path.basename(parent) or "model",
                                  inputs["serving_default"])
            warmup_file = os.path.join(path, "assets.extra", "tf_serving_warmup_requests")
        worst = None
        if check:
            non_core, worst = _check(module, staging, inputs, atol)
        else:
            non_core = serving_checks.op_report(staging)["non_core"]
        sync_tree(staging)
        move_into_place(staging, path, overwrite)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return ExportReport(path=path, signatures=sorted(module.signatures), non_core_ops=non_core,
                        max_abs_diff=worst, warmup_file=warmup_file,
                        declaration_file=os.path.join(path, DECLARATION_FILE),
                        precision=precision, precision_check=precision_check,
                        cpu_note=None if precision == "float32" else bf16_cpu_note())


def compare_with_float32(model, module, inputs, pad_to_multiple_of, limit=BF16_ATOL):
    """`serving_default` of a reduced-precision `module` against the float32 `model`.

    Returns `{output: {"max_abs_diff": float} | {"agreement": fraction}}`; raises
    `ServingCheckError` when a float output differs by more than `limit` times its largest
    magnitude (at least 1). Labels and ids are reported, not enforced: on near-ties (a random
    head, an ambiguous example) bfloat16 rounding may pick the other class.
    """
    reference = model.serving_signatures(pad_to_multiple_of=pad_to_multiple_of)["serving_default"]
    tensors = [tf.constant(v) for v in inputs.values()]
    want = {k: v.numpy() for k, v in tf.function(reference.fn)(*tensors).items()}
    got = {k: v.numpy() for k, v in module.endpoints["serving_default"](*tensors).items()}
    report = {}
    for name, value in want.items():
        other = got[name]
        if value.dtype.kind == "f":
            diff = float(np.abs(other.astype(np.float64) - value).max(initial=0.0))
            report[name] = {"max_abs_diff": diff}
            scale = max(1.0, float(np.abs(value).max(initial=0.0)))
            if diff > limit * scale:
                raise serving_checks.ServingCheckError(
                    f"{module.model.backbone.embeddings.compute_dtype} vs float32: output "
                    f"{name!r} differs by {diff:.3g} (> {limit} x {scale:.3g}); export float32")
        else:
            same = np.asarray(other).ravel() == np.asarray(value).ravel()
            report[name] = {"agreement": float(same.mean()) if same.size else 1.0}
    return report


def _check(module, export_dir, inputs, atol):
    """The non-core ops and the worst difference over every signature with example inputs, in
    one fresh process: TF2 and the TF1 session loader, and `saved_model_cli run` for
    `serving_default`."""
    inputs = {name: values for name, values in inputs.items() if values is not None}
    checked = serving_checks.run_checks(export_dir, inputs, ops=True,
                                        saved_model_cli_inputs=inputs.get("serving_default"))
    worst = 0.0
    for name, signature_inputs in inputs.items():
        expected = {k: v.numpy() for k, v in module.endpoints[name](
            *[tf.constant(v) for v in signature_inputs.values()]).items()}
        fresh = checked.signatures[name]
        for prefix in ("tf2/", "tf1/"):
            where = "fresh process" if prefix == "tf2/" else "TF1 session loader (TF Serving's path)"
            got = {k[len(prefix):]: v for k, v in fresh.items() if k.startswith(prefix)}
            worst = max(worst, serving_checks.compare_outputs(
                expected, got, where if name == "serving_default" else f"{where} / {name}", atol))
        if name == "serving_default":
            worst = max(worst, serving_checks.compare_outputs(
                expected, checked.saved_model_cli, "saved_model_cli run", atol))
    return checked.op_report["non_core"], worst
