"""TF Serving warm-up requests: `assets.extra/tf_serving_warmup_requests` (PredictionLog records)."""

import os

import tensorflow as tf

WARMUP_FILE = os.path.join("assets.extra", "tf_serving_warmup_requests")


def write_warmup_requests(export_dir, model_name, texts, text_pairs=None, repeats=1):
    """Writes PredictionLog records (one PredictRequest on `serving_default` per batch) for TF Serving.

    Args:
        export_dir: the SavedModel version folder.
        model_name: the model name TF Serving serves it under.
        texts: example input strings (one request with all of them, then one per text).
        text_pairs: second texts for pair models.
        repeats: how many times to write the set.
    """
    from tensorflow_serving.apis import model_pb2, predict_pb2, prediction_log_pb2

    batches = [list(range(len(texts)))] + [[i] for i in range(len(texts))]
    path = os.path.join(export_dir, WARMUP_FILE)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with tf.io.TFRecordWriter(path) as writer:
        for _ in range(repeats):
            for rows in batches:
                request = predict_pb2.PredictRequest(
                    model_spec=model_pb2.ModelSpec(name=model_name, signature_name="serving_default"))
                request.inputs["text"].CopyFrom(tf.make_tensor_proto([texts[i] for i in rows], tf.string))
                if text_pairs is not None:
                    request.inputs["text_pair"].CopyFrom(
                        tf.make_tensor_proto([text_pairs[i] for i in rows], tf.string))
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
