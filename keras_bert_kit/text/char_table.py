"""Per-code-point tables of BERT's text normalization, as Hugging Face `tokenizers` applies it.

`CharTable` says, for every Unicode code point, what BERT's normalizer and pre-tokenizer make of
it: drop it, treat it as whitespace, split it off as a word of its own, or keep it inside a word,
possibly rewritten as other code points by lower-casing and accent stripping. `WordSplitter` turns
the table into constant tensors and applies it in-graph.

The rules follow `tokenizers`' `BertNormalizer` (clean text, pad CJK ideographs with spaces, strip
accents = NFD then drop non-spacing marks, lower-case, in that order) and `BertPreTokenizer`
(split on whitespace, isolate punctuation). They are computed from Python's `unicodedata`
(Unicode 14.0 on Python 3.11). `tokenizers` takes its character categories from a Unicode 8.0
table, its NFD from an older one and its lower-casing from Rust (Unicode 16.0), so the characters
whose category, decomposition or case differ between those versions are listed explicitly below
(`tests/text/test_hf_parity.py` compares the splits with `tokenizers` code point by code point).
"""

import dataclasses
import functools
import unicodedata

import numpy as np

# Entry kinds, for code points that map to themselves.
WORD = 0  # part of a word
SEPARATOR = 1  # whitespace: ends the current word and is removed
ISOLATED = 2  # punctuation or CJK ideograph: a word of its own
DROPPED = 3  # control/format/private-use character, NUL or U+FFFD: removed without splitting
# Entries >= MAPPED index `mapped_row_splits` (entry - MAPPED) for code points rewritten by
# lower-casing/accent stripping; each output code point then has its own WORD/SEPARATOR/ISOLATED.
MAPPED = 4

BLOCK_BITS = 7  # code points are looked up in 128-entry blocks; identical blocks are stored once
_NUM_CODE_POINTS = 0x110000

# `tokenizers`' BertNormalizer pads these with spaces (its `is_chinese_char`).
CJK_RANGES = (
    (0x4E00, 0x9FFF),
    (0x3400, 0x4DBF),
    (0x20000, 0x2A6DF),
    (0x2A700, 0x2B73F),
    (0x2B740, 0x2B81F),
    (0x2B920, 0x2CEAF),
    (0xF900, 0xFAFF),
    (0x2F800, 0x2FA1F),
)
# Rust's `char::is_whitespace` (the White_Space property) minus the C0/C1 controls it includes
# (U+000B, U+000C, U+0085), which BertNormalizer drops as control characters before splitting.
WHITESPACE = frozenset(
    [0x09, 0x0A, 0x0D, 0x20, 0xA0, 0x1680, *range(0x2000, 0x200B), 0x2028, 0x2029, 0x202F]
    + [0x205F, 0x3000]
)
# Format characters (Cf) assigned after Unicode 8.0: unassigned for `tokenizers`, so kept.
_NEW_FORMAT = ((0x0890, 0x0891), (0x08E2, 0x08E2), (0x110CD, 0x110CD), (0x13430, 0x13438))
# Non-spacing marks (Mn) assigned after Unicode 8.0 (not stripped), and one that was Mn in 8.0.
_NEW_NONSPACING_MARKS = (
    (0x07FD, 0x07FD), (0x0898, 0x089F), (0x08CA, 0x08E1), (0x09FE, 0x09FE), (0x0AFA, 0x0AFF),
    (0x0B55, 0x0B55), (0x0C04, 0x0C04), (0x0C3C, 0x0C3C), (0x0D00, 0x0D00), (0x0D3B, 0x0D3C),
    (0x0D81, 0x0D81), (0x0EBA, 0x0EBA), (0x180F, 0x180F), (0x1885, 0x1886), (0x1ABF, 0x1ACE),
    (0x1DF6, 0x1DFB), (0xA82C, 0xA82C), (0xA8C5, 0xA8C5), (0xA8FF, 0xA8FF), (0xA9BD, 0xA9BD),
    (0x10D24, 0x10D27), (0x10EAB, 0x10EAC), (0x10F46, 0x10F50), (0x10F82, 0x10F85),
    (0x11070, 0x11070), (0x11073, 0x11074), (0x110C2, 0x110C2), (0x111C9, 0x111C9),
    (0x111CF, 0x111CF), (0x1123E, 0x1123E), (0x1133B, 0x1133B), (0x11438, 0x1143F),
    (0x11442, 0x11444), (0x11446, 0x11446), (0x1145E, 0x1145E), (0x1182F, 0x11837),
    (0x11839, 0x1183A), (0x1193B, 0x1193C), (0x1193E, 0x1193E), (0x11943, 0x11943),
    (0x119D4, 0x119D7), (0x119DA, 0x119DB), (0x119E0, 0x119E0), (0x11A01, 0x11A0A),
    (0x11A33, 0x11A38), (0x11A3B, 0x11A3E), (0x11A47, 0x11A47), (0x11A51, 0x11A56),
    (0x11A59, 0x11A5B), (0x11A8A, 0x11A96), (0x11A98, 0x11A99), (0x11C30, 0x11C36),
    (0x11C38, 0x11C3D), (0x11C3F, 0x11C3F), (0x11C92, 0x11CA7), (0x11CAA, 0x11CB0),
    (0x11CB2, 0x11CB3), (0x11CB5, 0x11CB6), (0x11D31, 0x11D36), (0x11D3A, 0x11D3A),
    (0x11D3C, 0x11D3D), (0x11D3F, 0x11D45), (0x11D47, 0x11D47), (0x11D90, 0x11D91),
    (0x11D95, 0x11D95), (0x11D97, 0x11D97), (0x11EF3, 0x11EF4), (0x16F4F, 0x16F4F),
    (0x16FE4, 0x16FE4), (0x1CF00, 0x1CF2D), (0x1CF30, 0x1CF46), (0x1E000, 0x1E006),
    (0x1E008, 0x1E018), (0x1E01B, 0x1E021), (0x1E023, 0x1E024), (0x1E026, 0x1E02A),
    (0x1E130, 0x1E136), (0x1E2AE, 0x1E2AE), (0x1E2EC, 0x1E2EF), (0x1E944, 0x1E94A),
)
_OLD_NONSPACING_MARKS = frozenset([0x1734])
# Punctuation (P*) assigned after Unicode 8.0 (not split off), and two that were P* in 8.0.
_NEW_PUNCTUATION = (
    (0x061D, 0x061D), (0x09FD, 0x09FD), (0x0A76, 0x0A76), (0x0C77, 0x0C77), (0x0C84, 0x0C84),
    (0x1B7D, 0x1B7E), (0x2E43, 0x2E4F), (0x2E52, 0x2E5D), (0x10EAD, 0x10EAD), (0x10F55, 0x10F59),
    (0x10F86, 0x10F89), (0x1144B, 0x1144F), (0x1145A, 0x1145B), (0x1145D, 0x1145D),
    (0x11660, 0x1166C), (0x116B9, 0x116B9), (0x1183B, 0x1183B), (0x11944, 0x11946),
    (0x119E2, 0x119E2), (0x11A3F, 0x11A46), (0x11A9A, 0x11A9C), (0x11A9E, 0x11AA2),
    (0x11C41, 0x11C45), (0x11C70, 0x11C71), (0x11EF7, 0x11EF8), (0x11FFF, 0x11FFF),
    (0x12FF1, 0x12FF2), (0x16E97, 0x16E9A), (0x16FE2, 0x16FE2), (0x1E95E, 0x1E95F),
)
_OLD_PUNCTUATION = frozenset([0x166D, 0x111C9])
# Canonical decompositions newer than `tokenizers`' NFD tables (Dives Akuru, Unicode 13.0).
_NEW_DECOMPOSITIONS = frozenset([0x11938])
# Upper-case letters assigned after Unicode 14.0, lower-cased by Rust: (first, last, step, delta).
_NEW_LOWERCASE_RUNS = (
    (0x1C89, 0x1C89, 1, 1),
    (0xA7CB, 0xA7CB, 1, 0x0264 - 0xA7CB),
    (0xA7CC, 0xA7CE, 2, 1),
    (0xA7D2, 0xA7D4, 2, 1),
    (0xA7DA, 0xA7DA, 1, 1),
    (0xA7DC, 0xA7DC, 1, 0x019B - 0xA7DC),
    (0x10D50, 0x10D65, 1, 0x20),
    (0x16EA0, 0x16EB8, 1, 27),
)


def _expand(ranges):
    return frozenset(c for first, last in ranges for c in range(first, last + 1))


_NEW_FORMAT_SET = _expand(_NEW_FORMAT)
_NEW_NONSPACING_MARK_SET = _expand(_NEW_NONSPACING_MARKS)
_NEW_PUNCTUATION_SET = _expand(_NEW_PUNCTUATION)
_NEW_LOWERCASE = {
    c: c + delta
    for first, last, step, delta in _NEW_LOWERCASE_RUNS
    for c in range(first, last + 1, step)
}


def _is_dropped(c, category):
    if c in (0, 0xFFFD):
        return True
    if c in (0x09, 0x0A, 0x0D) or c in _NEW_FORMAT_SET:
        return False
    return category in ("Cc", "Cf", "Co", "Cs")


def _is_punctuation(c):
    if 0x21 <= c <= 0x7E and not chr(c).isalnum():
        return True
    if c in _OLD_PUNCTUATION:
        return True
    return unicodedata.category(chr(c))[0] == "P" and c not in _NEW_PUNCTUATION_SET


def _is_nonspacing_mark(c):
    if c in _OLD_NONSPACING_MARKS:
        return True
    return unicodedata.category(chr(c)) == "Mn" and c not in _NEW_NONSPACING_MARK_SET


def _lower(c):
    if c in _NEW_LOWERCASE:
        return chr(_NEW_LOWERCASE[c])
    return chr(c).lower()


def _output_kind(c):
    if c in WHITESPACE:
        return SEPARATOR
    if _is_punctuation(c):
        return ISOLATED
    return WORD


@dataclasses.dataclass(frozen=True)
class CharTable:
    """What BERT's normalizer and pre-tokenizer do with each Unicode code point.

    The entry of code point `c` is
    `blocks[block_index[c >> BLOCK_BITS] * 2**BLOCK_BITS + (c & (2**BLOCK_BITS - 1))]`:
    `WORD`, `SEPARATOR`, `ISOLATED` or `DROPPED` for code points kept as they are (or dropped),
    or `MAPPED + i` for code points rewritten as
    `mapped_code_points[mapped_row_splits[i]:mapped_row_splits[i + 1]]`, whose kinds are in
    `mapped_kinds` at the same positions.

    Args:
        block_index: int32 `[0x110000 >> BLOCK_BITS]`, block number of each run of 128 code points.
        blocks: int32 `[num_blocks * 128]`, entries of the distinct blocks.
        mapped_row_splits: int32 `[num_mapped + 1]`.
        mapped_code_points: int32, the rewritten code points.
        mapped_kinds: int32, `WORD`/`SEPARATOR`/`ISOLATED` of each rewritten code point.

    Example:
    >>> table = CharTable.build(lowercase=True)
    >>> entry = lambda c: table.blocks[table.block_index[c >> BLOCK_BITS] * 128 + (c & 127)]
    >>> [int(entry(ord(c))) for c in "a ?"]  # WORD, SEPARATOR, ISOLATED
    [0, 1, 2]
    >>> first = table.mapped_row_splits[entry(ord("É")) - MAPPED]
    >>> chr(table.mapped_code_points[first])
    'e'
    """

    block_index: np.ndarray
    blocks: np.ndarray
    mapped_row_splits: np.ndarray
    mapped_code_points: np.ndarray
    mapped_kinds: np.ndarray

    @staticmethod
    @functools.lru_cache(maxsize=8)
    def build(lowercase, strip_accents=None, tokenize_chinese_chars=True):
        """Builds (once per process and setting) the table of a BERT normalizer.

        Args:
            lowercase: lower-case the text (uncased vocabularies).
            strip_accents: decompose (NFD) and drop non-spacing marks; `None` follows `lowercase`.
            tokenize_chinese_chars: make every CJK ideograph a word of its own.

        Returns:
            A `CharTable`.
        """
        if strip_accents is None:
            strip_accents = lowercase
        entries = np.zeros(_NUM_CODE_POINTS, np.int32)
        row_splits, code_points, kinds = [0], [], []
        cjk = _expand(CJK_RANGES) if tokenize_chinese_chars else frozenset()
        for c in range(_NUM_CODE_POINTS):
            category = unicodedata.category(chr(c))
            if category == "Cn" and c not in _NEW_LOWERCASE and c not in cjk:
                continue  # unassigned: an ordinary word character (entry WORD)
            if _is_dropped(c, category):
                entries[c] = DROPPED
                continue
            if c in WHITESPACE:
                entries[c] = SEPARATOR
                continue
            text = chr(c)
            if strip_accents:
                if c not in _NEW_DECOMPOSITIONS:
                    text = unicodedata.normalize("NFD", text)
                text = "".join(
                    ch
                    for ch in text
                    if not _is_nonspacing_mark(ord(ch))
                )
            if lowercase:
                text = "".join(_lower(ord(ch)) for ch in text)
            out = [(ord(ch), _output_kind(ord(ch))) for ch in text]
            if c in cjk and len(out) == 1:
                out = [(out[0][0], ISOLATED)]
            if len(out) == 1 and out[0][0] == c:
                entries[c] = out[0][1]
                continue
            if c in cjk:
                out = [(0x20, SEPARATOR), *out, (0x20, SEPARATOR)]
            entries[c] = MAPPED + len(row_splits) - 1
            code_points.extend(cp for cp, _ in out)
            kinds.extend(kind for _, kind in out)
            row_splits.append(len(code_points))
        blocks, block_index = np.unique(
            entries.reshape(-1, 1 << BLOCK_BITS), axis=0, return_inverse=True
        )
        return CharTable(
            block_index=block_index.reshape(-1).astype(np.int32),
            blocks=blocks.reshape(-1).astype(np.int32),
            mapped_row_splits=np.asarray(row_splits, np.int32),
            mapped_code_points=np.asarray(code_points, np.int32),
            mapped_kinds=np.asarray(kinds, np.int32),
        )
