"""Checks that an export serves: fresh-process reload, TF Serving's TF1 loader, `saved_model_cli`, op report.

Each check runs in a subprocess that imports only `tensorflow` and `tensorflow_text` — never
this package — so a passing check means a stock TF Serving build with tf-text ops can load it.
"""

import json
import os
import subprocess
import sys
import tempfile

import numpy as np

# Runs in a fresh interpreter. argv: export_dir, inputs.json, outputs.npz, signature.
_FRESH_PROCESS = r"""
import json, sys
import numpy as np
import tensorflow as tf
import tensorflow_text  # registers the tokenizer ops
export_dir, inputs_path, out_path, signature = sys.argv[1:5]
def as_input(values):  # nested lists of str (any rank) become bytes, numbers int32
    array = np.array(values, dtype=object)
    flat = array.ravel()
    if flat.size and isinstance(flat[0], str):
        return np.array([t.encode("utf-8") for t in flat], dtype=object).reshape(array.shape)
    return np.array(values, np.int32)
with open(inputs_path) as f:
    inputs = {k: as_input(v) for k, v in json.load(f).items()}
results = {}
loaded = tf.saved_model.load(export_dir)
out = loaded.signatures[signature](**{k: tf.constant(v) for k, v in inputs.items()})
results.update({"tf2/" + k: v.numpy() for k, v in out.items()})
# TF Serving's own loading path: the TF1 session loader on the signature's tensor names.
with tf.compat.v1.Session(graph=tf.Graph()) as session:
    meta = tf.compat.v1.saved_model.loader.load(session, ["serve"], export_dir)
    sig = meta.signature_def[signature]
    feed = {sig.inputs[k].name: v for k, v in inputs.items()}
    names = sorted(sig.outputs)
    values = session.run([sig.outputs[k].name for k in names], feed_dict=feed)
    results.update({"tf1/" + k: v for k, v in zip(names, values)})
# String outputs go back as unicode arrays (no pickle); "surrogateescape" keeps every byte, so
# non-ASCII and even non-UTF-8 outputs compare exactly (a plain astype(str) fails on non-ASCII).
def as_text(v):
    if v.dtype != object:
        return v
    return np.array([b.decode("utf-8", "surrogateescape") for b in v.ravel()],
                    dtype=str).reshape(v.shape)
np.savez(out_path, **{k: as_text(v) for k, v in results.items()})
"""

# `saved_model_cli run` with the tf-text ops registered first. argv: export_dir, signature,
# input_exprs, outdir.
_SAVED_MODEL_CLI = r"""
import sys
import tensorflow_text  # registers the tokenizer ops
from tensorflow.python.tools import saved_model_cli
export_dir, signature, exprs, outdir = sys.argv[1:5]
sys.argv = ["saved_model_cli", "run", "--dir", export_dir, "--tag_set", "serve",
            "--signature_def", signature, "--input_exprs", exprs, "--outdir", outdir, "--overwrite"]
try:
    saved_model_cli.main()
except SystemExit as e:
    if e.code:
        raise
# Its string outputs are object arrays of bytes; store them as unicode so the caller reads them
# without pickle ("surrogateescape": every byte kept, compared exactly).
import os
import numpy as np
for name in os.listdir(outdir):
    path = os.path.join(outdir, name)
    value = np.load(path, allow_pickle=True)  # written just now by saved_model_cli itself
    if value.dtype == object:
        np.save(path, np.array([b.decode("utf-8", "surrogateescape") for b in value.ravel()],
                               dtype=str).reshape(value.shape))
"""

# Lists the ops a SavedModel uses that plain TensorFlow does not register. argv: export_dir.
_OP_REPORT = r"""
import json, sys
import tensorflow as tf
from tensorflow.core.protobuf import saved_model_pb2
from tensorflow.python.framework import op_def_registry
sm = saved_model_pb2.SavedModel()
with open(sys.argv[1] + "/saved_model.pb", "rb") as f:
    sm.ParseFromString(f.read())
ops = set()
for meta in sm.meta_graphs:
    ops.update(n.op for n in meta.graph_def.node)
    for fn in meta.graph_def.library.function:
        ops.update(n.op for n in fn.node_def)
    functions = {fn.signature.name for fn in meta.graph_def.library.function}
ops -= functions
print(json.dumps({"all": sorted(ops), "non_core": sorted(o for o in ops if op_def_registry.get(o) is None)}))
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


def op_report(export_dir):
    """`{"all": [...], "non_core": [...]}`: ops the graph uses, and those TF alone lacks (tf-text's)."""
    return json.loads(_run(_OP_REPORT, export_dir).strip().splitlines()[-1])


def run_in_fresh_process(export_dir, inputs, signature="serving_default"):
    """Runs a signature in a fresh tensorflow+tensorflow_text process, via TF2 and the TF1 loader.

    Returns `{"tf2/<output>": array, "tf1/<output>": array}`.
    """
    with tempfile.TemporaryDirectory() as tmp:
        inputs_path, out_path = os.path.join(tmp, "inputs.json"), os.path.join(tmp, "out.npz")
        with open(inputs_path, "w") as f:
            json.dump({k: np.asarray(v).tolist() for k, v in inputs.items()}, f)
        _run(_FRESH_PROCESS, export_dir, inputs_path, out_path, signature)
        with np.load(out_path) as data:
            return {k: data[k] for k in data.files}


def run_saved_model_cli(export_dir, inputs, signature="serving_default"):
    """Runs `saved_model_cli run` (tf-text ops registered) and returns its outputs by name."""
    # Texts go in as UTF-8 bytes literals: a numpy unicode array of non-ASCII text cannot be fed.
    def literal(value):
        if isinstance(value, list):
            return [literal(v) for v in value]
        return value.encode("utf-8") if isinstance(value, str) else value

    exprs = ";".join(f"{k}={literal(np.asarray(v).tolist())!r}" for k, v in inputs.items())
    if exprs.count(";") != len(inputs) - 1:
        raise ValueError("saved_model_cli splits --input_exprs on ';': use example texts without it")
    with tempfile.TemporaryDirectory() as outdir:
        _run(_SAVED_MODEL_CLI, export_dir, signature, exprs, outdir)
        return {name[:-4]: np.load(os.path.join(outdir, name), allow_pickle=False)
                for name in os.listdir(outdir) if name.endswith(".npy")}


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
