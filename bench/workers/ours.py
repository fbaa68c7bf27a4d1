"""Benchmark worker for keras-bert-kit (Keras 3 + TensorFlow). Run by `bench/run.py`."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.pop("TF_USE_LEGACY_KERAS", None)

import numpy as np  # noqa: E402

import _common as C  # noqa: E402

IMPL = "ours"


def backbone_kwargs(cfg):
    return dict(vocabulary_size=cfg["vocabulary_size"], num_layers=cfg["num_layers"],
                num_heads=cfg["num_heads"], hidden_dim=cfg["hidden_dim"],
                intermediate_dim=cfg["intermediate_dim"],
                max_sequence_length=cfg["max_sequence_length"])


def infer(rec, spec):
    import keras
    import tensorflow as tf

    from keras_bert_kit.models.bert_backbone import BertBackbone

    for case in spec["cases"]:
        inputs = {k: tf.constant(v) for k, v in
                  C.random_batch(case["cfg"], case["batch"], case["seq"]).items()}
        for variant in C.variants(spec):
            def run():
                with C.precision(variant, keras):
                    backbone = BertBackbone(**backbone_kwargs(case["cfg"]))
                fn = tf.function(lambda x: backbone(x, training=False),
                                 jit_compile=C.jit(variant))
                warm, times = C.time_steps(lambda: fn(inputs)["pooled_output"].numpy(),
                                           spec["timing"])
                rec.add(case["id"], variant, warm, times)
            C.guarded(rec, case["id"], variant, run)
            C.free_memory()


def pretrain_step(rec, spec):
    import keras

    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.models.bert_pretrainer import BertPretrainer
    from keras_bert_kit.training.optimization import FusedAdam

    for case in spec["cases"]:
        b = C.pretraining_batch(case["cfg"], case["batch"], case["seq"], case["num_masked"])
        x = {k: b[k] for k in ("token_ids", "segment_ids", "padding_mask", "mask_positions")}
        y = {"mlm": b["mask_ids"], "nsp": b["next_sentence_labels"]}
        sw = {"mlm": b["mask_weights"], "nsp": np.ones(case["batch"], np.float32)}
        for variant in C.variants(spec):
            def run():
                keras.utils.set_random_seed(C.SEED)
                with C.precision(variant, keras):
                    model = BertPretrainer(BertBackbone(**backbone_kwargs(case["cfg"])))
                model.compile(optimizer=FusedAdam(case["learning_rate"]),
                              jit_compile=C.jit(variant))
                warm, times = C.time_steps(lambda: model.train_on_batch(x, y, sample_weight=sw),
                                           spec["timing"])
                loss = float(model.train_on_batch(x, y, sample_weight=sw)[0])
                rec.add(case["id"], variant, warm, times, mlm_positions=case["num_masked"],
                        heads="MLM+NSP", final_loss=loss)
            C.guarded(rec, case["id"], variant, run)
            keras.backend.clear_session()
            C.free_memory()


def tokenize(rec, spec):
    import tensorflow as tf

    from keras_bert_kit.text.bert_tokenizer import BertTokenizer

    threads = os.environ.get("BENCH_TF_THREADS")
    variant = "1 thread" if threads == "1" else "default threads"
    texts = C.read_texts(spec["data"]["texts"], spec.get("max_texts"))
    batches = C.chunks(texts, spec["batch_size"])
    tokenizer = BertTokenizer.from_pretrained(spec["data"]["vocab_folder"])
    fn = tf.function(lambda s: tokenizer(s), input_signature=[tf.TensorSpec([None], tf.string)])

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
                batch_size=spec["batch_size"], impl_detail="BertTokenizer in tf.function")
    C.guarded(rec, "corpus", variant, run)


def build_classifier(cfg, vocab_folder, seq):
    import keras

    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.models.bert_classifier import BertClassifier
    from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
    from keras_bert_kit.text.bert_tokenizer import BertTokenizer

    keras.utils.set_random_seed(C.SEED)
    pre = BertPreprocessor(BertTokenizer.from_pretrained(vocab_folder), sequence_length=seq)
    return BertClassifier(BertBackbone(**backbone_kwargs(cfg)), num_classes=2, preprocessor=pre)


def serve_prepare(rec, spec):
    """Exports one text-in SavedModel per serve config (not timed; reused by every round)."""
    import time

    from keras_bert_kit.export.saved_model import export_saved_model

    for case in spec["cases"]:
        def run():
            t0 = time.perf_counter()
            classifier = build_classifier(case["cfg"], spec["data"]["vocab_folder"], case["seq"])
            export_saved_model(classifier, case["export_dir"]["ours"], check=False, overwrite=True)
            rec.add(case["id"], "export", [], [time.perf_counter() - t0])
            # The same model padded to the full sequence length, for comparison, and both in
            # bfloat16 (the same weights rounded).
            export_saved_model(classifier, case["export_dir"]["ours_full"], check=False,
                               pad_to_multiple_of=None, overwrite=True)
            export_saved_model(classifier, case["export_dir"]["ours_bf16"], check=False,
                               overwrite=True, precision="bfloat16")
            export_saved_model(classifier, case["export_dir"]["ours_full_bf16"], check=False,
                               pad_to_multiple_of=None, overwrite=True, precision="bfloat16")
        C.guarded(rec, case["id"], "export", run)


def serve(rec, spec):
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 - registers the ops the SavedModel uses

    from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
    from keras_bert_kit.text.bert_tokenizer import BertTokenizer

    texts = C.read_texts(spec["data"]["texts"], spec.get("max_texts"))
    loaded = {}
    for case in spec["cases"]:
        def run():
            served = {}
            for key in ("ours", "ours_full", "ours_bf16", "ours_full_bf16"):
                path = case["export_dir"][key]
                if path not in loaded:
                    loaded[path] = tf.saved_model.load(path)
                served[key] = loaded[path].signatures["serving_default"]
            path = case["export_dir"]["ours"]
            signature, full = served["ours"], served["ours_full"]
            ids_signature = loaded[path].signatures["token_ids"]
            pre = BertPreprocessor(BertTokenizer.from_pretrained(spec["data"]["vocab_folder"]),
                                   sequence_length=case["seq"])
            pre_fn = tf.function(pre, input_signature=[tf.TensorSpec([None], tf.string)])
            C.serve_case(rec, spec, case, texts, {
                "text->probabilities": (
                    lambda batch: signature(text=tf.constant(batch))["probabilities"].numpy(),
                    None),
                "text->probabilities, full length": (  # run.py's FULL_LENGTH
                    lambda batch: full(text=tf.constant(batch))["probabilities"].numpy(), None),
                "text->probabilities, bf16": (  # run.py's BF16
                    lambda batch: served["ours_bf16"](text=tf.constant(batch))
                    ["probabilities"].numpy(), None),
                "text->probabilities, full length, bf16": (  # run.py's FULL_LENGTH_BF16
                    lambda batch: served["ours_full_bf16"](text=tf.constant(batch))
                    ["probabilities"].numpy(), None),
                "preprocess only": (
                    lambda batch: pre_fn(tf.constant(batch))["token_ids"].numpy(), None),
                "model only (token ids in)": (
                    lambda packed: ids_signature(**packed)["probabilities"].numpy(),
                    lambda batch: pre_fn(tf.constant(batch))),
            })
        C.guarded(rec, case["id"], "text->probabilities", run)


TASKS = {"infer": infer, "pretrain_step": pretrain_step, "tokenize": tokenize,
         "serve_prepare": serve_prepare, "serve": serve,
         "peak": C.peak_matmul}


def setup(info):
    C.tf_threads_from_env()
    import keras

    info.update(keras=keras.__version__, tf_threads=os.environ.get("BENCH_TF_THREADS"))


if __name__ == "__main__":
    C.worker_main(IMPL, TASKS, setup)
