"""Benchmark worker for Hugging Face: TF `transformers` models and the Rust `tokenizers`.

`bench/run.py` starts it with `TF_USE_LEGACY_KERAS=1` for the model tasks (HF's TF classes run on
tf-keras; nothing of ours is imported in those processes). The tokenize task imports only
`tokenizers`; its thread count is set by the launcher through `TOKENIZERS_PARALLELISM` (the
variable the Rust library reads on every batch call; "false" makes `encode_batch` serial) and
`RAYON_NUM_THREADS` (size of the rayon pool when parallel). The serve task runs `tokenizers` in
Python and feeds our exported SavedModel's `token_ids` signature (TensorFlow only).
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

import numpy as np  # noqa: E402

import _common as C  # noqa: E402

IMPL = "hf"


def hf_config(cfg, **kw):
    import transformers

    return transformers.BertConfig(
        vocab_size=cfg["vocabulary_size"], hidden_size=cfg["hidden_dim"],
        num_hidden_layers=cfg["num_layers"], num_attention_heads=cfg["num_heads"],
        intermediate_size=cfg["intermediate_dim"],
        max_position_embeddings=cfg["max_sequence_length"], hidden_act="gelu", **kw)


def hf_inputs(batch):
    return {"input_ids": batch["token_ids"], "token_type_ids": batch["segment_ids"],
            "attention_mask": batch["padding_mask"]}


def infer(rec, spec):
    import tensorflow as tf
    import tf_keras
    import transformers

    for case in spec["cases"]:
        inputs = {k: tf.constant(v) for k, v in
                  hf_inputs(C.random_batch(case["cfg"], case["batch"], case["seq"])).items()}
        for variant in C.variants(spec):
            def run():
                with C.precision(variant, tf_keras):
                    model = transformers.TFBertModel(hf_config(case["cfg"]))
                    model(inputs)
                fn = tf.function(lambda x: model(x, training=False), jit_compile=C.jit(variant))
                warm, times = C.time_steps(lambda: fn(inputs).pooler_output.numpy(),
                                           spec["timing"])
                rec.add(case["id"], variant, warm, times)
            C.guarded(rec, case["id"], variant, run)
            C.free_memory()
    rec.info.update(tf=tf.__version__, transformers=transformers.__version__)


def pretrain_step(rec, spec):
    import tensorflow as tf
    import tf_keras
    import transformers

    for case in spec["cases"]:
        b = C.pretraining_batch(case["cfg"], case["batch"], case["seq"], case["num_masked"])
        labels = np.full(b["token_ids"].shape, -100, np.int32)
        np.put_along_axis(labels, b["mask_positions"], b["mask_ids"], axis=1)
        x = {**hf_inputs(b), "labels": labels, "next_sentence_label": b["next_sentence_labels"]}
        for variant in C.variants(spec):
            def run():
                tf_keras.utils.set_random_seed(C.SEED)
                with C.precision(variant, tf_keras):
                    model = transformers.TFBertForPreTraining(hf_config(case["cfg"]))
                    model(hf_inputs(b))
                # No loss given: the model's own MLM (-100 = unscored) + NSP loss is used.
                model.compile(optimizer=tf_keras.optimizers.Adam(case["learning_rate"]),
                              jit_compile=C.jit(variant))
                step = lambda: model.train_on_batch(x)  # noqa: E731
                warm, times = C.time_steps(step, spec["timing"])
                loss = step()
                loss = float(np.ravel(loss)[0])
                rec.add(case["id"], variant, warm, times, mlm_positions=case["seq"],
                        heads="MLM+NSP (MLM head on every position)", final_loss=loss)
            C.guarded(rec, case["id"], variant, run)
            tf_keras.backend.clear_session()
            C.free_memory()
    rec.info.update(tf=tf.__version__, transformers=transformers.__version__)


def hf_tokenizer(folder, seq=None):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(os.path.join(folder, "tokenizer.json"))
    if seq is None:
        tok.no_truncation()
        tok.no_padding()
    else:
        tok.enable_truncation(max_length=seq)
        tok.enable_padding(length=seq, pad_id=0, pad_token="[PAD]")
    return tok


def tokenize(rec, spec):
    import tokenizers

    parallel = os.environ.get("TOKENIZERS_PARALLELISM", "true").lower() not in (
        "", "off", "false", "f", "no", "n", "0")
    variant = "default threads" if parallel else "1 thread"
    texts = C.read_texts(spec["data"]["texts"], spec.get("max_texts"))
    batches = C.chunks(texts, spec["batch_size"])
    tok = hf_tokenizer(spec["data"]["vocab_folder"])

    def one_pass():
        total = 0
        for batch in batches:
            total += sum(len(e.ids) for e in tok.encode_batch(batch, add_special_tokens=False))
        return total

    def run():
        tokens = one_pass()
        warm, times = C.time_steps(one_pass, spec["timing"])
        rec.add("corpus", variant, warm, times, tokens=tokens, texts=len(texts),
                batch_size=spec["batch_size"],
                impl_detail=f"tokenizers {tokenizers.__version__} Tokenizer.encode_batch",
                env={k: os.environ.get(k) for k in ("TOKENIZERS_PARALLELISM",
                                                    "RAYON_NUM_THREADS")})
    C.guarded(rec, "corpus", variant, run)


def serve(rec, spec):
    """HF `tokenizers` in Python, then our SavedModel's `token_ids` signature (same model)."""
    import tensorflow as tf
    import tensorflow_text  # noqa: F401 - registers the ops the SavedModel uses

    texts = C.read_texts(spec["data"]["texts"], spec.get("max_texts"))
    loaded = {}
    for case in spec["cases"]:
        def run():
            path = case["export_dir"]["ours"]
            if path not in loaded:
                loaded[path] = tf.saved_model.load(path)
            signature = loaded[path].signatures["token_ids"]
            tok = hf_tokenizer(spec["data"]["vocab_folder"], case["seq"])

            def encode(batch):
                encodings = tok.encode_batch(batch) if len(batch) > 1 else [tok.encode(batch[0])]
                return {"token_ids": np.array([e.ids for e in encodings], np.int32),
                        "segment_ids": np.array([e.type_ids for e in encodings], np.int32),
                        "padding_mask": np.array([e.attention_mask for e in encodings], np.int32)}

            def end_to_end(batch):
                packed = encode(batch)
                return signature(**{k: tf.constant(v) for k, v in packed.items()})[
                    "probabilities"].numpy()

            C.serve_case(rec, spec, case, texts, {"text->probabilities": (end_to_end, None),
                                                  "preprocess only": (encode, None)})
        C.guarded(rec, case["id"], "text->probabilities", run)


TASKS = {"infer": infer, "pretrain_step": pretrain_step, "tokenize": tokenize, "serve": serve}


def setup(info):
    info["TF_USE_LEGACY_KERAS"] = os.environ.get("TF_USE_LEGACY_KERAS")
    info.update({k: os.environ.get(k) for k in ("TOKENIZERS_PARALLELISM", "RAYON_NUM_THREADS")})


if __name__ == "__main__":
    C.worker_main(IMPL, TASKS, setup)
