"""Served backbone on this process's CPU path: the 2-D `inference_dense` form vs Keras' `Dense` call.

    TF_ENABLE_ONEDNN_OPTS=0 .venv/bin/python bench/probe_fused_dense_paths.py   # Eigen (AVX2 default)
    TF_ENABLE_ONEDNN_OPTS=1 .venv/bin/python bench/probe_fused_dense_paths.py   # oneDNN
    TF_ENABLE_ONEDNN_OPTS=1 ONEDNN_MAX_CPU_ISA=AVX2 .venv/bin/python bench/probe_fused_dense_paths.py

Exports a float32 `BertBackbone` (L4/H512/A8/I2048) twice, once with the encoder's dense layers in
the 2-D `MatMul → BiasAdd → Gelu` form of `keras_bert_kit.layers.fused_dense` and once as plain
`Dense` calls (rank-3 `tensordot`, bias and GELU after), loads each with the TF1 session loader as
TF Serving does, and prints the ops the served graph ran and the p50 of `session.run` at batch 1
and 32, sequence 128. The two forms alternate over three rounds; each line is the best round's p50.
~2 min on 2 cores. Not a comparison with peers (that is `bench/run.py`).
"""

import os
import sys
import tempfile
from collections import Counter

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "workers"))

from probe_xla_cpu import p50  # noqa: E402 - the same p50-after-warm-up timer

from keras_bert_kit.layers import attention, fused_dense, transformer_encoder  # noqa: E402
from keras_bert_kit.models.bert_backbone import BertBackbone  # noqa: E402

CONFIG = dict(vocabulary_size=30522, num_layers=4, num_heads=8, hidden_dim=512,
              intermediate_dim=2048, max_sequence_length=128, dropout=0.0, attention_dropout=0.0)
SEQ = 128


def plain_dense(layer, inputs, gelu=False):
    """What the encoder ran before `fused_dense`: the `Dense` layer's own call."""
    outputs = layer(inputs)
    return keras.activations.gelu(outputs, approximate=False) if gelu else outputs


def export(backbone, path, form):
    for module in (attention, transformer_encoder):
        module.inference_dense = form
    archive = keras.export.ExportArchive()
    archive.track(backbone)
    spec = tf.TensorSpec([None, None], tf.int32)
    archive.add_endpoint(
        "serving_default",
        lambda token_ids, segment_ids, padding_mask: {"sequence_output": backbone(
            {"token_ids": token_ids, "segment_ids": segment_ids, "padding_mask": padding_mask},
            training=False)["sequence_output"]},
        input_signature=[spec, spec, spec])
    archive.write_out(path, verbose=False)
    for module in (attention, transformer_encoder):
        module.inference_dense = fused_dense.inference_dense


class Served:
    """A SavedModel loaded as TF Serving loads it, with `run(batch)` and the ops it ran."""

    def __init__(self, path):
        self.session = tf.compat.v1.Session(graph=tf.Graph())
        meta = tf.compat.v1.saved_model.loader.load(self.session, ["serve"], path)
        signature = meta.signature_def["serving_default"]
        self.output = signature.outputs["sequence_output"].name
        self.inputs = {k: v.name for k, v in signature.inputs.items()}

    def feed(self, batch):
        rng = np.random.default_rng(batch)
        return {self.inputs["token_ids"]: rng.integers(1, 30000, (batch, SEQ)).astype("int32"),
                self.inputs["segment_ids"]: np.zeros((batch, SEQ), "int32"),
                self.inputs["padding_mask"]: np.ones((batch, SEQ), "int32")}

    def run(self, feed):
        return self.session.run(self.output, feed)

    def ops(self):
        metadata = tf.compat.v1.RunMetadata()
        options = tf.compat.v1.RunOptions(trace_level=tf.compat.v1.RunOptions.FULL_TRACE)
        self.session.run(self.output, self.feed(2), options=options, run_metadata=metadata)
        return Counter(node.timeline_label.split("=")[-1].split("(")[0].strip()
                       for device in metadata.step_stats.dev_stats for node in device.node_stats)


def main():
    keras.utils.set_random_seed(0)
    backbone = BertBackbone(**CONFIG)
    folder = tempfile.mkdtemp()
    forms = {"2-D fused form": fused_dense.inference_dense, "Dense call": plain_dense}
    served = {}
    for name, form in forms.items():
        export(backbone, os.path.join(folder, name.replace(" ", "_")), form)
        served[name] = Served(os.path.join(folder, name.replace(" ", "_")))
    print(f"TF_ENABLE_ONEDNN_OPTS={os.environ.get('TF_ENABLE_ONEDNN_OPTS', '(unset)')} "
          f"ONEDNN_MAX_CPU_ISA={os.environ.get('ONEDNN_MAX_CPU_ISA', '(unset)')}")
    a, b = (served[name].run(served[name].feed(2)) for name in forms)
    print(f"max |2-D - Dense| = {np.abs(a - b).max():.2e}")
    for name, model in served.items():
        counts = model.ops()
        shown = {op: n for op, n in sorted(counts.items())
                 if "MatMul" in op or op in ("BiasAdd", "Erf", "Erfc", "Einsum")}
        print(f"{name:15s} ops: {shown}")
    best = {}
    for _ in range(3):
        for name, model in served.items():
            for batch in (1, 32):
                feed = model.feed(batch)
                t = p50(lambda: model.run(feed), warmup=2, steps=10 if batch == 32 else 30)
                best[name, batch] = min(best.get((name, batch), t), t)
    for batch in (1, 32):
        line = "  ".join(f"{name}: {best[name, batch] * 1e3:7.1f} ms" for name in forms)
        ratio = best["Dense call", batch] / best["2-D fused form", batch]
        print(f"bs{batch:<3d} s{SEQ}  {line}  (Dense / 2-D = {ratio:.2f})")


if __name__ == "__main__":
    main()
