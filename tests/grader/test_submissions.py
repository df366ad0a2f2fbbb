"""Where do submissions come from, and what student id does each get?"""
from __future__ import annotations

import json
import zipfile

import pytest

from autograder.results import is_current, read_result, result_path, write_result
from autograder.archives import ZIP_UNSAFE_PATH
from autograder.submissions import SubmissionError, discover


def _nb(path, text="x = 1"):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps({"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5, "text": text}))
    return path


def test_nbgrader_submitted_folder_gives_student_ids_and_timestamps(tmp_path):
    """Does grade without PATH read nbgrader's submitted/<student>/<assignment>/ with its timestamp.txt?"""
    _nb(tmp_path / "submitted" / "alice" / "layers" / "layers.ipynb")
    _nb(tmp_path / "submitted" / "bob" / "layers" / "layers.ipynb")
    (tmp_path / "submitted" / "bob" / "layers" / "timestamp.txt").write_text("2026-11-20 10:00:00.000000 UTC\n")
    _nb(tmp_path / "submitted" / "carol" / "convolution" / "convolution.ipynb")
    subs = discover("layers", [], tmp_path, tmp_path / "cache")
    assert [(s.student, s.timestamp) for s in subs] == [("alice", None), ("bob", "2026-11-20 10:00:00.000000 UTC")]


def test_loose_notebooks_folders_and_lms_zip(tmp_path):
    """Do file stems (minus a trailing _<assignment>) name students, in folders and zips alike, and is one notebook
    reached twice (in its folder and by name) one submission?"""
    _nb(tmp_path / "in" / "dave_layers.ipynb")
    _nb(tmp_path / "in" / "sub" / "erin.ipynb")
    archive = tmp_path / "export.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("frank_layers.ipynb", "{}")
        zf.writestr("__MACOSX/._frank_layers.ipynb", "junk")
        zf.writestr("notes.txt", "not a notebook")
    subs = discover("layers", [tmp_path / "in", archive, tmp_path / "in" / "dave_layers.ipynb"], tmp_path,
                    tmp_path / "cache")
    assert [s.student for s in subs] == ["dave", "erin", "frank"]
    assert all(s.problem is None for s in subs)


@pytest.mark.parametrize("member", ["../evil.ipynb", "/abs/evil.ipynb"])
def test_zip_member_with_an_unsafe_path_is_that_members_refusal(tmp_path, member):
    """Is a zip member that would land outside the cache refused, as its own entry, while the others are found?"""
    archive = tmp_path / "bad.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr(member, "{}")
        zf.writestr("gina_layers.ipynb", "{}")
    subs = discover("layers", [archive], tmp_path, tmp_path / "cache")
    assert sorted((s.student, s.problem) for s in subs) == [("evil", ZIP_UNSAFE_PATH), ("gina", None)]
    assert not (tmp_path / "evil.ipynb").exists() and not list(tmp_path.rglob("evil.ipynb"))


@pytest.mark.parametrize("name, content, message", [
    ("missing.ipynb", None, "no such file"),
    ("grades.csv", "a,b", "expected a .ipynb notebook"),
    ("broken.zip", "not a zip", "not a readable zip"),
])
def test_bad_paths_get_clear_errors(tmp_path, name, content, message):
    """Does a bad PATH argument fail with an error naming the path and the problem?"""
    path = tmp_path / name
    if content is not None:
        path.write_text(content)
    with pytest.raises(SubmissionError, match=message):
        discover("layers", [path], tmp_path, tmp_path / "cache")


def test_result_files_are_atomic_and_know_when_they_are_current(tmp_path):
    """Is a result current only for the same content hash and grader, and is a torn file treated as absent?"""
    path = result_path(tmp_path, "layers", "alice")
    from autograder.results import grader_fingerprint

    write_result(path, {"score": 3.0, "extra_data": {"submission_sha256": "abc", "grader": grader_fingerprint()}})
    assert read_result(path)["score"] == 3.0
    assert is_current(path, "abc") and not is_current(path, "abd")
    assert not list(path.parent.glob("*.tmp"))
    path.write_text('{"score": 3')  # a file torn by something other than write_result
    assert read_result(path) is None and not is_current(path, "abc")
