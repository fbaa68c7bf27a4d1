"""Every file-list flag of `kbk` takes files, folders and glob patterns, expanded one way.

The flags are read from `kbk`'s own parser (every option that takes several values), so a new
one is covered here or fails `test_every_file_list_flag_has_a_run`. Each run goes through the
command's real code up to where it has expanded its files (`files.expand_file_patterns`).
"""

import argparse
import json

import pytest

from keras_bert_kit.cli import build_parser, main
from keras_bert_kit.cli.arguments import config_from_args
from keras_bert_kit.data.pretraining_data import create_pretraining_data
from keras_bert_kit.training.runner import Runner
from tests.conftest import FIXTURES

VOCAB = FIXTURES / "text" / "cased_vocab.txt"
TEXT = "One sentence here.\nAnother one follows.\n\nA second document.\nAnd more text.\n"


def file_list_flags(parser=None, command=()):
    """`[(command, flag)]` of every option of `kbk` that takes several values (file lists)."""
    parser = parser or build_parser()
    found = []
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, subparser in action.choices.items():
                found += file_list_flags(subparser, (*command, name))
        elif action.option_strings and action.nargs in ("+", "*"):
            found.append((" ".join(command), action.option_strings[0]))
    return found


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    """A text folder (two files and a writer's hidden leftover) and a records folder."""
    root = tmp_path_factory.mktemp("file_flags")
    (root / "text").mkdir()
    for name in ("b.txt", "a.txt", ".a.txt.partial-999999999-ab12.txt"):
        (root / "text" / name).write_text(TEXT)
    records = create_pretraining_data(root / "text" / "a.txt", VOCAB, root / "records",
                                      num_shards=2, dupe_factor=1, do_lower_case=False,
                                      num_workers=1, progress=False)
    texts = [str(root / "text" / "a.txt"), str(root / "text" / "b.txt")]
    return {"root": root, "text": (root / "text", texts),
            "records": (root / "records", records.shards)}


def _pretrain_data_argv(flag, value, data, tmp_path):
    return ["pretrain-data", flag, value, "--vocab", str(VOCAB), "--output",
            str(tmp_path / "out"), "--no-do-lower-case", "--dupe-factor", "1", "--num-workers", "1"]


def _pretrain_data(argv, tmp_path, monkeypatch):
    main(argv)
    stats = json.loads((tmp_path / "out" / "pretraining_stats.json").read_text())
    return [stats["arguments"]["input_files"]]


def _vocab_argv(flag, value, data, tmp_path):
    return ["vocab", flag, value, "--output", str(tmp_path / "vocab.txt")]


def _vocab(argv, tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr("keras_bert_kit.text.vocabulary.build_vocabulary",
                        lambda files, **kwargs: seen.append([str(f) for f in files]) or [])
    main(argv)
    return seen


def _pretrain_argv(flag, value, data, tmp_path):
    """The other file flags name one shard, so only `flag`'s expansion can give both."""
    first = data["records"][1][0]
    argv = ["pretrain", "--vocab", str(VOCAB), "--output", str(tmp_path / "run"), "--preset",
            "bert_tiny_uncased", "--total-steps", "2", "--save-every-steps", "2",
            "--train-files", first, "--eval-files", first]
    argv[argv.index(flag) + 1] = value
    return argv


def _pretrain(argv, tmp_path, monkeypatch):
    """`kbk pretrain`'s flags, parsed, up to the task's `read_data` (which expands the files)."""
    args = build_parser().parse_args(argv)
    runner = Runner(args.task, config_from_args(args))
    runner.hooks.read_data()
    return list(runner.hooks.settings().values())


# command -> (the folder its files come from, its command line with the flag's value, a run
# returning the values its expanded files landed in)
RUNS = {"pretrain-data": ("text", _pretrain_data_argv, _pretrain_data),
        "vocab": ("text", _vocab_argv, _vocab),
        "pretrain": ("records", _pretrain_argv, _pretrain)}


def test_every_file_list_flag_has_a_run():
    assert {command for command, _ in file_list_flags()} == set(RUNS)


@pytest.mark.parametrize("kind", ["folder", "glob"])
@pytest.mark.parametrize("command, flag", file_list_flags())
def test_a_file_list_flag_takes_a_folder_and_a_glob(command, flag, kind, data, tmp_path,
                                                    monkeypatch):
    source, argv, run = RUNS[command]
    folder, expected = data[source]
    value = str(folder) if kind == "folder" else str(folder / ("*.txt" if source == "text"
                                                                else "*.tfrecord"))
    assert expected in run(argv(flag, value, data, tmp_path), tmp_path, monkeypatch)


@pytest.mark.parametrize("command, flag", file_list_flags())
def test_a_pattern_matching_nothing_is_one_line_naming_the_flag(command, flag, data, tmp_path,
                                                                capsys):
    _, argv, _ = RUNS[command]
    with pytest.raises(SystemExit) as exit:
        main(argv(flag, str(tmp_path / "nothing*"), data, tmp_path))
    assert exit.value.code == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and flag in err and "nothing*' (give files" in err, err
