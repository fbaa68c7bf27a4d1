"""Pretraining text: a file's bytes → documents of sentences, in one of three input formats.

- `decode_text`: bytes → text, with an error naming file and line for binary or non-UTF-8 data;
- `documents_from_text` (`detect_input_format` for `"auto"`): Google's format (one sentence per
  line, a blank line between documents), prose (paragraphs, wrapped lines, chapter headings
  start documents; sentences from `sentence_splitter`) or JSON Lines (one document per line);
- `document_key`: a document's 16-byte identity (its file's base name, position and text), so
  that local and remote copies of a file give the same records;
- `read_file_documents`: one file's bytes → `[(document key, sentences)]`.

All of these are pure functions of bytes and names, so every runner and worker agrees; only
`read_documents` opens a (local) file. Which files to read (`files.expand_file_patterns`), how
documents become pieces and records (`pretraining_pieces.py`, `pretraining_instances.py`) and
the runners live elsewhere.
"""

import contextlib
import hashlib
import json
import os
import posixpath
import re

from keras_bert_kit.data import sentence_splitter

INPUT_FORMATS = ("auto", "google", "prose", "jsonl")
# A chapter heading line: "CHAPTER ..." or "Chapter" and a number ("Chapter 12", "Chapter IV").
_CHAPTER = re.compile(
    r"^[ \t]*(?:CHAPTER\b|Chapter[ \t]+(?:\d+|[IVXLC]+)\b)[^\n]*$", re.MULTILINE
)


def decode_text(name, data):
    """The text of a file's bytes; a clear error for binary (NUL bytes) or non-UTF-8 content.

    Args:
        name: the file's name or URL, for error messages.
        data: the file's bytes.

    Returns:
        The text, without a byte-order mark, with `\\n` line ends.

    Raises:
        ValueError: the data holds a NUL byte or is not UTF-8 (the message names file and line).

    Example:
    >>> decode_text("a.txt", b"One.\\r\\nTwo.\\r\\n")
    'One.\\nTwo.\\n'
    """
    nul = data.find(b"\x00")
    if nul >= 0:
        line = data.count(b"\n", 0, nul) + 1
        raise ValueError(
            f"{name}:{line}: binary file (NUL byte at offset {nul}); pretraining input must be "
            "UTF-8 text."
        )
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        raise ValueError(
            f"{name}:{line}: not UTF-8 text ({e.reason} at byte {e.start}); pretraining input "
            "must be UTF-8 text."
        ) from None
    return text.removeprefix("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def documents_from_text(name, text, input_format="auto", jsonl_text_field="text"):
    """Splits one file's text into documents, each a list of sentence strings.

    Args:
        name: the file's name or URL (its extension decides `"auto"`; errors name it).
        text: the file's text (see `decode_text`).
        input_format: `"google"`, `"prose"`, `"jsonl"` or `"auto"` (see `create_pretraining_data`).
        jsonl_text_field: field holding the text in JSON Lines records.

    Returns:
        A list of documents (empty ones left out); each a list of non-empty sentences.

    Raises:
        ValueError: a JSON Lines record is invalid (the message names the file and line).

    Example:
    >>> documents_from_text("a.txt", "One line.\\nTwo lines.\\n\\nA new document.\\n", "google")
    [['One line.', 'Two lines.'], ['A new document.']]
    """
    if input_format == "auto":
        input_format = detect_input_format(name, text)
    if input_format == "google":
        documents = [[line.strip() for line in block.split("\n") if line.strip()]
                     for block in re.split(r"\n\s*\n", text)]
    elif input_format == "prose":
        documents = [_prose_sentences(chapter) for chapter in _CHAPTER.split(text)]
    elif input_format == "jsonl":
        documents = [_prose_sentences(t) for t in _jsonl_texts(name, text, jsonl_text_field)]
    else:
        raise ValueError(f"input_format must be one of {INPUT_FORMATS}, got {input_format!r}.")
    return [d for d in documents if d]


def detect_input_format(path, text):
    """Guesses `"jsonl"`, `"prose"` or `"google"` for a file (see `create_pretraining_data`).

    Args:
        path: the file name (its extension is looked at).
        text: the file's text.

    Returns:
        `"jsonl"`, `"prose"` or `"google"`.

    Example:
    >>> detect_input_format("a.txt", "One sentence.\\nAnother one.\\n\\nA new document.\\nEnd.")
    'google'
    """
    if os.path.splitext(os.fspath(path))[1].lower() in (".jsonl", ".json"):
        return "jsonl"
    first_line = text.lstrip().partition("\n")[0].strip()
    if first_line.startswith("{") and first_line.endswith("}"):
        with contextlib.suppress(ValueError):
            json.loads(first_line)
            return "jsonl"
    if _CHAPTER.search(text):
        return "prose"
    lines = [line.strip() for line in text.split("\n") if line.strip()]
    blocks = [b for b in re.split(r"\n\s*\n", text) if b.strip()]
    ends_sentence = sum(line[-1] in ".!?\"'”’)" for line in lines)
    # Google's format: most lines end a sentence and documents have several lines. Wrapped prose
    # has many lines that stop mid-sentence; unwrapped prose has one line per paragraph.
    if lines and ends_sentence >= 0.6 * len(lines) and len(lines) >= 2 * len(blocks):
        return "google"
    return "prose"


def _prose_sentences(text):
    return [s for p in sentence_splitter.split_paragraphs(text)
            for s in sentence_splitter.split_sentences(p)]


def _jsonl_texts(path, text, field):
    for line_number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as e:
            raise ValueError(f"{path}:{line_number}: invalid JSON ({e.msg}).") from None
        value = record.get(field) if isinstance(record, dict) else None
        if not isinstance(value, str):
            raise ValueError(
                f"{path}:{line_number}: a JSON Lines record needs a string field {field!r} "
                f"(set jsonl_text_field); got {type(value).__name__}."
            )
        yield value


def document_key(path, ordinal, sentences):
    """The 16-byte identity of a document: its file's base name, its position there, its text.

    The folder is left out, so the same files give the same records from a local disk or a
    bucket; two documents are the same only if all three agree.

    Args:
        path: the file's path or URL.
        ordinal: the document's position among the file's (non-empty) documents.
        sentences: the document's sentences.

    Returns:
        16 bytes.

    Example:
    >>> document_key("/data/a.txt", 0, ["Hi."]) == document_key("gs://bucket/a.txt", 0, ["Hi."])
    True
    """
    digest = hashlib.blake2b(digest_size=16, person=b"kbk-document")
    digest.update(f"{posixpath.basename(os.fspath(path))}\0{ordinal}\0".encode())
    digest.update("\n".join(sentences).encode())
    return digest.digest()


def read_file_documents(path, data, input_format="auto", jsonl_text_field="text"):
    """`[(document key, sentences)]` of one file's bytes (`decode_text` + `documents_from_text`).

    Args:
        path: the file's path or URL.
        data: the file's bytes.
        input_format: see `documents_from_text`.
        jsonl_text_field: see `documents_from_text`.

    Returns:
        A list of `(16-byte key, list of sentences)`.

    Example:
    >>> [sentences for _, sentences in read_file_documents("a.txt", b"One.\\nTwo.\\n", "google")]
    [['One.', 'Two.']]
    """
    documents = documents_from_text(path, decode_text(path, data), input_format, jsonl_text_field)
    return [(document_key(path, i, d), d) for i, d in enumerate(documents)]


def read_documents(path, input_format="auto", jsonl_text_field="text"):
    """Reads one text file into documents, each a list of sentence strings.

    Args:
        path: a UTF-8 text file.
        input_format: `"google"`, `"prose"`, `"jsonl"` or `"auto"` (see `create_pretraining_data`).
        jsonl_text_field: field holding the text in JSON Lines records.

    Returns:
        A list of documents (empty ones left out); each a list of non-empty sentences.

    Raises:
        ValueError: the file is binary or not UTF-8, or a JSON Lines record is invalid; the
            message names the file and line.

    Example:
    >>> with open("novel.txt", "w") as f:  # prose: chapters are documents, lines are wrapped
    ...     _ = f.write("CHAPTER I\\n\\nIt was a\\nfine day. Mr. Elton\\nsmiled.\\n\\n"
    ...                 "CHAPTER II\\n\\nThen it rained.\\n")
    >>> read_documents("novel.txt")
    [['It was a fine day.', 'Mr. Elton smiled.'], ['Then it rained.']]
    """
    with open(path, "rb") as f:
        text = decode_text(path, f.read())
    return documents_from_text(path, text, input_format, jsonl_text_field)
