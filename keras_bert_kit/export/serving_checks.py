"""Checks that an export serves: fresh-process reload, TF Serving's TF1 loader, `saved_model_cli`, op report.

The checks of an export run together in one subprocess that imports only `tensorflow` and
`tensorflow_text` — never this package — so a passing check means a stock TF Serving build with
tf-text ops can load it; one process start-up serves them all (`run_checks`).
"""

import dataclasses
import json
import os
import subprocess
import sys
import tempfile

import numpy as np

# Every check of an export, in one fresh interpreter that imports only tensorflow and
# tensorflow_text (one TF start-up, one load per loader). argv: a job.json written by `run_checks`.
_CHECKS = r"""
import json, os, sys
import numpy as np
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry
with open(sys.argv[1]) as f:
    job = json.load(f)
export_dir = job["export_dir"]
# The op report runs before tensorflow_text registers its ops, so they count as non-core.
if job.get("op_report"):
    sm = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, "saved_model.pb"), "rb") as f:
        sm.ParseFromString(f.read())
    ops, functions = set(), set()
    for meta in sm.meta_graphs:
        ops.update(n.op for n in meta.graph_def.node)
        for fn in meta.graph_def.library.function:
            ops.update(n.op for n in fn.node_def)
            functions.add(fn.signature.name)
    ops -= functions
    with open(job["op_report"], "w") as f:
        json.dump({"all": sorted(ops),
                   "non_core": sorted(o for o in ops if op_def_registry.get(o) is None)}, f)
import tensorflow_text  # registers the tokenizer ops
def as_input(values):  # nested lists of str (any rank) become bytes, numbers int32
    array = np.array(values, dtype=object)
    flat = array.ravel()
    if flat.size and isinstance(flat[0], str):
        return np.array([t.encode("utf-8") for t in flat], dtype=object).reshape(array.shape)
    return np.array(values, np.int32)
# String outputs go back as unicode arrays (no pickle); "surrogateescape" keeps every byte, so
# non-ASCII and even non-UTF-8 outputs compare exactly (a plain astype(str) fails on non-ASCII).
def as_text(v):
    if v.dtype != object:
        return v
    return np.array([b.decode("utf-8", "surrogateescape") for b in v.ravel()],
                    dtype=str).reshape(v.shape)
signatures = job.get("signatures", {})
feeds = {name: {k: as_input(v) for k, v in spec["inputs"].items()}
         for name, spec in signatures.items()}
results = {name: {} for name in signatures}
if signatures:
    loaded = tf.saved_model.load(export_dir)
    for name, inputs in feeds.items():
        out = loaded.signatures[name](**{k: tf.constant(v) for k, v in inputs.items()})
        results[name].update({"tf2/" + k: v.numpy() for k, v in out.items()})
    # TF Serving's own loading path: the TF1 session loader on the signatures' tensor names.
    with tf.compat.v1.Session(graph=tf.Graph()) as session:
        meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
        for name, inputs in feeds.items():
            sig = meta.signature_def[name]
            names = sorted(sig.outputs)
            values = session.run([sig.outputs[k].name for k in names],
                                 feed_dict={sig.inputs[k].name: v for k, v in inputs.items()})
            results[name].update({"tf1/" + k: v for k, v in zip(names, values)})
for name, spec in signatures.items():
    np.savez(spec["output"], **{k: as_text(v) for k, v in results[name].items()})
# `saved_model_cli run`, TF's own command-line runner, on its own parsing of the inputs.
cli = job.get("saved_model_cli")
if cli:
    from tensorflow.python.tools import saved_model_cli
    sys.argv = ["saved_model_cli", "run", "--dir", export_dir, "--tag_set", "serve",
                "--signature_def", cli["signature"], "--input_exprs", cli["exprs"],
                "--outdir", cli["outdir"], "--overwrite"]
    try:
        saved_model_cli.main()
    except SystemExit as e:
        if e.code:
            raise
    # Its string outputs are object arrays of bytes; stored as unicode so the caller reads them
    # without pickle ("surrogateescape": every byte kept, compared exactly).
    for name in os.listdir(cli["outdir"]):
        path = os.path.join(cli["outdir"], name)
        value = np.load(path, allow_pickle=True)  # written just now by saved_model_cli itself
        if value.dtype == object:
            np.save(path, as_text(value))
"""


def _text(value):
    """A string output element as `str`; bytes decoded losslessly (as the checks' subprocesses do)."""
    return value.decode("utf-8", "surrogateescape") if isinstance(value, bytes) else str(value)


class ServingCheckError(AssertionError):
    """An export failed a serving check (the message says which and by how much)."""


def _run(script, *args):
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    result = subprocess.run([sys.executable, "-c", script, *map(str, args)], capture_output=True,
                            text=True, env=env)
    if result.returncode:
        raise ServingCheckError(f"subprocess check failed:\n{result.stderr[-3000:]}")
    return result.stdout


@dataclasses.dataclass
class CheckResults:
    """What `run_checks` read back from the fresh process.

    Args:
        signatures: `{signature: {"tf2/<output>": array, "tf1/<output>": array}}`.
        saved_model_cli: `{output: array}` from `saved_model_cli run` (None: not run).
        op_report: `{"all": [...], "non_core": [...]}` (None: not asked for).
    """

    signatures: dict
    saved_model_cli: dict | None = None
    op_report: dict | None = None


def _cli_exprs(inputs):
    """`saved_model_cli --input_exprs` for `inputs`; texts as UTF-8 bytes literals (a numpy
    unicode array of non-ASCII text cannot be fed)."""
    def literal(value):
        if isinstance(value, list):
            return [literal(v) for v in value]
        return value.encode("utf-8") if isinstance(value, str) else value

    exprs = ";".join(f"{k}={literal(np.asarray(v).tolist())!r}" for k, v in inputs.items())
    if exprs.count(";") != len(inputs) - 1:
        raise ValueError("saved_model_cli splits --input_exprs on ';': use example texts without it")
    return exprs


def run_checks(export_dir, signatures=None, saved_model_cli_inputs=None, ops=False,
               cli_signature="serving_default"):
    """Runs an export's checks in one fresh tensorflow + tensorflow_text process.

    Args:
        export_dir: the SavedModel folder.
        signatures: `{signature: {input: values}}` run through TF2's loader and TF Serving's TF1
            session loader.
        saved_model_cli_inputs: `{input: values}` for `saved_model_cli run` on `cli_signature`
            (None: not run).
        ops: also list the ops the graph uses and those plain TensorFlow lacks.
        cli_signature: the signature `saved_model_cli` runs.

    Returns:
        A `CheckResults`.
    """
    signatures = signatures or {}
    with tempfile.TemporaryDirectory() as tmp:
        job = {"export_dir": os.fspath(export_dir), "signatures": {
            name: {"inputs": {k: np.asarray(v).tolist() for k, v in inputs.items()},
                   "output": os.path.join(tmp, f"signature{i}.npz")}
            for i, (name, inputs) in enumerate(signatures.items())}}
        if ops:
            job["op_report"] = os.path.join(tmp, "ops.json")
        if saved_model_cli_inputs is not None:
            job["saved_model_cli"] = {"signature": cli_signature,
                                      "exprs": _cli_exprs(saved_model_cli_inputs),
                                      "outdir": os.path.join(tmp, "cli")}
        job_file = os.path.join(tmp, "job.json")
        with open(job_file, "w") as f:
            json.dump(job, f)
        _run(_CHECKS, job_file)
        results = CheckResults(signatures={})
        for name, spec in job["signatures"].items():
            with np.load(spec["output"]) as data:
                results.signatures[name] = {k: data[k] for k in data.files}
        if ops:
            with open(job["op_report"]) as f:
                results.op_report = json.load(f)
        if saved_model_cli_inputs is not None:
            outdir = job["saved_model_cli"]["outdir"]
            results.saved_model_cli = {
                name[:-4]: np.load(os.path.join(outdir, name), allow_pickle=False)
                for name in os.listdir(outdir) if name.endswith(".npy")}
        return results


def op_report(export_dir):
    """`{"all": [...], "non_core": [...]}`: ops the graph uses, and those TF alone lacks (tf-text's)."""
    return run_checks(export_dir, ops=True).op_report


def run_in_fresh_process(export_dir, inputs, signature="serving_default"):
    """Runs a signature in a fresh tensorflow+tensorflow_text process, via TF2 and the TF1 loader.

    Returns `{"tf2/<output>": array, "tf1/<output>": array}`.
    """
    return run_checks(export_dir, {signature: inputs}).signatures[signature]


def run_saved_model_cli(export_dir, inputs, signature="serving_default"):
    """Runs `saved_model_cli run` (tf-text ops registered) and returns its outputs by name."""
    return run_checks(export_dir, saved_model_cli_inputs=inputs,
                      cli_signature=signature).saved_model_cli


def compare_outputs(expected, actual, where, atol=1e-5):
    """Raises `ServingCheckError` unless every expected output matches.

    Floats match within `atol`; strings (labels, answers) and integers (ids, byte offsets) must
    be equal, element by element.
    """
    worst = 0.0
    for name, value in expected.items():
        value = np.asarray(value)
        if name not in actual:
            raise ServingCheckError(f"{where}: output {name!r} missing (has {sorted(actual)})")
        other = np.asarray(actual[name])
        if other.shape != value.shape:
            raise ServingCheckError(f"{where}: output {name!r} has shape {other.shape}, expected {value.shape}")
        if value.dtype.kind == "f":
            diff = float(np.abs(other.astype(np.float64) - value).max(initial=0.0))
            worst = max(worst, diff)
            if diff > atol:
                raise ServingCheckError(f"{where}: output {name!r} differs by {diff:.3g} (> {atol})")
        elif value.dtype.kind in "OSU":
            got, want = [_text(v) for v in other.ravel()], [_text(v) for v in value.ravel()]
            if got != want:
                first = next(i for i, (g, w) in enumerate(zip(got, want)) if g != w)
                raise ServingCheckError(f"{where}: output {name!r} differs at flat index {first}: "
                                        f"{got[first]!r} != {want[first]!r}")
        elif not np.array_equal(other, value):
            raise ServingCheckError(f"{where}: output {name!r} differs")
    return worst
