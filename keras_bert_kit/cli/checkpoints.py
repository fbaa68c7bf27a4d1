"""`kbk convert` and `kbk embed`: checkpoint conversion and sentence embeddings."""

from keras_bert_kit.cli.common import add_command, minilm_path
from keras_bert_kit.errors import UserError


def load_model_to_export(path, task=None):
    """The task model `kbk export --model` names: a `.keras` file, or a checkpoint folder whose
    task comes from `config.json` `architectures` (or `task`), with a preprocessor from its
    `vocab.txt` / `tokenizer_config.json` and labels from `id2label`."""
    import os

    from keras_bert_kit.training.saving import load_model

    if not os.path.isdir(path):
        if task is not None:
            raise UserError(f"--task applies to checkpoint folders, not to {path}")
        return checked_task_model(load_model(path), path)
    from keras_bert_kit.models.pretrained_task import load_task_model

    if os.path.exists(os.path.join(path, "saved_model.pb")):
        raise UserError(f"{path} is already an exported SavedModel; give a .keras model or a "
                        "checkpoint folder")
    if not os.path.exists(os.path.join(path, "vocab.txt")):
        raise UserError(f"{path}: no vocab.txt in this folder; an export takes raw text, so it "
                        "needs the checkpoint's vocabulary beside the weights")
    return load_task_model(path, task=task)


def checked_task_model(model, path):
    """`model`, loaded from the `.keras` file `path`, once it is a task model whose vocabulary
    fits its embedding rows."""
    from keras_bert_kit.checkpoints.validation import check_vocabulary_size
    from keras_bert_kit.models.bert_task import BertTask

    if not isinstance(model, BertTask):
        raise UserError(f"{path} holds a {type(model).__name__}, not a task model; export a "
                        "fine-tuned model (kbk finetune ... writes model.keras)")
    tokenizer = getattr(model.preprocessor, "tokenizer", None)
    if tokenizer is not None:
        check_vocabulary_size(f"the vocabulary of {path}", tokenizer.vocabulary_size(),
                              model.backbone, path)
    return model


def run_convert(args):
    """Any BERT checkpoint → a Hugging Face safetensors folder: the task model with its head
    when it has one (else the encoder, or the pretrainer with MLM/NSP heads), and the
    tokenizer files when the input has a `vocab.txt`."""
    import os

    from keras_bert_kit.checkpoints import load_checkpoint
    from keras_bert_kit.config import checkpoint_folder
    from keras_bert_kit.models.bert_backbone import BertBackbone
    from keras_bert_kit.models.bert_pretrainer import BertPretrainer
    from keras_bert_kit.models.pretrained_task import checkpoint_task, load_task_model
    from keras_bert_kit.text.bert_tokenizer import BertTokenizer

    folder = checkpoint_folder(args.input)
    has_vocab = os.path.exists(os.path.join(folder, "vocab.txt"))
    tokenizer = BertTokenizer.from_pretrained(folder) if has_vocab else None
    if checkpoint_task(args.input) is not None:
        load_task_model(args.input).save_pretrained(args.output)
    elif load_checkpoint(args.input).has_pretraining_heads():
        BertPretrainer.from_pretrained(args.input).save_pretrained(args.output, tokenizer)
    else:
        BertBackbone.from_pretrained(args.input).save_pretrained(args.output, tokenizer)
    written = "config.json, model.safetensors" + (", vocab.txt, tokenizer_config.json"
                                                  if has_vocab else "")
    print(f"wrote {args.output}/: {written}")


def run_embed(args):
    """Sentence embeddings (mean pooling) and their cosine similarities."""
    import numpy as np

    from keras_bert_kit.models.pretrained_io import load_pretrained_parts

    path = args.model or minilm_path()
    _, backbone, preprocessor, _ = load_pretrained_parts(path, sequence_length=None)
    if preprocessor is None:
        raise UserError(f"{path}: no vocab.txt beside the weights, so no tokenizer")
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
    p.add_argument("--model", help="a BERT folder with vocab.txt, or a .keras model with "
                   "vocab.txt beside it (default: all-MiniLM-L6-v2)")
    p.add_argument("texts", nargs="+")
