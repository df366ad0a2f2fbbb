"""Where do submissions come from, and what student id does each get?"""
from __future__ import annotations

import io
import json
import os
import stat
import zipfile

import pytest

from autograder.archives import ZIP_COMPRESSION, ZIP_DAMAGED, ZIP_ENCRYPTED, ZIP_NESTED, ZIP_UNSAFE_PATH
from autograder.results import MAX_RESULT_NAME_BYTES, is_current, read_result, result_path, write_result
from autograder.safe_read import LINK_REFUSED, NOT_REGULAR_FILE, VANISHED, too_big
from autograder.submissions import (ID_HASH_SEP, MAX_ID_CHARS, MAX_NOTEBOOK_BYTES, MAX_TIMESTAMP_BYTES, NOT_A_FOLDER,
                                    NOTE_LINK, NOTE_NOT_GRADED, TIMESTAMP_INVALID, TIMESTAMP_REFUSED,
                                    SubmissionError, SubmissionRefused, discover, make_student_id,
                                    read_submission_bytes)


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
    """Is a result current only for the same content hash and grader, once its gradebook row was written, and is a
    torn file treated as absent?"""
    path = result_path(tmp_path, "layers", "alice")
    from autograder.results import grader_fingerprint

    extra = {"submission_sha256": "abc", "grader": grader_fingerprint(), "recorded": False}
    write_result(path, {"score": 3.0, "extra_data": extra})
    assert not is_current(path, "abc")  # its gradebook write failed: the next run records it
    write_result(path, {"score": 3.0, "extra_data": {**extra, "recorded": True}})
    assert read_result(path)["score"] == 3.0
    assert is_current(path, "abc") and not is_current(path, "abd")
    assert not list(path.parent.glob("*.tmp"))
    path.write_text('{"score": 3')  # a file torn by something other than write_result
    assert read_result(path) is None and not is_current(path, "abc")


# ----------------------------------------------------------------------------------------------- hostile files
def _zip_bytes(members) -> bytes:
    """A zip of ``(ZipInfo or name, data)`` members."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for info, data in members:
            zf.writestr(info, data)
    return buf.getvalue()


def _patch_member(data: bytes, name: str, *, flags: int | None = None, method: int | None = None) -> bytes:
    """``data`` with member ``name``'s general-purpose flags or compression method changed in both its local and
    its central header (what an encrypting tool or an unknown compressor writes)."""
    out = bytearray(data)
    raw = name.encode()
    headers = ((b"PK\x03\x04", 6, 8, 26, 30), (b"PK\x01\x02", 8, 10, 28, 46))  # local, central
    for sig, flag_at, method_at, name_len_at, name_at in headers:
        start = 0
        while (i := out.find(sig, start)) >= 0:
            n = int.from_bytes(out[i + name_len_at:i + name_len_at + 2], "little")
            if bytes(out[i + name_at:i + name_at + n]) == raw:
                if flags is not None:
                    out[i + flag_at:i + flag_at + 2] = flags.to_bytes(2, "little")
                if method is not None:
                    out[i + method_at:i + method_at + 2] = method.to_bytes(2, "little")
            start = i + 4
    return bytes(out)


def _link_member(name: str, target: str) -> tuple[zipfile.ZipInfo, str]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    info.create_system = 3
    return info, target


def test_read_refuses_links_special_files_and_oversize_without_blocking(tmp_path):
    """Does the one reader refuse a linked file, a file in a linked folder, a FIFO (without blocking), a folder and
    a file over the cap, each with its constant reason, and read a regular file?"""
    root = tmp_path / "root"
    (root / "real").mkdir(parents=True)
    secret = tmp_path / "secret.txt"
    secret.write_text("instructor only")
    (root / "real" / "ok.ipynb").write_bytes(b"12345")
    (root / "real" / "link.ipynb").symlink_to(secret)
    (root / "linked").symlink_to(root / "real")
    os.mkfifo(root / "real" / "fifo.ipynb")
    (root / "real" / "dir.ipynb").mkdir()
    assert read_submission_bytes(root / "real" / "ok.ipynb", root=root) == b"12345"
    expected = {"link.ipynb": LINK_REFUSED, "fifo.ipynb": NOT_REGULAR_FILE, "dir.ipynb": NOT_REGULAR_FILE}
    for name, reason in expected.items():
        with pytest.raises(SubmissionRefused) as info:
            read_submission_bytes(root / "real" / name, root=root)
        assert info.value.reason == reason
    with pytest.raises(SubmissionRefused) as info:
        read_submission_bytes(root / "linked" / "ok.ipynb", root=root)
    assert info.value.reason == LINK_REFUSED
    with pytest.raises(SubmissionRefused) as info:
        read_submission_bytes(root / "real" / "ok.ipynb", cap=4, root=root)
    assert info.value.reason == too_big(4)
    with pytest.raises(SubmissionRefused) as info:
        read_submission_bytes(root / "real" / "gone.ipynb", root=root)
    assert info.value.reason == VANISHED


def test_refused_entries_are_found_and_hash_stably_without_being_read(tmp_path):
    """In nbgrader's submitted/: is each linked, special or misplaced notebook that student's refused entry (not
    the end of discovery), and does its content hash stay the same from run to run?"""
    sub = tmp_path / "submitted"
    _nb(sub / "honest" / "layers" / "layers.ipynb")
    source = _nb(tmp_path / "source" / "layers" / "layers.ipynb")
    (sub / "link_nb" / "layers").mkdir(parents=True)
    (sub / "link_nb" / "layers" / "layers.ipynb").symlink_to(source)
    (sub / "link_folder").mkdir()
    (sub / "link_folder" / "layers").symlink_to(source.parent)
    (sub / "link_student").symlink_to(tmp_path / "source")
    (sub / "fifo" / "layers").mkdir(parents=True)
    os.mkfifo(sub / "fifo" / "layers" / "layers.ipynb")
    (sub / "folder" / "layers" / "layers.ipynb").mkdir(parents=True)
    (sub / "file_folder").mkdir()
    (sub / "file_folder" / "layers").write_text("not a folder")
    subs = discover("layers", [], tmp_path, tmp_path / "cache")
    assert {s.student: s.problem for s in subs} == {
        "honest": None, "link_nb": LINK_REFUSED, "link_folder": LINK_REFUSED, "link_student": LINK_REFUSED,
        "fifo": NOT_REGULAR_FILE, "folder": NOT_REGULAR_FILE, "file_folder": NOT_A_FOLDER}
    again = discover("layers", [], tmp_path, tmp_path / "cache")
    assert [s.sha256() for s in subs] == [s.sha256() for s in again]
    assert len({s.sha256() for s in subs}) == len(subs)


@pytest.mark.parametrize("content, reason", [
    ("garbage \x1b[31m not a date", TIMESTAMP_INVALID),
    ("2026-11-20 10:00:00 /etc/passwd", TIMESTAMP_INVALID),
    ("9" * 300, None),  # over the cap
    (b"\xff\xfe2026", TIMESTAMP_INVALID),
])
def test_a_garbage_timestamp_is_refused_and_recorded(tmp_path, content, reason):
    """Is a timestamp.txt that nbgrader could not parse (or that is too big, or not text) dropped, with the
    refusal recorded, while the notebook is still found?"""
    _nb(tmp_path / "submitted" / "ivan" / "layers" / "layers.ipynb")
    stamp = tmp_path / "submitted" / "ivan" / "layers" / "timestamp.txt"
    stamp.write_bytes(content if isinstance(content, bytes) else content.encode())
    [sub] = discover("layers", [], tmp_path, tmp_path / "cache")
    expected = reason or too_big(MAX_TIMESTAMP_BYTES)
    assert (sub.student, sub.problem, sub.timestamp) == ("ivan", None, None)
    assert sub.timestamp_problem == TIMESTAMP_REFUSED.format(reason=expected)


def test_a_linked_timestamp_is_not_followed(tmp_path):
    _nb(tmp_path / "submitted" / "judy" / "layers" / "layers.ipynb")
    (tmp_path / "secret").write_text("2026-01-01 00:00:00 UTC")
    (tmp_path / "submitted" / "judy" / "layers" / "timestamp.txt").symlink_to(tmp_path / "secret")
    [sub] = discover("layers", [], tmp_path, tmp_path / "cache")
    assert sub.timestamp is None and sub.timestamp_problem == TIMESTAMP_REFUSED.format(reason=LINK_REFUSED)


def test_ids_keep_letters_and_never_collide():
    """Do Unicode names stay themselves, do names that had to change carry a hash (so müller, mäller, "a b" and
    "a_b" are four ids), and can no made-up name take a real student's id?"""
    assert make_student_id("müller") == "müller" and make_student_id("mäller") == "mäller"
    assert make_student_id("mu\u0308ller") == "müller"  # the same name, decomposed (macOS), is the same id
    spaced, plain = make_student_id("a b"), make_student_id("a_b")
    assert plain == "a_b" and spaced.startswith("a_b" + ID_HASH_SEP) and spaced != plain
    assert make_student_id("ａｌｉｃｅ") != "alice"  # full-width letters are another name
    assert make_student_id("=cmd|' /C calc'!A0").startswith("cmd")  # no leading formula character
    assert make_student_id("x" * 300).startswith("x" * MAX_ID_CHARS + ID_HASH_SEP)
    assert make_student_id("bob\u202e") != make_student_id("bob")  # an invisible control character is a change


def test_duplicate_ids_get_hashes_that_do_not_depend_on_order_or_collide(tmp_path):
    """Two notebooks claiming "dave" get distinct ids that no real student can hold (no "-2"), the same whatever
    the order of the paths, while "dave-2" (a real student) keeps his."""
    a, b = _nb(tmp_path / "x" / "dave_layers.ipynb"), _nb(tmp_path / "y" / "dave.ipynb")
    real = _nb(tmp_path / "z" / "dave-2.ipynb")
    one = {s.path: s.student for s in discover("layers", [a, b, real], tmp_path, tmp_path / "c")}
    two = {s.path: s.student for s in discover("layers", [real, b, a], tmp_path, tmp_path / "c")}
    assert one == two and one[real] == "dave-2"
    assert len(set(one.values())) == 3 and all(one[p].startswith("dave" + ID_HASH_SEP) for p in (a, b))


MOODLE = "{name}_{number}_assignsubmission_file_"


def test_moodle_folder_per_student_zip_names_each_student_and_hides_nobody(tmp_path):
    """In a Moodle export with a folder per student, does every folder's notebook become that student's, whatever
    the notebook is called, and does one student's nbgrader-like nested folder hide no one else?"""
    members = [(MOODLE.format(name="Jane Doe", number=12345) + "/convolution.ipynb", "{}"),
               (MOODLE.format(name="Jon Roe", number=12346) + "/convolution.ipynb", "{}"),
               (MOODLE.format(name="Ann", number=7) + "/work/convolution/convolution.ipynb", "{}"),
               (MOODLE.format(name="Ann", number=7) + "/scratch.ipynb", "{}"),
               ("loose_convolution.ipynb", "{}")]
    archive = tmp_path / "moodle.zip"
    archive.write_bytes(_zip_bytes(members))
    notes: list[str] = []
    subs = discover("convolution", [archive], tmp_path, tmp_path / "cache", notes)
    by_student = {s.student: s.path.relative_to(s.root).as_posix() for s in subs}
    jane, jon = make_student_id("Jane Doe_12345"), make_student_id("Jon Roe_12346")
    assert by_student == {jane: members[0][0], jon: members[1][0], "Ann_7": members[2][0], "loose": members[4][0]}
    assert jane.startswith("Jane_Doe_12345" + ID_HASH_SEP)
    assert notes == [NOTE_NOT_GRADED.format(path=f"{archive}!{members[3][0]}", student="Ann_7",
                                            chosen=members[2][0])]


def test_zip_members_that_cannot_be_unpacked_are_each_a_students_refusal(tmp_path):
    """Is each member that is a link, too big, encrypted, compressed with an unknown method, damaged, or a zip of
    its own, found as its student's refusal, beside the members that unpack?"""
    big = zipfile.ZipInfo("big_layers.ipynb")
    members = [("ok_layers.ipynb", "{}"), _link_member("link_layers.ipynb", "../../source/layers/layers.ipynb"),
               (big, b"\0" * (MAX_NOTEBOOK_BYTES + 1)), ("enc_layers.ipynb", "{}"), ("odd_layers.ipynb", "{}"),
               ("bad_layers.ipynb", "{" * 2000), ("nested/layers.zip", _zip_bytes([("layers.ipynb", "{}")])),
               _link_member("linked_student", "/etc")]
    data = _patch_member(_zip_bytes(members), "enc_layers.ipynb", flags=0x1)
    data = _patch_member(data, "odd_layers.ipynb", method=99)
    # bad: its deflated data is cut short (the length fields stay, the bytes after are garbage)
    start = data.find(b"bad_layers.ipynb") + len("bad_layers.ipynb")
    data = data[:start + 4] + b"\xff" * 8 + data[start + 12:]
    archive = tmp_path / "export.zip"
    archive.write_bytes(data)
    for _ in range(2):  # and again from the unpacked cache: the refusals are remembered
        subs = discover("layers", [archive], tmp_path, tmp_path / "cache")
        assert {s.student: s.problem for s in subs} == {
            "ok": None, "link": LINK_REFUSED, "big": too_big(MAX_NOTEBOOK_BYTES), "enc": ZIP_ENCRYPTED,
            "odd": ZIP_COMPRESSION, "bad": ZIP_DAMAGED, "nested": ZIP_NESTED, "linked_student": LINK_REFUSED}
    assert sorted(p.name for p in (tmp_path / "cache").rglob("*.ipynb")) == ["ok_layers.ipynb"]


def test_a_notebook_named_folder_a_fifo_and_links_in_a_loose_folder(tmp_path):
    """In a folder given to grade: is a folder named like a notebook, a FIFO, a linked notebook and a linked
    student folder each a refusal, and a deeper link that names nobody a note?"""
    root = tmp_path / "in"
    _nb(root / "kim_layers.ipynb")
    (root / "dir_layers.ipynb").mkdir(parents=True)
    os.mkfifo(root / "fifo_layers.ipynb")
    source = _nb(tmp_path / "source" / "layers" / "layers.ipynb")
    (root / "lou_layers.ipynb").symlink_to(source)
    (root / "mallory").symlink_to(source.parent)
    (root / "kim").mkdir()
    (root / "kim" / "data").symlink_to("/etc")
    notes: list[str] = []
    subs = discover("layers", [root], tmp_path, tmp_path / "cache", notes)
    assert {s.student: s.problem for s in subs} == {"kim": None, "dir": NOT_REGULAR_FILE, "fifo": NOT_REGULAR_FILE,
                                                    "lou": LINK_REFUSED, "mallory": LINK_REFUSED}
    assert notes == [NOTE_LINK.format(path=f"{root}/kim/data")]


def test_long_and_strange_ids_get_bounded_distinct_result_files(tmp_path):
    """Is a 250-character id's result file name bounded (and writable), and do ids that differ only in what the
    file name cannot hold still get different files?"""
    long_id = "s" * 250
    ids = [long_id, long_id + "t", "bob.0123456789abcdef", "a/b", "..", "-rf", "müller", "alice"]
    paths = [result_path(tmp_path, "layers", i) for i in ids]
    assert len(set(paths)) == len(ids)
    assert paths[-1].name == "alice.json" and paths[-2].name == "müller.json"
    for path, student in zip(paths, ids, strict=True):
        assert path.parent == tmp_path / "results" / "layers" and len(path.name.encode()) <= MAX_RESULT_NAME_BYTES + 30
        write_result(path, {"student": student})
        assert read_result(path) == {"student": student}
    assert not list(paths[0].parent.glob(".partial-*"))
