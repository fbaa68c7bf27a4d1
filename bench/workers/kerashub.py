"""Benchmark worker for keras-hub's BERT (Keras 3 + TensorFlow). Run by `bench/run.py`.

keras-hub has no next-sentence head: its pretraining model is `BertMaskedLM` (MLM only).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.pop("TF_USE_LEGACY_KERAS", None)

import _common as C  # noqa: E402

IMPL = "keras_hub"


def backbone(cfg):
    import keras_hub

    return keras_hub.models.BertBackbone(
        vocabulary_size=cfg["vocabulary_size"], num_layers=cfg["num_layers"],
        num_heads=cfg["num_heads"], hidden_dim=cfg["hidden_dim"],
        intermediate_dim=cfg["intermediate_dim"], max_sequence_length=cfg["max_sequence_length"])


def infer(rec, spec):
    import keras
    import tensorflow as tf

    for case in spec["cases"]:
        inputs = {k: tf.constant(v) for k, v in
                  C.random_batch(case["cfg"], case["batch"], case["seq"]).items()}
        for variant in C.variants(spec):
            def run():
                with C.precision(variant, keras):
                    model = backbone(case["cfg"])
                fn = tf.function(lambda x: model(x, training=False), jit_compile=C.jit(variant))
                warm, times = C.time_steps(lambda: fn(inputs)["pooled_output"].numpy(),
                                           spec["timing"])
                rec.add(case["id"], variant, warm, times)
            C.guarded(rec, case["id"], variant, run)
            C.free_memory()


def pretrain_step(rec, spec):
    import keras
    import keras_hub

    for case in spec["cases"]:
        b = C.pretraining_batch(case["cfg"], case["batch"], case["seq"], case["num_masked"])
        x = {k: b[k] for k in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
        for variant in C.variants(spec):
            def run():
                keras.utils.set_random_seed(C.SEED)
                with C.precision(variant, keras):
                    model = keras_hub.models.BertMaskedLM(backbone(case["cfg"]),
                                                          preprocessor=None)
                # Loss and weighted accuracy are keras-hub's defaults ("auto").
                model.compile(optimizer=keras.optimizers.Adam(case["learning_rate"]),
                              jit_compile=C.jit(variant))
                step = lambda: model.train_on_batch(x, b["mask_ids"],  # noqa: E731
                                                    sample_weight=b["mask_weights"])
                warm, times = C.time_steps(step, spec["timing"])
                loss = step()
                loss = float(loss[0] if isinstance(loss, (list, tuple)) else loss)
                rec.add(case["id"], variant, warm, times, mlm_positions=case["num_masked"],
                        heads="MLM only (keras-hub has no NSP head)", final_loss=loss)
            C.guarded(rec, case["id"], variant, run)
            keras.backend.clear_session()
            C.free_memory()


def read_vocabulary(folder):
    with open(os.path.join(folder, "vocab.txt"), encoding="utf-8") as f:
        return [line.rstrip("\n").rstrip("\r") for line in f]


def tokenize(rec, spec):
    import keras_hub
    import tensorflow as tf

    texts = C.read_texts(spec["data"]["texts"], spec.get("max_texts"))
    batches = C.chunks(texts, spec["batch_size"])
    tokenizer = keras_hub.tokenizers.BertTokenizer(
        vocabulary=read_vocabulary(spec["data"]["vocab_folder"]), lowercase=True)
    fn = tf.function(lambda s: tokenizer(s), input_signature=[tf.TensorSpec([None], tf.string)])
    variant = "1 thread" if os.environ.get("BENCH_TF_THREADS") == "1" else "default threads"

    def one_pass():
        total = 0
        for batch in batches:
            ragged = fn(tf.constant(batch))
            total += int(ragged.row_splits.numpy()[-1])
            ragged.flat_values.numpy()
        return total

    def run():
        tokens = one_pass()
        warm, times = C.time_steps(one_pass, spec["timing"])
        rec.add("corpus", variant, warm, times, tokens=tokens, texts=len(texts),
                batch_size=spec["batch_size"],
                impl_detail="keras_hub.tokenizers.BertTokenizer in tf.function")
    C.guarded(rec, "corpus", variant, run)


def build_classifier(cfg, vocab_folder, seq):
    import keras
    import keras_hub

    keras.utils.set_random_seed(C.SEED)
    tokenizer = keras_hub.tokenizers.BertTokenizer(vocabulary=read_vocabulary(vocab_folder),
                                                   lowercase=True)
    pre = keras_hub.models.BertTextClassifierPreprocessor(tokenizer, sequence_length=seq)
    return keras_hub.models.BertTextClassifier(backbone(cfg), num_classes=2, preprocessor=pre)


def serve_prepare(rec, spec):
    """Exports preprocessor + classifier as one text-in SavedModel per serve config.

    keras-hub's `Task.export` (Keras' `Model.export`) saves only the model's token-id call, so
    the text-in export is a `keras.export.ExportArchive` endpoint wrapping the task's own
    preprocessor and the classifier, which is what a keras-hub user would write; a second
    endpoint, `token_ids`, serves the classifier alone (for the model-only timing).
    """
    import time

    import keras

    for case in spec["cases"]:
        for key, policy in (("keras_hub", "float32"), ("keras_hub_bf16", "mixed_bfloat16")):
            def run():
                t0 = time.perf_counter()
                keras.config.set_dtype_policy(policy)
                try:
                    export_text_classifier(case, spec, case["export_dir"][key])
                finally:
                    keras.config.set_dtype_policy("float32")
                rec.add(case["id"], "export" if policy == "float32" else "export, bf16", [],
                        [time.perf_counter() - t0])
            C.guarded(rec, case["id"], "export", run)


def export_text_classifier(case, spec, path):
    """keras-hub's text classifier with its preprocessor as one text-in SavedModel at `path`,
    under the global dtype policy (`mixed_bfloat16`: keras-hub's way to compute in bfloat16)."""
    import keras
    import tensorflow as tf

    classifier = build_classifier(case["cfg"], spec["data"]["vocab_folder"], case["seq"])
    preprocessor = classifier.preprocessor
    preprocessor(tf.constant(["build the preprocessor"]))  # export needs it built
    archive = keras.export.ExportArchive()
    archive.track(classifier)
    archive.track(preprocessor)

    def serving_default(text):
        logits = classifier(preprocessor(text), training=False)
        probabilities = tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)
        return {"probabilities": probabilities,
                "label_id": tf.argmax(probabilities, axis=-1, output_type=tf.int32)}

    def token_ids(token_ids, segment_ids, padding_mask):
        logits = classifier({"token_ids": token_ids, "segment_ids": segment_ids,
                             "padding_mask": padding_mask}, training=False)
        return {"probabilities": tf.nn.softmax(tf.cast(logits, tf.float32), axis=-1)}

    ids_spec = tf.TensorSpec([None, None], tf.int32)
    archive.add_endpoint("serving_default", serving_default,
                         input_signature=[tf.TensorSpec([None], tf.string)])
    archive.add_endpoint("token_ids", token_ids, input_signature=[ids_spec, ids_spec, ids_spec])
    archive.write_out(path, verbose=False)


def serve(rec, spec):
    import keras_hub
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 - registers the ops the SavedModel uses

    texts = C.read_texts(spec["data"]["texts"], spec.get("max_texts"))
    vocab = read_vocabulary(spec["data"]["vocab_folder"])
    loaded = {}
    for case in spec["cases"]:
        def run():
            for key in ("keras_hub", "keras_hub_bf16"):
                if case["export_dir"][key] not in loaded:
                    loaded[case["export_dir"][key]] = tf.saved_model.load(case["export_dir"][key])
            path = case["export_dir"]["keras_hub"]
            signature = loaded[path].signatures["serving_default"]
            bf16 = loaded[case["export_dir"]["keras_hub_bf16"]].signatures["serving_default"]
            ids_signature = loaded[path].signatures["token_ids"]
            pre = keras_hub.models.BertTextClassifierPreprocessor(
                keras_hub.tokenizers.BertTokenizer(vocabulary=vocab, lowercase=True),
                sequence_length=case["seq"])
            pre_fn = tf.function(lambda s: pre(s),
                                 input_signature=[tf.TensorSpec([None], tf.string)])
            C.serve_case(rec, spec, case, texts, {
                "text->probabilities": (
                    lambda batch: signature(text=tf.constant(batch))["probabilities"].numpy(),
                    None),
                # keras-hub pads every request to the sequence length: its bf16 export is
                # compared with ours at full length (run.py's FULL_LENGTH_BF16).
                "text->probabilities, full length, bf16": (
                    lambda batch: bf16(text=tf.constant(batch))["probabilities"].numpy(), None),
                "preprocess only": (
                    lambda batch: pre_fn(tf.constant(batch))["token_ids"].numpy(), None),
                "model only (token ids in)": (
                    lambda packed: ids_signature(**packed)["probabilities"].numpy(),
                    lambda batch: {k: tf.cast(v, tf.int32) for k, v in
                                   pre_fn(tf.constant(batch)).items()}),
            })
        C.guarded(rec, case["id"], "text->probabilities", run)


TASKS = {"infer": infer, "pretrain_step": pretrain_step, "tokenize": tokenize,
         "serve_prepare": serve_prepare, "serve": serve,
         "peak": C.peak_matmul}


def setup(info):
    C.tf_threads_from_env()
    import keras
    import keras_hub

    info.update(keras=keras.__version__, keras_hub=keras_hub.__version__,
                tf_threads=os.environ.get("BENCH_TF_THREADS"))


if __name__ == "__main__":
    C.worker_main(IMPL, TASKS, setup)
