"""Rule-based splitting of plain prose into paragraphs and sentences, for pretraining data creation.

`split_paragraphs` cuts text at blank lines and joins line-wrapped lines; `split_sentences` cuts a
paragraph after `.`, `!` or `?` (plus any closing quotes or brackets) when whitespace and an
upper-case letter or digit (possibly behind an opening quote) follow, except after a title
abbreviation such as "Mr." or "St." or a single-letter initial ("J. Smith"). It is a regular
expression, not a model: good enough to cut novels and web text into BERT's "sentences" (the
segments from which sentence pairs are built), not a linguistic tool.
"""

import re

# Lower-cased words that, followed by a period, do not end a sentence (titles and similar).
ABBREVIATIONS = frozenset(
    """mr mrs ms messrs mme mlle dr st prof rev revd hon capt col gen lt sgt maj cmdr adm gov
    sen rep esq jr sr mt ft""".split()
)

_BLANK_LINE = re.compile(r"\n[ \t\r\f\v]*\n")
_WHITESPACE = re.compile(r"\s+")
# A candidate sentence end: terminal punctuation, closing quotes/brackets (`_` closes Project
# Gutenberg italics), whitespace, and a look-ahead at the next sentence's start: optional opening
# quotes/brackets, then an upper-case letter or a digit.
_SENTENCE_END = re.compile(
    r"""(?P<end>[.!?]+|…)["'”’»)\]_]*\s+(?=["'“‘«(\[_]*[A-Z0-9À-ÖØ-Þ])"""
)
# The word right before a period (abbreviations are short: 12 characters are enough).
_WORD_BEFORE = re.compile(r"[^\s.!?]{0,12}\Z")


def split_paragraphs(text):
    """Splits text at blank lines into paragraphs, each line-wrapped paragraph joined into one line.

    Args:
        text: a `str` with `\\n` line ends (other whitespace inside a paragraph becomes one space).

    Returns:
        A list of non-empty paragraph strings.

    Example:
    >>> split_paragraphs("It was a\\nfine day.\\n\\n  Then it rained.\\n")
    ['It was a fine day.', 'Then it rained.']
    """
    paragraphs = (_WHITESPACE.sub(" ", block).strip() for block in _BLANK_LINE.split(text))
    return [p for p in paragraphs if p]


def split_sentences(paragraph):
    """Splits one paragraph (line-wrapped or not) into sentences.

    Args:
        paragraph: a `str`; runs of whitespace (line breaks included) become single spaces.

    Returns:
        A list of non-empty sentence strings; `[]` for blank input.

    Example:
    >>> split_sentences('Mr. Knightley came in. "Is it true?" asked Emma. "Yes!"')
    ['Mr. Knightley came in.', '"Is it true?" asked Emma.', '"Yes!"']
    """
    text = _WHITESPACE.sub(" ", paragraph).strip()
    sentences, start = [], 0
    for match in _SENTENCE_END.finditer(text):
        if match.group("end") == "." and _is_abbreviation(
            _WORD_BEFORE.search(text, max(0, match.start() - 12), match.start()).group()
        ):
            continue
        sentence = text[start:match.end()].strip()
        if sentence:
            sentences.append(sentence)
        start = match.end()
    if text[start:].strip():
        sentences.append(text[start:].strip())
    return sentences


def _is_abbreviation(word):
    """Whether `word` followed by "." is a title abbreviation or an initial, not a sentence end."""
    word = word.lstrip("\"'“‘«([_")
    if len(word) == 1 and word.isupper() and word != "I":
        return True
    return word.lower() in ABBREVIATIONS
