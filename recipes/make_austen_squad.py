"""Builds a SQuAD v1.1-format question-answering set from the six Jane Austen novels.

Questions are written by rules from sentences whose answer is a character's name:

- speaker questions: `"Quite right," said Mr. Knightley.` → `Who said "Quite right"?` →
  `Mr. Knightley` (a quotation followed by said / cried / replied / answered and a name);
- subject questions: `Emma could not repress a smile.` → `Who could not repress a smile?` →
  `Emma` (a sentence opening with a name that also occurs as a speaker, then a lower-case
  word).

Each context is a run of consecutive paragraphs of the original text (line breaks and all)
around the answer's paragraph, of a random target length, so many contexts are longer than one
model window. `answer_start` indexes the context exactly. Persuasion is held out: its questions
form `dev.json`, the other five novels' form `train.json`.

Usage:
    python recipes/make_austen_squad.py --output runs/austen_squad
"""

import argparse
import json
import pathlib
import random
import re

DATA = pathlib.Path(__file__).resolve().parent / "data" / "austen"
HELD_OUT = "persuasion"
_TITLE = r"(?:(?:Mr|Mrs|Dr)\.?|Miss|Lady|Sir|Colonel|Captain|Admiral)"
_NAME = rf"(?:{_TITLE}\s+)?[A-Z][a-z]+(?:\s+[A-Z][a-z]+)?"
_SPEAKER = re.compile(
    rf'"(?P<quote>[^"]{{12,400}}?)[,!?]"\s+(?:said|cried|replied|answered)\s+(?P<name>{_NAME})'
    r"(?=[\s,.;:!?])")
_PARAGRAPH = re.compile(r"\S(?:.|\n(?![ \t]*\n))*")
_TITLES = {"Mr", "Mrs", "Dr", "St"}
_NOT_NAMES = {"Oh", "Yes", "No", "Well", "Indeed", "Dear", "Upon", "But", "And", "Then", "Now"}


def _paragraphs(text):
    """`(start, end)` spans of the paragraphs (blank-line separated) of a novel."""
    return [m.span() for m in _PARAGRAPH.finditer(text)]


def _words(text, limit):
    """The first `limit` words of `text`, single-spaced, without trailing punctuation."""
    return " ".join(text.split()[:limit]).rstrip(",;:-")


def _speaker_questions(text, paragraph):
    start, end = paragraph
    for m in _SPEAKER.finditer(text, start, end):
        name = m.group("name")
        if name.split()[0] in _NOT_NAMES:
            continue
        quote = _words(m.group("quote"), 14)
        yield f'Who said "{quote}"?', name, m.start("name")


def _subject_pattern(names):
    """Sentences opening with one of `names` (any whitespace inside), then a lower-case word."""
    alternatives = "|".join(r"\s+".join(map(re.escape, n.split())) for n in names)
    return re.compile(rf'(?:\A|(?<=[.!?]\s)|(?<=[.!?]"\s))(?P<name>{alternatives})\s+'
                      r'(?P<rest>[a-z][^.!?;:"]{15,300}?)[.!?;]')


def _subject_questions(text, paragraph, pattern):
    start, end = paragraph
    for m in pattern.finditer(text[start:end]):
        rest = m.group("rest")
        if rest.split()[-1] in _TITLES:
            continue
        yield f"Who {_words(rest, 16)}?", m.group("name"), start + m.start("name")


def _context(text, paragraphs, index, rng, target_words):
    """Character span of consecutive paragraphs around `paragraphs[index]`, ~`target_words` long."""
    first = last = index
    words = len(text[slice(*paragraphs[index])].split())
    while words < target_words and (first > 0 or last < len(paragraphs) - 1):
        if last < len(paragraphs) - 1 and (first == 0 or rng.random() < 0.5):
            last += 1
            words += len(text[slice(*paragraphs[last])].split())
        else:
            first -= 1
            words += len(text[slice(*paragraphs[first])].split())
    return paragraphs[first][0], paragraphs[last][1]


def novel_questions(path, rng, max_questions, min_words, max_words):
    """SQuAD paragraphs (one context + one question each) made from one novel."""
    text = path.read_text(encoding="utf-8")
    paragraphs = _paragraphs(text)
    speakers = []
    for i, paragraph in enumerate(paragraphs):
        speakers += [(i, q) for q in _speaker_questions(text, paragraph)]
    names = sorted({" ".join(q[1].split()) for _, q in speakers}, key=len, reverse=True)
    pattern = _subject_pattern(names)
    subjects = []
    for i, paragraph in enumerate(paragraphs):
        subjects += [(i, q) for q in _subject_questions(text, paragraph, pattern)]
    rng.shuffle(speakers)
    rng.shuffle(subjects)
    chosen = speakers[:max_questions // 2]
    chosen += subjects[:max_questions - len(chosen)]
    records = []
    for n, (i, (question, answer, answer_start)) in enumerate(chosen):
        start, end = _context(text, paragraphs, i, rng, rng.randint(min_words, max_words))
        context = text[start:end]
        assert context[answer_start - start:][:len(answer)] == answer
        records.append({"context": context, "qas": [{
            "id": f"{path.stem}-{n:04d}", "question": question,
            "answers": [{"text": answer, "answer_start": answer_start - start}]}]})
    return records, len(speakers), len(subjects)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--output", default="runs/austen_squad")
    parser.add_argument("--questions-per-novel", type=int, default=400)
    parser.add_argument("--min-context-words", type=int, default=60)
    parser.add_argument("--max-context-words", type=int, default=320)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    output = pathlib.Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    splits = {"train": [], "dev": []}
    for path in sorted(DATA.glob("*.txt")):
        records, speakers, subjects = novel_questions(
            path, rng, args.questions_per_novel, args.min_context_words, args.max_context_words)
        split = "dev" if path.stem == HELD_OUT else "train"
        splits[split].append({"title": path.stem, "paragraphs": records})
        print(f"{path.stem}: {len(records)} questions ({speakers} speaker and {subjects} subject "
              f"candidates) -> {split}")
    for split, articles in splits.items():
        document = {"version": "1.1", "data": articles}
        (output / f"{split}.json").write_text(json.dumps(document, ensure_ascii=False, indent=1),
                                              encoding="utf-8")
        count = sum(len(p["qas"]) for a in articles for p in a["paragraphs"])
        print(f"{output / (split + '.json')}: {count} questions")


if __name__ == "__main__":
    main()
