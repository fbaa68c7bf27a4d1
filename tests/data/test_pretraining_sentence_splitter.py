"""Sentence and paragraph splitting of prose for pretraining data creation."""

import pytest

from keras_bert_kit.data.sentence_splitter import split_paragraphs, split_sentences


@pytest.mark.parametrize(
    "text, expected",
    [
        ("It rained. Then it stopped.", ["It rained.", "Then it stopped."]),
        # Title abbreviations and initials do not end a sentence.
        ("Mr. Knightley and Mrs. Weston came. Dr. Perry did not.",
         ["Mr. Knightley and Mrs. Weston came.", "Dr. Perry did not."]),
        ("They lived in St. James's Street. It was J. Smith's house.",
         ["They lived in St. James's Street.", "It was J. Smith's house."]),
        ("Ask Messrs. Cole and Prof. Gray.", ["Ask Messrs. Cole and Prof. Gray."]),
        # "I." is the pronoun, not an initial.
        ("So said I. Then we left.", ["So said I.", "Then we left."]),
        # Quotes: the closing quote stays with its sentence; no split before lower case.
        ('"Is it true?" asked Emma. "Yes!" "Really?" he said.',
         ['"Is it true?" asked Emma.', '"Yes!"', '"Really?" he said.']),
        ("\u201cWell.\u201d \u2018Fine,\u2019 she said.",
         ["\u201cWell.\u201d", "\u2018Fine,\u2019 she said."]),
        ("It is (so they say.) True or not.", ["It is (so they say.)", "True or not."]),
        # Line-wrapped text is joined; no split before lower case or inside numbers.
        ("She was\nvery happy.   He was\n  not. it went on at 3.5 miles. 12 came.",
         ["She was very happy.", "He was not. it went on at 3.5 miles.", "12 came."]),
        ("Wait... What?! No.", ["Wait...", "What?!", "No."]),
        ("_We_ must begin. _They_ must follow.", ["_We_ must begin.", "_They_ must follow."]),
        ("", []),
        ("   \n ", []),
        ("no final stop", ["no final stop"]),
    ],
)
def test_split_sentences(text, expected):
    assert split_sentences(text) == expected


def test_split_paragraphs_joins_wrapped_lines_and_drops_blank_blocks():
    text = "First line\nwrapped here.\n\n\n  \t\nSecond\r\n para.\n \nThird."
    assert split_paragraphs(text) == ["First line wrapped here.", "Second para.", "Third."]


def test_austen_paragraph():
    paragraph = """Sixteen years had Miss Taylor been in Mr. Woodhouse's family, less as a
governess than a friend, very fond of both daughters, but particularly
of Emma. Between _them_ it was more the intimacy of sisters."""
    assert split_sentences(paragraph) == [
        "Sixteen years had Miss Taylor been in Mr. Woodhouse's family, less as a governess than a "
        "friend, very fond of both daughters, but particularly of Emma.",
        "Between _them_ it was more the intimacy of sisters.",
    ]
