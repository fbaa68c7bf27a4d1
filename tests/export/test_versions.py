"""Version folders: an export never replaces one unasked, swaps it whole when asked, leaves the
usual modes, and the next export removes (or puts back) what a killed one left."""

import os

import pytest

from keras_bert_kit import files
from keras_bert_kit.errors import UserError
from keras_bert_kit.export import versions


def staged(path, name="new.txt"):
    """A finished staging folder for `path`, as `export_saved_model` makes one."""
    staging = files.staging_folder(str(path))
    with open(os.path.join(staging, name), "w") as f:
        f.write("new")
    files.sync_tree(staging)
    return staging


def test_an_existing_version_is_refused_and_kept(tmp_path):
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "mine.txt").write_text("kept")
    with pytest.raises(UserError, match=r"1: an export is already there \(pass overwrite=True"):
        versions.check_export_target(tmp_path / "1")
    (tmp_path / "2").mkdir()   # an empty folder is free
    versions.check_export_target(tmp_path / "2")
    (tmp_path / "3").write_text("x")
    with pytest.raises(UserError, match="3: not a folder"):
        versions.check_export_target(tmp_path / "3", overwrite=True)


@pytest.mark.parametrize("atomic", [True, False])
def test_overwrite_swaps_the_whole_folder(tmp_path, monkeypatch, atomic):
    if not atomic:
        monkeypatch.setattr(files, "_exchange", lambda a, b: False)
    (tmp_path / "1").mkdir()
    (tmp_path / "1" / "old.txt").write_text("old")
    versions.move_into_place(staged(tmp_path / "1"), str(tmp_path / "1"), overwrite=True)
    assert sorted(os.listdir(tmp_path)) == ["1"]
    assert os.listdir(tmp_path / "1") == ["new.txt"]


def test_modes_follow_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        staging = staged(tmp_path / "1")
    finally:
        os.umask(old)
    versions.move_into_place(staging, str(tmp_path / "1"), overwrite=False)
    assert os.stat(tmp_path / "1").st_mode & 0o777 == 0o755
    assert os.stat(tmp_path / "1" / "new.txt").st_mode & 0o777 == 0o644


def test_leftovers_of_dead_exports_go_live_ones_stay(tmp_path):
    dead, live = 999_999_999, os.getpid()
    for name in (f".1.staging-{dead}-ab12", f".1.staging-{live}-cd34", ".2.staging-1-ef56",
                 ".1.staging-oldstyle"):
        (tmp_path / name).mkdir()
    removed = files.sweep_leftovers(tmp_path, "1")
    assert [os.path.basename(p) for p in removed] == [f".1.staging-{dead}-ab12"]
    assert sorted(os.listdir(tmp_path)) == [f".1.staging-{live}-cd34", ".1.staging-oldstyle",
                                            ".2.staging-1-ef56"]


def test_an_old_version_moved_aside_by_a_killed_swap_is_put_back(tmp_path):
    aside = tmp_path / ".1.replaced-999999999-ab12"
    aside.mkdir()
    (aside / "old.txt").write_text("old")
    (tmp_path / ".1.staging-999999999-cd34").mkdir()
    with pytest.raises(UserError, match="already there"):
        versions.check_export_target(tmp_path / "1")
    assert sorted(os.listdir(tmp_path)) == ["1"]
    assert os.listdir(tmp_path / "1") == ["old.txt"]
