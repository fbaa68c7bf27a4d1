"""TF Serving warm-up requests: `assets.extra/tf_serving_warmup_requests` (PredictionLog records)."""

import os

import numpy as np
import tensorflow as tf

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def write_warmup_requests(export_dir, model_name, inputs, signature_name="serving_default",
                          repeats=1):
    """Writes PredictionLog records (PredictRequests on one signature) for TF Serving.

    Args:
        export_dir: the SavedModel version folder.
        model_name: the model name TF Serving serves it under.
        inputs: `{input name: example values}`, the names of the signature's declared inputs
            (`ServingSignature.input_names`) and one row per example; one request holds all
            rows, then one request per row.
        signature_name: the signature the requests call.
        repeats: how many times to write the set.

    Returns:
        The path written.
    """
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    arrays = {name: np.asarray(values, dtype=object) for name, values in inputs.items()}
    rows = {len(values) for values in arrays.values()}
    if len(rows) != 1:
        raise ValueError(f"warm-up inputs have different numbers of rows: "
                         f"{ {name: len(v) for name, v in arrays.items()} }")
    count = rows.pop()
    batches = [list(range(count))] + [[i] for i in range(count)]
    path = os.path.join(export_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for _ in range(repeats):
            for batch in batches:
                request = predict_pb2.PredictRequest(
                    model_spec=model_pb2.ModelSpec(name=model_name, signature_name=signature_name))
                for name, values in arrays.items():
                    request.inputs[name].CopyFrom(tf.make_tensor_proto(values[batch].tolist()))
                log = prediction_log_pb2.PredictionLog(
                    predict_log=prediction_log_pb2.PredictLog(request=request))
                writer.write(log.SerializeToString())
    return path


def read_warmup_requests(export_dir):
    """Parses the warm-up file back into `[{input name: numpy array}]`, one dict per request."""
    from tensorflow_serving.apis import prediction_log_pb2

    requests = []
    for record in tf.data.TFRecordDataset(os.path.join(export_dir, WARMUP_FILE)):
        log = prediction_log_pb2.PredictionLog.FromString(record.numpy())
        requests.append({name: tf.make_ndarray(proto)
                         for name, proto in log.predict_log.request.inputs.items()})
    return requests
