"""Can a submission's files (not its code) fool the grader: a link to the instructor's solution, a FIFO, a folder
named like a notebook, an instructor's text file, a huge file, a 250-character name, a garbage timestamp, or an LMS
zip with linked, encrypted, nested or oversized members (ARCHITECTURE.md invariant 8)?

Each attack sits in a real ``grade_batch`` beside honest notebooks: the attack scores 0 with its named reason, the
honest ones score what their cases say, the batch completes, and a re-run skips everything (a refusal is current
until the submission changes). Two batches on one nbgrader course each: nbgrader's ``submitted/`` folder, then a
loose folder and a Moodle zip given as paths.
"""
from __future__ import annotations

import json
import os
import stat
import zipfile
from pathlib import Path

import nbformat
import pytest

from autograder.archives import ZIP_ENCRYPTED, ZIP_NESTED
from autograder.grade import grade_batch
from autograder.grading import LOAD_FAILED
from autograder.results import MAX_RESULT_NAME_BYTES, read_result, result_path
from autograder.safe_read import (LINK_REFUSED, MAX_NOTEBOOK_BYTES, NOT_A_NOTEBOOK, NOT_JSON, NOT_REGULAR_FILE,
                                  NOT_UTF8, too_big)
from autograder.submissions import TIMESTAMP_INVALID, TIMESTAMP_REFUSED, make_student_id
from tests.support.submissions_factory import (ASSIGNMENT, BATCH_LIMITS, expected_score, fresh_course,
                                              gradebook_scores, honest_notebook, write_submission)

pytestmark = pytest.mark.slow

WORKERS = 2
SECRET = "INSTRUCTOR-ONLY-7f3a"  # in the instructor's files the attacks point at; never in a result
LONG = "s" * 250
FULL = expected_score({})


def _source_notebook(course: Path) -> Path:
    return course / "source" / ASSIGNMENT / f"{ASSIGNMENT}.ipynb"


def _notebook_dir(course: Path, student: str) -> Path:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def _results(course: Path, students) -> dict:
    return {s: read_result(result_path(course, ASSIGNMENT, s)) for s in students}


# ----------------------------------------------------------------------------------------------- nbgrader's submitted/
@pytest.fixture(scope="module")
def exchange(tmp_path_factory):
    course = fresh_course(tmp_path_factory, "hostile-files")
    secret = course / "instructor_notes.txt"
    secret.write_text(f'{{"{SECRET}": "the answers"}}\n')
    honest = honest_notebook(course)
    for student in ("honest", LONG, "bad_stamp", "linked_stamp"):
        write_submission(course, student, honest)
    (course / "submitted" / "bad_stamp" / ASSIGNMENT / "timestamp.txt").write_text(f"{SECRET} \x1b[2J\n")
    (course / "submitted" / "linked_stamp" / ASSIGNMENT / "timestamp.txt").symlink_to(secret)
    (_notebook_dir(course, "link_nb") / f"{ASSIGNMENT}.ipynb").symlink_to(_source_notebook(course))
    (course / "submitted" / "link_folder").mkdir()
    (course / "submitted" / "link_folder" / ASSIGNMENT).symlink_to(_source_notebook(course).parent)
    (course / "submitted" / "link_student").symlink_to(course / "source")
    (_notebook_dir(course, "link_text") / f"{ASSIGNMENT}.ipynb").symlink_to(secret)
    write_submission(course, "text_file", f'{{"{SECRET}": [1, 2'.encode())
    write_submission(course, "not_utf8", b"\xff\xfe" + SECRET.encode("utf-16-le"))
    write_submission(course, "json_list", json.dumps([SECRET]).encode())
    (_notebook_dir(course, "folder_nb") / f"{ASSIGNMENT}.ipynb").mkdir()
    os.mkfifo(_notebook_dir(course, "fifo_nb") / f"{ASSIGNMENT}.ipynb")
    with open(_notebook_dir(course, "too_big") / f"{ASSIGNMENT}.ipynb", "wb") as fh:
        fh.truncate(MAX_NOTEBOOK_BYTES + 1)  # sparse: over the cap without writing 50 MiB
    first = grade_batch(ASSIGNMENT, [], course, workers=WORKERS, progress=False, limits=BATCH_LIMITS)
    again = grade_batch(ASSIGNMENT, [], course, workers=WORKERS, progress=False, limits=BATCH_LIMITS)
    return course, first, again


REFUSED = {"link_nb": LINK_REFUSED, "link_folder": LINK_REFUSED, "link_student": LINK_REFUSED,
           "link_text": LINK_REFUSED, "text_file": NOT_JSON, "not_utf8": NOT_UTF8, "json_list": NOT_A_NOTEBOOK,
           "folder_nb": NOT_REGULAR_FILE, "fifo_nb": NOT_REGULAR_FILE, "too_big": too_big(MAX_NOTEBOOK_BYTES)}
HONEST_IDS = ("honest", LONG, "bad_stamp", "linked_stamp")


def test_the_exchange_batch_completes_with_one_result_per_student(exchange):
    course, first, _ = exchange
    assert first.errors == {} and not first.interrupted
    assert sorted(first.graded) == sorted([*REFUSED, *HONEST_IDS])
    assert sorted(first.load_failed) == sorted(REFUSED)


@pytest.mark.parametrize("student", sorted(REFUSED))
def test_a_refused_file_scores_zero_with_its_named_reason(exchange, student):
    """Is the link to the solution, the FIFO, the folder, the text file ... worth 0 points, with a load error that
    names the problem and quotes nothing of the file?"""
    course, first, _ = exchange
    result = _results(course, [student])[student]
    assert first.scores[student] == 0.0 and result["score"] == 0.0
    assert result["extra_data"]["load"] == {"ok": False, "error": REFUSED[student]}
    assert result["output"] == LOAD_FAILED.format(reason=REFUSED[student])
    assert SECRET not in json.dumps(result)
    assert sum(gradebook_scores(course)[student].values()) == 0.0


def test_honest_work_beside_the_attacks_scores_in_full(exchange):
    """Do the honest notebooks (one under a 250-character id) score every point, in the result and gradebook?"""
    course, first, _ = exchange
    gradebook = gradebook_scores(course)
    for student in HONEST_IDS:
        assert first.scores[student] == FULL and sum(gradebook[student].values()) == FULL
    path = result_path(course, ASSIGNMENT, LONG)
    assert len(path.name.encode()) <= MAX_RESULT_NAME_BYTES + len(".json")
    assert read_result(path)["extra_data"]["student"] == LONG


def test_a_garbage_or_linked_timestamp_is_refused_and_recorded(exchange):
    """Does a timestamp.txt nbgrader cannot parse, or one that is a link, leave the gradebook write working, the
    timestamp empty, the refusal named in the result, and none of its content anywhere?"""
    course, first, _ = exchange
    results = _results(course, ["bad_stamp", "linked_stamp"])
    assert results["bad_stamp"]["extra_data"]["timestamp_refused"] == TIMESTAMP_REFUSED.format(
        reason=TIMESTAMP_INVALID)
    assert results["linked_stamp"]["extra_data"]["timestamp_refused"] == TIMESTAMP_REFUSED.format(
        reason=LINK_REFUSED)
    for result in results.values():
        assert result["extra_data"]["timestamp"] is None and SECRET not in json.dumps(result)


def test_a_rerun_skips_the_refused_and_the_graded_alike(exchange):
    _, first, again = exchange
    assert again.graded == [] and sorted(again.unchanged) == sorted(first.graded) and again.errors == {}


# ----------------------------------------------------------------------------------------------- paths: folder + zip
def _moodle(name: str, number: int) -> str:
    return f"{name}_{number}_assignsubmission_file_"


def _link_member(name: str, target: str) -> tuple[zipfile.ZipInfo, str]:
    info = zipfile.ZipInfo(name)
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    info.create_system = 3
    return info, target


@pytest.fixture(scope="module")
def lms(tmp_path_factory):
    course = fresh_course(tmp_path_factory, "hostile-lms")
    honest = nbformat.writes(honest_notebook(course))
    loose = course.parent / "loose"
    loose.mkdir()
    (loose / f"alice_{ASSIGNMENT}.ipynb").write_text(honest)
    (loose / f"mallory_{ASSIGNMENT}.ipynb").symlink_to(_source_notebook(course))
    (loose / "trudy").symlink_to(_source_notebook(course).parent)
    archive = course.parent / "moodle.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr(f"{_moodle('Jane Doe', 101)}/{ASSIGNMENT}.ipynb", honest)
        zf.writestr(*_link_member(f"{_moodle('Max Müller', 102)}/{ASSIGNMENT}.ipynb",
                                  f"../../../course/source/{ASSIGNMENT}/{ASSIGNMENT}.ipynb"))
        zf.writestr(f"{_moodle('Bob', 103)}/work/{ASSIGNMENT}/{ASSIGNMENT}.ipynb", "{ not json")
        zf.writestr(f"{_moodle('Eve', 104)}/{ASSIGNMENT}.zip", b"PK\x05\x06" + bytes(18))
        zf.writestr(f"{_moodle('Zed', 105)}/{ASSIGNMENT}.ipynb", honest)
        zf.writestr(f"{_moodle('Big', 106)}/{ASSIGNMENT}.ipynb", b" " * (MAX_NOTEBOOK_BYTES + 1))
    # Zed's member is marked encrypted in both headers, as an encrypting tool writes it.
    data = bytearray(archive.read_bytes())
    name = f"{_moodle('Zed', 105)}/{ASSIGNMENT}.ipynb".encode()
    for sig, flag_at, name_at in ((b"PK\x03\x04", 6, 30), (b"PK\x01\x02", 8, 46)):
        i = data.find(sig)
        while i >= 0:
            if data[i + name_at:i + name_at + len(name)] == name:
                data[i + flag_at] |= 0x1
            i = data.find(sig, i + 4)
    archive.write_bytes(bytes(data))
    summary = grade_batch(ASSIGNMENT, [loose, archive], course, workers=WORKERS, progress=False, limits=BATCH_LIMITS)
    again = grade_batch(ASSIGNMENT, [loose, archive], course, workers=WORKERS, progress=False, limits=BATCH_LIMITS)
    return course, summary, again


LMS_EXPECTED = {
    "alice": (FULL, None), make_student_id("Jane Doe_101"): (FULL, None),
    "mallory": (0.0, LINK_REFUSED), "trudy": (0.0, LINK_REFUSED),
    make_student_id("Max Müller_102"): (0.0, LINK_REFUSED),
    "Bob_103": (0.0, NOT_JSON), "Eve_104": (0.0, ZIP_NESTED), "Zed_105": (0.0, ZIP_ENCRYPTED),
    "Big_106": (0.0, too_big(MAX_NOTEBOOK_BYTES)),
}


def test_every_lms_notebook_is_one_named_students_result(lms):
    """Loose folder and Moodle zip: does every student get exactly one result under an id that names them, the
    links and unreadable members 0 points with their reason, the honest ones full marks?"""
    course, summary, _ = lms
    assert summary.errors == {} and sorted(summary.graded) == sorted(LMS_EXPECTED)
    results = _results(course, LMS_EXPECTED)
    for student, (score, reason) in LMS_EXPECTED.items():
        result = results[student]
        assert (summary.scores[student], result["score"]) == (score, score), student
        assert result["extra_data"]["load"].get("error") == reason, student
        assert result["extra_data"]["student"] == student


def test_lms_rerun_skips_everything(lms):
    _, summary, again = lms
    assert again.graded == [] and sorted(again.unchanged) == sorted(summary.graded) and again.errors == {}
