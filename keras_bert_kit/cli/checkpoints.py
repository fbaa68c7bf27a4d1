"""`kbk convert` and `kbk embed`: checkpoint conversion and sentence embeddings."""

from keras_bert_kit.cli.common import add_command, minilm_path


def run_convert(args):
    """Any BERT checkpoint → a Hugging Face safetensors folder (with heads when it has them)."""
    from keras_bert_kit.checkpoints import load_checkpoint
    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.models.bert_pretrainer import BertPretrainer

    if load_checkpoint(args.input).has_pretraining_heads():
        BertPretrainer.from_pretrained(args.input).save_pretrained(args.output)
    else:
        BertBackbone.from_pretrained(args.input).save_pretrained(args.output)
    print(f"wrote {args.output}/config.json and model.safetensors")


def run_embed(args):
    """Sentence embeddings (mean pooling) and their cosine similarities."""
    import numpy as np

    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.text.bert_preprocessor import BertPreprocessor
    from keras_bert_kit.text.bert_tokenizer import BertTokenizer

    path = args.model or minilm_path()
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


def register(subparsers):
    """Adds `convert` and `embed` to `kbk`'s subcommands."""
    p = add_command(subparsers, "convert", run_convert,
                    help="any BERT checkpoint → Hugging Face safetensors folder")
    p.add_argument("--input", required=True)
    p.add_argument("--output", required=True)

    p = add_command(subparsers, "embed", run_embed,
                    help="sentence embeddings and cosine similarities")
    p.add_argument("--model", help="a BERT folder with vocab.txt (default: all-MiniLM-L6-v2)")
    p.add_argument("texts", nargs="+")
