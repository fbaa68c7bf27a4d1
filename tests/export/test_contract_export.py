"""Export reads only the task contract: a task defined here, a multiple-choice model and the REST
client are served, checked and decoded without `export/` knowing their classes."""

import ast
import contextlib
import http.server
import importlib.util
import io
import json
import pathlib
import re
import threading

import keras
import numpy as np
import pytest
import tensorflow as tf

from keras_bert_kit.export.predict import ExportedModel
from keras_bert_kit.export.saved_model import export_saved_model
from keras_bert_kit.export.warmup import read_warmup_requests
from keras_bert_kit.models.bert_backbone import BertBackbone
from keras_bert_kit.models.bert_multiple_choice import BertMultipleChoice
from keras_bert_kit.models.bert_question_answerer import BertQuestionAnswerer
from keras_bert_kit.models.bert_task import BertTask
from keras_bert_kit.text import decoding
from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
from keras_bert_kit.text.bert_tokenizer import BertTokenizer
from tests.conftest import REPO
from tests.helpers import TINY

VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", "the", "film", "was", "great", "who", "?",
         "zoe", "went", "home", "bob"]
TEXTS = ["the film was great", "", "who went home ?", "Zoë"]


class TokenCounter(BertTask):
    """A task the package does not know: serves token counts and a score, decoded by its own
    decoder (`"token_count"`, registered in `DECODERS` by the tests)."""

    decoder = "token_count"
    trims_served_padding = True

    def __init__(self, backbone, preprocessor=None, **kwargs):
        self.backbone = backbone
        self.preprocessor = self.adopt_preprocessor(preprocessor)
        self.head = keras.layers.Dense(1, dtype="float32", name="head")
        inputs = dict(backbone.input)
        super().__init__(inputs=inputs, outputs=self.head(backbone(inputs)["pooled_output"]),
                         **kwargs)

    def default_loss(self):
        return keras.losses.MeanSquaredError()

    def serving_outputs(self, packed, text=None, text_pair=None):
        outputs = {"num_tokens": tf.reduce_sum(packed["padding_mask"], axis=1),
                   "score": self(packed, training=False)[:, 0]}
        if text is not None:
            outputs["num_bytes"] = tf.strings.length(text)
        return outputs


def count_row(text, outputs, text_pair=None):
    return {"text": text, "tokens": int(outputs["num_tokens"]), "bytes": int(outputs["num_bytes"])}


def _preprocessor(sequence_length=16):
    return BertPreprocessor(BertTokenizer(VOCAB), sequence_length=sequence_length)


def _backbone():
    keras.utils.set_random_seed(0)
    return BertBackbone(**{**TINY, "vocabulary_size": len(VOCAB)})


def test_export_has_no_task_classes():
    """`export/`'s code never names a task class nor asks what class a model is (docstring
    examples may build one)."""
    task_class = re.compile(r"Bert(Classifier|TokenClassifier|QuestionAnswerer|MultipleChoice)$")
    for path in (REPO / "keras_bert_kit" / "export").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = ([node.id] if isinstance(node, ast.Name) else
                     [node.attr] if isinstance(node, ast.Attribute) else
                     [a.name for a in node.names] if isinstance(node, ast.ImportFrom) else [])
            assert not [n for n in names if task_class.search(n)], (path, node.lineno)
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name)
                    and node.func.id in ("isinstance", "issubclass")):
                assert "model" not in ast.unparse(node.args[0]), (path, node.lineno)


def test_a_task_defined_outside_the_package_exports_serves_and_decodes(tmp_path, monkeypatch):
    model = TokenCounter(_backbone(), preprocessor=_preprocessor())
    report = export_saved_model(model, tmp_path / "counter" / "1", examples=TEXTS)
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-5
    assert report.signatures == ["encode", "serving_default", "token_ids"]
    with open(report.declaration_file, encoding="utf-8") as f:
        assert json.load(f)["task"] == "TokenCounter"
    monkeypatch.setitem(decoding.DECODERS, "token_count", count_row)
    exported = ExportedModel(report.path)
    assert exported.decoder == "token_count"
    assert exported.rows(TEXTS) == [{"text": "the film was great", "tokens": 6, "bytes": 18},
                                    {"text": "", "tokens": 2, "bytes": 0},
                                    {"text": "who went home ?", "tokens": 6, "bytes": 15},
                                    {"text": "Zoë", "tokens": 3, "bytes": 4}]
    monkeypatch.delitem(decoding.DECODERS, "token_count")
    raw = exported.rows(TEXTS[:1])[0]      # a decoder this package lacks: the raw outputs
    assert sorted(raw) == ["num_bytes", "num_tokens", "score", "text"]
    served = tf.saved_model.load(report.path).signatures["token_ids"](
        **model.preprocessor(tf.constant(TEXTS)))
    assert served["num_tokens"].numpy().tolist() == [6, 2, 6, 3]


@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_multiple_choice_export_serves_contexts_and_choices(tmp_path):
    model = BertMultipleChoice(_backbone(), num_choices=3, preprocessor=_preprocessor())
    report = export_saved_model(model, tmp_path / "choices" / "1", examples=TEXTS)
    assert report.max_abs_diff is not None and report.max_abs_diff <= 1e-5
    with open(report.declaration_file, encoding="utf-8") as f:
        assert json.load(f)["signatures"]["serving_default"] == ["text", "choices"]
    requests = read_warmup_requests(report.path)
    assert requests[0]["choices"].shape == (len(TEXTS), 3)
    exported = ExportedModel(report.path)
    choices = [["the film", "who", "bob went home"], ["great", "", "zoe"]]
    rows = exported.rows(TEXTS[:2], choices)
    contexts = tf.constant(TEXTS[:2])
    expected = tf.nn.softmax(model(model._pack_choices(contexts, tf.constant(choices)))).numpy()
    for row, context, row_choices, probabilities in zip(rows, TEXTS, choices, expected):
        assert (row["text"], row["choices"]) == (context, row_choices)
        np.testing.assert_allclose(row["probabilities"], probabilities, atol=1e-5)
        assert row["label_id"] == int(probabilities.argmax())


def _load_client():
    spec = importlib.util.spec_from_file_location("client", REPO / "serving" / "client.py")
    client = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(client)
    return client


@contextlib.contextmanager
def fake_tf_serving(export_dir, model_name):
    """TF Serving's REST API (metadata and columnar predict) over an export, on loopback."""
    loaded = tf.saved_model.load(str(export_dir))

    def plain(value):
        return (value.decode("utf-8") if isinstance(value, bytes)
                else [plain(v) for v in value] if isinstance(value, list) else value)

    class Handler(http.server.BaseHTTPRequestHandler):
        def _reply(self, body):
            data = json.dumps(body).encode("utf-8")
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):  # noqa: N802
            assert self.path == f"/v1/models/{model_name}/metadata"
            signatures = {name: {"inputs": {k: {"name": k} for k in
                                            fn.structured_input_signature[1]}}
                          for name, fn in loaded.signatures.items()}
            self._reply({"metadata": {"signature_def": {"signature_def": signatures}}})

        def do_POST(self):  # noqa: N802
            assert self.path == f"/v1/models/{model_name}:predict"
            request = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            fn = loaded.signatures[request["signature_name"]]
            out = fn(**{k: tf.constant(v) for k, v in request["inputs"].items()})
            self._reply({"outputs": {k: plain(v.numpy().tolist()) for k, v in out.items()}})

        def log_message(self, *args):
            pass

    server = http.server.HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def qa_export(tmp_path_factory):
    path = tmp_path_factory.mktemp("export") / "squad" / "1"
    model = BertQuestionAnswerer(_backbone(), preprocessor=_preprocessor(), max_answer_length=3)
    export_saved_model(model, path, check=False, warmup=False)
    return pathlib.Path(path)


def _run_client(client, argv):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        client.main(argv)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def test_rest_client_decodes_with_the_declared_decoder(qa_export):
    client = _load_client()
    questions, contexts = ["who went home ?", "who ?"], ["Zoë went home", "the film was great"]
    expected = ExportedModel(qa_export).rows(questions, contexts)
    with fake_tf_serving(qa_export, "squad") as url:
        pairs = [arg for context in contexts for arg in ("--pair", context)]
        decoded = _run_client(client, ["--rest", url, "--model", "squad", "--export-dir",
                                       str(qa_export), *pairs, *questions])
        named = _run_client(client, ["--rest", url, "--model", "squad", "--decoder", "answer",
                                     *pairs, *questions])
        raw = _run_client(client, ["--rest", url, "--model", "squad", *pairs, *questions])
        with pytest.raises(SystemExit, match="give --pair once per text"):
            client.main(["--rest", url, "--model", "squad", "who ?"])
    for rows in (decoded, named):
        assert [r["answer"] for r in rows] == [r["answer"] for r in expected]
        assert [(r["question"], r["context"], r["start"], r["end"]) for r in rows] == [
            (r["question"], r["context"], r["start"], r["end"]) for r in expected]
        for got, want in zip(rows, expected):
            assert got["score"] == pytest.approx(want["score"], abs=1e-5)
    # No decoder named: every output as served, inputs named by the metadata.
    assert [(r["text"], r["text_pair"]) for r in raw] == list(zip(questions, contexts))
    assert {"answer", "answer_start", "start_index", "null_score"} <= set(raw[0])


@pytest.mark.slow  # a long run: CI's slow pass (make test-slow)
def test_a_model_loaded_from_a_keras_file_exports_with_its_vocabulary(tmp_path):
    """`kbk export`'s path: the tokenizer's vocabulary comes from the .keras file's assets and
    ends up inside the SavedModel's graph (the .keras file is gone when the export serves)."""
    from keras_bert_kit.models.bert_classifier import BertClassifier

    classifier = BertClassifier(_backbone(), 2, preprocessor=_preprocessor(),
                                label_vocabulary=["no", "yes"])
    path = tmp_path / "classifier.keras"
    classifier.save(path)
    loaded = keras.saving.load_model(path)
    assert loaded.preprocessor.tokenizer.get_vocabulary() == VOCAB
    report = export_saved_model(loaded, tmp_path / "m" / "1", check=False, warmup=False)
    path.unlink()
    expected = tf.nn.softmax(classifier.predict(TEXTS, verbose=0)).numpy()
    rows = ExportedModel(report.path).rows(TEXTS)
    np.testing.assert_allclose([r["probabilities"] for r in rows], expected, atol=1e-5)
    assert [r["label"] for r in rows] == [["no", "yes"][i] for i in expected.argmax(-1)]
