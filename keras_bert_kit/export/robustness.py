"""Robustness check of an export: many hostile inputs through `serving_default`, counting failures."""

import time

import numpy as np

_PIECES = [b"", b"   \t\n", b"\xff\xfe\xc3(", b"\x00\x01\x07\x1b", "\u200b\u200d\ufeff\u2028".encode(),
           "🎉🤖👍🏽".encode(), "寿司が好きです".encode(), "مرحبا بالعالم".encode(), "שלום עולם".encode(),
           b"the film was great", "Émile's café, naïve".encode(), b"\xed\xa0\x80", "ｆｕｌｌｗｉｄｔｈ".encode(),
           b"a" * 300, "\u0301\u0301x".encode()]


def hostile_texts(n, seed=0, huge_every=97, huge_bytes=1_000_000):
    """`n` byte strings mixing empty, whitespace-only, invalid UTF-8, control and zero-width
    characters, emoji, CJK, RTL scripts, very long words, and ~1 MB strings every `huge_every`.

    Example:
    >>> len(hostile_texts(5))
    5
    """
    rng = np.random.default_rng(seed)
    texts = []
    for i in range(n):
        parts = rng.choice(len(_PIECES), size=rng.integers(1, 5))
        text = b" ".join(_PIECES[p] for p in parts)
        if huge_every and i % huge_every == 0:
            text = (text + b" ") * (huge_bytes // (len(text) + 1) + 1)
        texts.append(text)
    return texts


def run_robustness(export_dir, n=10_000, batch_size=32, seed=0):
    """Sends `n` hostile inputs in batches to `serving_default`; returns a summary dict.

    Crashes (exceptions), wrong output shapes/dtypes and non-finite probabilities are counted.
    """
    import tensorflow as tf
    import tensorflow_text  # noqa: F401  (registers the tokenizer ops)

    serve = tf.saved_model.load(export_dir).signatures["serving_default"]
    texts = hostile_texts(n, seed)
    crashes = bad = 0
    start = time.perf_counter()
    for begin in range(0, n, batch_size):
        batch = texts[begin:begin + batch_size]
        try:
            out = serve(text=tf.constant(batch, dtype=tf.string))
        except Exception:  # noqa: BLE001  (any failure is what we count)
            crashes += 1
            continue
        probabilities = out.get("probabilities")
        if (probabilities is None or probabilities.shape[0] != len(batch)
                or probabilities.dtype != tf.float32
                or not np.isfinite(probabilities.numpy()).all()
                or out["label"].dtype != tf.string or out["label_id"].shape != (len(batch),)):
            bad += 1
    return {"inputs": n, "batches": -(-n // batch_size), "crashed_batches": crashes,
            "bad_output_batches": bad, "seconds": round(time.perf_counter() - start, 1),
            "huge_inputs": sum(len(t) >= 1_000_000 for t in texts)}
