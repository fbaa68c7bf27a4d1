"""A real TF Serving server on loopback, queried over REST and gRPC (skipped where no binary exists)."""

import importlib.util
import shutil
import socket
import subprocess
import time

import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.export.saved_model import export_saved_model
from tests.conftest import REPO
from tests.export.test_export import tiny_classifier

SERVER = shutil.which("tensorflow_model_server")
pytestmark = pytest.mark.skipif(
    SERVER is None, reason="no tensorflow_model_server on PATH (not installable on this machine: "
                           "no Docker engine, not on PyPI/Debian)")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def load_client():
    spec = importlib.util.spec_from_file_location("client", REPO / "serving" / "client.py")
    client = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(client)
    return client


def test_rest_and_grpc(tmp_path):
    classifier = tiny_classifier()
    export_saved_model(classifier, tmp_path / "sentiment" / "1", check=False)
    rest, grpc_port = free_port(), free_port()
    server = subprocess.Popen([SERVER, f"--port={grpc_port}", f"--rest_api_port={rest}",
                               "--model_name=sentiment", f"--model_base_path={tmp_path / 'sentiment'}",
                               "--enable_model_warmup=true"])
    client = load_client()
    texts = ["the film was great", ""]
    expected = tf.nn.softmax(classifier(classifier.preprocessor(tf.constant(texts)))).numpy()
    try:
        deadline = time.time() + 60
        while True:
            try:
                out = client.predict_rest(f"http://127.0.0.1:{rest}", "sentiment", texts, timeout=5)
                break
            except OSError:
                if time.time() > deadline:
                    raise
                time.sleep(1)
        np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
        out = client.predict_grpc(f"127.0.0.1:{grpc_port}", "sentiment", texts, timeout=10)
        np.testing.assert_allclose(out["probabilities"], expected, atol=1e-5)
    finally:
        server.terminate()
        server.wait(timeout=30)
