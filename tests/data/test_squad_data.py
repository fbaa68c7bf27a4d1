"""SQuAD reading and checks, doc-stride windows, answer positions, n-best decoding, exact offsets."""

import json

import numpy as np
import pytest

from keras_bert_kit.data.squad_data import (SquadDataError, SquadExample, decode_answers,
                                            make_squad_dataset, make_squad_features, read_squad)
from keras_bert_kit.text.bert_tokenizer import BertTokenizer
from tests.conftest import FIXTURES

SQUAD = FIXTURES / "squad"
WORDS = ("emma woodhouse handsome clever and rich lived at hart ##field in the village of high "
         "##bury where did live which le cafe creme de zoe est a montreal pres du musee 北 京 市 "
         "la ville quel , . ?").split()
VOCAB = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"] + WORDS


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer(VOCAB)


def test_reads_v1_and_v2():
    v1 = read_squad(SQUAD / "v1_tiny.json")
    assert [e.qas_id for e in v1] == ["emma-1", "emma-2", "cafe-1", "cafe-2"]
    assert v1[0].answers[1] == {"text": "at Hartfield", "start": 50}
    assert v1[2].title == "Montréal" and not any(e.is_impossible for e in v1)
    v2 = read_squad(SQUAD / "v2_tiny.json")
    assert [e.is_impossible for e in v2] == [False, True] and v2[1].answers == []


@pytest.mark.parametrize("name,message", [
    ("answer_not_in_context.json",
     r"answer_not_in_context.json: question id 'bad-answer-7' \(data\[0\].paragraphs\[0\].qas\[1\]\):"
     r" answer 'Donwell Abbey' is not in the context at answer_start=40"),
    ("empty_context.json", r"empty_context.json: question id 'empty-ctx-3' .*: empty context"),
])
def test_bad_records_name_file_and_question(name, message):
    with pytest.raises(SquadDataError, match=message):
        read_squad(SQUAD / name)


def test_other_bad_files(tmp_path):
    def write(doc):
        path = tmp_path / "bad.json"
        path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
        return path

    qa = {"id": "q", "question": "Who?", "answers": [{"text": "Ann", "answer_start": 0}]}
    paragraph = {"context": "Ann met Bob.", "qas": [qa, qa]}
    with pytest.raises(SquadDataError, match=r"question id 'q' \(data\[0\].paragraphs\[0\].qas\[1\]\) is also"):
        read_squad(write({"data": [{"paragraphs": [paragraph]}]}))
    with pytest.raises(SquadDataError, match=r"bad.json:1: not valid JSON"):
        read_squad(write("{"))
    with pytest.raises(SquadDataError, match=r"data\[0\]: missing 'paragraphs'"):
        read_squad(write({"data": [{"title": "t"}]}))
    impossible = dict(qa, is_impossible=True)
    with pytest.raises(SquadDataError, match="question id 'q' .*is_impossible but has 1 answer"):
        read_squad(write({"data": [{"paragraphs": [{"context": "Ann met Bob.", "qas": [impossible]}]}]}))
    unanswered = dict(qa, answers=[])
    with pytest.raises(SquadDataError, match="question id 'q' .*no answers"):
        read_squad(write({"data": [{"paragraphs": [{"context": "Ann met Bob.", "qas": [unanswered]}]}]}))


def test_features_short_context(tokenizer):
    examples = read_squad(SQUAD / "v1_tiny.json")
    features = make_squad_features(examples, tokenizer, 32, training=True)
    assert len(features) == 4 and features.token_ids.shape == (4, 32)
    row = features.token_ids[0]
    tokens = [VOCAB[i] for i in row[:features.padding_mask[0].sum()]]
    assert tokens[:8] == ["[CLS]", "where", "did", "emma", "woodhouse", "live", "?", "[SEP]"]
    start, end = features.start_positions[0], features.end_positions[0]
    assert tokens[start:end + 1] == ["hart", "##field"]
    assert features.segment_ids[0, :8].tolist() == [0] * 8 and features.segment_ids[0, 8] == 1
    chars = features.token_to_char[0]
    context = examples[0].context
    assert context[chars[start, 0]:chars[end, 1]] == "Hartfield"
    assert (chars[:8] == -1).all()


def test_windows_cover_long_contexts_with_doc_stride(tokenizer):
    context = " ".join(["the village of Highbury"] * 30) + " where Emma lived at Hartfield."
    example = SquadExample("long", "Where did Emma live?", context,
                           [{"text": "Hartfield", "start": context.index("Hartfield")}])
    features = make_squad_features([example], tokenizer, 24, max_query_length=3, doc_stride=7,
                                   training=True)
    num_context_tokens = len(tokenizer(context).numpy())
    assert len(features) > 10
    seen, best = [], []
    for f in range(len(features)):
        context_positions = np.flatnonzero(features.token_to_char[f, :, 0] >= 0)
        assert features.token_ids[f, 1:4].tolist() == [VOCAB.index(w) for w in ("where", "did", "emma")]
        spans = [tuple(s) for s in features.token_to_char[f, context_positions]]
        seen += spans
        best += [s for s, m in zip(spans, features.max_context[f, context_positions]) if m]
    assert len(set(seen)) == num_context_tokens and sorted(set(best)) == sorted(set(seen))
    assert len(best) == num_context_tokens                 # exactly one best window per token
    labelled = np.flatnonzero(features.start_positions)
    assert len(labelled) >= 1 and (features.start_positions == 0).sum() > 5  # others point at [CLS]
    for f in labelled:
        s, e = features.token_to_char[f, features.start_positions[f]][0], \
            features.token_to_char[f, features.end_positions[f]][1]
        assert context[s:e] == "Hartfield"


def test_dataset_labels(tokenizer):
    features = make_squad_features(read_squad(SQUAD / "v1_tiny.json"), tokenizer, 32, training=True)
    x, y = next(iter(make_squad_dataset(features, 4, shuffle=False)))
    assert sorted(x) == ["padding_mask", "segment_ids", "token_ids"]
    assert y["start_logits"].numpy().tolist() == features.start_positions.tolist()


def _logits_for(features, spans, seq):
    """Start/end logits that make the given (window, start, end) spans best."""
    start = np.full((len(features), seq), -5.0, np.float32)
    end = np.full((len(features), seq), -5.0, np.float32)
    for f, s, e, score in spans:
        start[f, s] = end[f, e] = score
    return start, end


def test_decoding_maps_spans_to_exact_original_text(tokenizer):
    examples = read_squad(SQUAD / "v1_tiny.json")
    features = make_squad_features(examples, tokenizer, 40)
    spans = []
    for f, example in enumerate(examples):  # choose the gold answer's tokens in each window
        chars = features.token_to_char[f]
        a = example.answers[0]
        inside = np.flatnonzero((chars[:, 0] >= a["start"]) & (chars[:, 1] <= a["start"] + len(a["text"]))
                                & (chars[:, 0] >= 0))
        spans.append((f, inside[0], inside[-1], 5.0))
    answers = decode_answers(features, *_logits_for(features, spans, 40))
    assert answers["emma-1"]["text"] == "Hartfield"
    assert answers["cafe-1"]["text"] == "Café  Crème"       # accents and double space kept
    assert answers["cafe-2"]["text"] == "北京市"
    for example in examples:
        a = answers[example.qas_id]
        assert example.context[a["start"]:a["end"]] == a["text"]
        for candidate in a["n_best"]:
            assert example.context[candidate["start"]:candidate["end"]] == candidate["text"]
        assert a["n_best"][0]["probability"] >= a["n_best"][-1]["probability"]


def test_max_answer_length_n_best_and_null_threshold(tokenizer):
    examples = read_squad(SQUAD / "v1_tiny.json")[:1]
    features = make_squad_features(examples, tokenizer, 40)
    mask = features.token_to_char[0, :, 0] >= 0
    first, last = np.flatnonzero(mask)[0], np.flatnonzero(mask)[-1]
    start, end = _logits_for(features, [(0, first, last, 9.0)], 40)
    start[0, first + 2] = 3.0
    end[0, first + 3] = 3.0
    # The long span scores 18 but is longer than max_answer_length: the short one wins.
    answers = decode_answers(features, start, end, max_answer_length=3, n_best=3)
    a = answers["emma-1"]
    assert a["text"] == examples[0].context[a["start"]:a["end"]] and a["score"] == pytest.approx(6.0)
    assert len(a["n_best"]) == 3 and a["n_best"][1]["score"] < a["score"]
    # v2.0: a [CLS] score above the best span by more than the threshold gives no answer.
    start[0, 0], end[0, 0] = 5.0, 5.0
    assert decode_answers(features, start, end, max_answer_length=3, null_threshold=1.0)["emma-1"]["text"] == ""
    kept = decode_answers(features, start, end, max_answer_length=3, null_threshold=5.0)["emma-1"]
    assert kept["text"] != "" and kept["null_score"] == pytest.approx(10.0)


def test_answers_across_windows_pick_the_best_window(tokenizer):
    context = " ".join(["the village of Highbury"] * 12) + " Hartfield."
    example = SquadExample("q", "Where?", context)
    features = make_squad_features([example], tokenizer, 20, max_query_length=2, doc_stride=5)
    last_window = len(features) - 1
    position = int(np.flatnonzero(features.token_to_char[last_window, :, 0] >= 0)[-3])
    start, end = _logits_for(features, [(last_window, position, position + 1, 8.0)], 20)
    assert decode_answers(features, start, end)["q"]["text"] == "Hartfield"


def test_sequence_too_short_for_the_question(tokenizer):
    example = SquadExample("q", "where did emma live", "Hartfield")
    with pytest.raises(ValueError, match="sequence_length=6 leaves no room for the context"):
        make_squad_features([example], tokenizer, 6)
