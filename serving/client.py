"""Send raw text to a TF Serving model over REST or gRPC and print the predictions.

    python serving/client.py --rest http://localhost:8501 --model sentiment "What a great movie"
    python serving/client.py --grpc localhost:8500 --model sentiment "What a great movie"
    echo "Dull and far too long" | python serving/client.py --rest http://localhost:8501

gRPC needs `tensorflow-serving-api` (installed with keras-bert-kit); REST needs only the standard
library.
"""

import argparse
import json
import sys
import urllib.request


def predict_rest(url, model, texts, text_pairs=None, signature="serving_default", timeout=30):
    """POSTs `{"inputs": {"text": [...]}}` to `/v1/models/<model>:predict`; returns the outputs dict."""
    inputs = {"text": list(texts)}
    if text_pairs is not None:
        inputs["text_pair"] = list(text_pairs)
    body = json.dumps({"signature_name": signature, "inputs": inputs}).encode("utf-8")
    request = urllib.request.Request(f"{url.rstrip('/')}/v1/models/{model}:predict", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())["outputs"]


def predict_grpc(target, model, texts, text_pairs=None, signature="serving_default", timeout=30):
    """Calls `PredictionService/Predict` over gRPC; returns `{output name: numpy array}`."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    request.inputs["text"].CopyFrom(tf.make_tensor_proto(list(texts), tf.string))
    if text_pairs is not None:
        request.inputs["text_pair"].CopyFrom(tf.make_tensor_proto(list(text_pairs), tf.string))
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=timeout)
    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--rest", help="REST base URL, e.g. http://localhost:8501")
    target.add_argument("--grpc", help="gRPC host:port, e.g. localhost:8500")
    parser.add_argument("--model", default="sentiment")
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument("texts", nargs="*")
    args = parser.parse_args(argv)
    texts = args.texts or [line.rstrip("\n") for line in sys.stdin if line.strip()]
    if args.grpc:
        outputs = predict_grpc(args.grpc, args.model, texts, signature=args.signature)
        outputs = {k: v.tolist() for k, v in outputs.items()}
    else:
        outputs = predict_rest(args.rest or "http://localhost:8501", args.model, texts,
                               signature=args.signature)
    for i, text in enumerate(texts):
        row = {"text": text}
        for name, values in outputs.items():
            value = values[i]
            row[name] = value.decode("utf-8") if isinstance(value, bytes) else value
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
