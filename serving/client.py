"""Send raw text to a TF Serving model over REST or gRPC and print the predictions.

    python serving/client.py --rest http://localhost:8501 --model sentiment "What a great movie"
    python serving/client.py --grpc localhost:8500 --model sentiment "What a great movie"
    echo "Dull and far too long" | python serving/client.py --rest http://localhost:8501
    python serving/client.py --model squad --export-dir saved_models/squad/1 \\
        --pair "Emma married Mr. Knightley." "Who did Emma marry?"

The export declares its task in `assets.extra/keras_bert_kit.json` (task, decoder, signature
inputs). Over REST the client reads the signature's inputs from TF Serving's
`GET /v1/models/<model>/metadata`; for the decoder (entities of a tagger, the answer of a QA
model, classes of a classifier) give `--export-dir` (the exported folder, to read that file) or
`--decoder`. Rows are decoded with `keras_bert_kit.text.decoding` when keras-bert-kit is
installed, else every output is printed as it came. gRPC needs `tensorflow-serving-api`
(installed with keras-bert-kit); REST needs only the standard library.
"""

import argparse
import json
import os
import sys
import urllib.request

DECLARATION_FILE = os.path.join("assets.extra", "keras_bert_kit.json")


def read_declaration(export_dir):
    """`assets.extra/keras_bert_kit.json` of an export folder (None when it has none)."""
    path = os.path.join(export_dir, DECLARATION_FILE)
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as f:
        return json.load(f)


def model_inputs_rest(url, model, signature="serving_default", timeout=30):
    """Input names of a served signature, from TF Serving's `/v1/models/<model>/metadata`."""
    with urllib.request.urlopen(f"{url.rstrip('/')}/v1/models/{model}/metadata",
                                timeout=timeout) as response:
        metadata = json.loads(response.read())
    signatures = metadata["metadata"]["signature_def"]["signature_def"]
    return list(signatures[signature]["inputs"])


def predict_rest(url, model, texts, text_pairs=None, signature="serving_default", timeout=30,
                 pair_name="text_pair"):
    """POSTs `{"inputs": {"text": [...]}}` to `/v1/models/<model>:predict`; returns the outputs dict."""
    inputs = {"text": list(texts)}
    if text_pairs is not None:
        inputs[pair_name] = list(text_pairs)
    body = json.dumps({"signature_name": signature, "inputs": inputs}).encode("utf-8")
    request = urllib.request.Request(f"{url.rstrip('/')}/v1/models/{model}:predict", data=body,
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        outputs = json.loads(response.read())["outputs"]
    # TF Serving's columnar format gives a signature with a single output as the bare value.
    return outputs if isinstance(outputs, dict) else {"output": outputs}


def predict_grpc(target, model, texts, text_pairs=None, signature="serving_default", timeout=30,
                 pair_name="text_pair"):
    """Calls `PredictionService/Predict` over gRPC; returns `{output name: numpy array}`."""
    import grpc
    import tensorflow as tf
    from tensorflow_serving.apis import predict_pb2, prediction_service_pb2_grpc

    request = predict_pb2.PredictRequest()
    request.model_spec.name = model
    request.model_spec.signature_name = signature
    request.inputs["text"].CopyFrom(tf.make_tensor_proto(list(texts), tf.string))
    if text_pairs is not None:
        request.inputs[pair_name].CopyFrom(tf.make_tensor_proto(list(text_pairs), tf.string))
    with grpc.insecure_channel(target) as channel:
        stub = prediction_service_pb2_grpc.PredictionServiceStub(channel)
        response = stub.Predict(request, timeout=timeout)
    return {name: tf.make_ndarray(proto) for name, proto in response.outputs.items()}


def _plain(value):
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def load_decoder(name):
    """The row decoder `name` of `keras_bert_kit.text.decoding`, or None (print raw outputs)."""
    if name is None:
        return None
    try:
        from keras_bert_kit.text.decoding import DECODERS
    except ImportError:
        print(f"client.py: keras-bert-kit is not installed; printing raw outputs (decoder "
              f"{name!r} not applied)", file=sys.stderr)
        return None
    if name not in DECODERS:
        print(f"client.py: unknown decoder {name!r} (known: {sorted(DECODERS)}); printing raw "
              "outputs", file=sys.stderr)
    return DECODERS.get(name)


def rows(texts, outputs, pairs=None, decoder=None, input_names=("text", "text_pair")):
    """One JSON-able dict per text: decoded with `decoder` (a row function), else raw."""
    result = []
    for i, text in enumerate(texts):
        example = {name: _plain(outputs[name][i]) for name in sorted(outputs)}
        pair = None if pairs is None else pairs[i]
        if decoder is not None:
            result.append(decoder(text, example, pair))
            continue
        row = {input_names[0]: text}
        if pair is not None:
            row[input_names[1]] = pair
        row.update(example)
        result.append(row)
    return result


def _read_inputs(args):
    texts, pairs = args.texts, args.pair
    if not texts:
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
        if pairs is None and texts and all("\t" in line for line in texts):
            pairs = [line.split("\t", 1)[1] for line in texts]
            texts = [line.split("\t", 1)[0] for line in texts]
    if pairs is not None and len(pairs) != len(texts):
        sys.exit(f"client.py: {len(texts)} texts but {len(pairs)} --pair values (one per text)")
    return texts, pairs


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    target = parser.add_mutually_exclusive_group()
    target.add_argument("--rest", help="REST base URL, e.g. http://localhost:8501")
    target.add_argument("--grpc", help="gRPC host:port, e.g. localhost:8500")
    parser.add_argument("--model", default="sentiment")
    parser.add_argument("--signature", default="serving_default")
    parser.add_argument("--pair", action="append", metavar="TEXT",
                        help="second text of a pair (QA: the context), once per text, in order; "
                             "or 'text<TAB>pair' lines on standard input")
    decoding = parser.add_mutually_exclusive_group()
    decoding.add_argument("--export-dir", help="the exported folder: its keras_bert_kit.json "
                                               "names the decoder and the signature inputs")
    decoding.add_argument("--decoder", help="decoder name (classes, entities, words, answer, "
                                            "choices) when the export folder is not at hand")
    parser.add_argument("--raw", action="store_true", help="print every output, undecoded")
    parser.add_argument("texts", nargs="*")
    args = parser.parse_args(argv)
    texts, pairs = _read_inputs(args)

    declaration = read_declaration(args.export_dir) if args.export_dir else None
    if args.export_dir and declaration is None:
        sys.exit(f"client.py: {args.export_dir} has no {DECLARATION_FILE}; pass --decoder")
    decoder_name = args.decoder or (declaration or {}).get("decoder")
    if args.signature != "serving_default":   # decoders read serving_default's outputs
        decoder_name = None
    input_names = (declaration or {}).get("signatures", {}).get(args.signature)
    url = args.rest or "http://localhost:8501"
    if input_names is None:
        if args.grpc:   # without the declaration, the inputs follow what was given
            input_names = ["text", "text_pair"] if pairs is not None else ["text"]
        else:
            served = model_inputs_rest(url, args.model, args.signature)
            input_names = ["text"] + sorted(n for n in served if n != "text")
    if (len(input_names) == 2) != (pairs is not None):
        sys.exit(f"client.py: {args.model} takes {', '.join(input_names)}: "
                 + ("give --pair once per text" if pairs is None else "drop --pair"))
    if args.grpc:
        outputs = predict_grpc(args.grpc, args.model, texts, pairs, signature=args.signature,
                               pair_name=input_names[-1])
        outputs = {k: v.tolist() for k, v in outputs.items()}
    else:
        outputs = predict_rest(url, args.model, texts, pairs, signature=args.signature,
                               pair_name=input_names[-1])
    decoder = None if args.raw else load_decoder(decoder_name)
    for row in rows(texts, outputs, pairs, decoder, input_names):
        print(json.dumps(row, ensure_ascii=False))


if __name__ == "__main__":
    main()
