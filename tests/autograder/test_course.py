"""Is the course folder one object (nbgrader's layout, the gradebook its config records), and the assignments one
registry?"""
from __future__ import annotations

import importlib
import pkgutil

import pytest

import autograder.suites
from autograder.course import Course, as_course
from autograder.submissions import discover
from autograder.suites import ASSIGNMENTS, UNKNOWN_ASSIGNMENT, assignment, assignments


def test_a_course_without_config_has_nbgraders_defaults(tmp_path):
    """Without nbgrader_config.py: nbgrader's folders, the course id convkit, COURSE/gradebook.db, and no gradebook
    to read until that file exists?"""
    course = Course.open(tmp_path)
    assert (course.source, course.submitted, course.feedback) == (tmp_path / "source", tmp_path / "submitted",
                                                                  tmp_path / "feedback")
    assert course.submission_dir("ada", "layers") == tmp_path / "submitted" / "ada" / "layers"
    assert (course.results, course.reports) == (tmp_path / "results", tmp_path / "reports")
    assert course.course_id == "convkit" and course.db_url == f"sqlite:///{tmp_path / 'gradebook.db'}"
    assert course.gradebook_url() is None
    (tmp_path / "gradebook.db").write_bytes(b"")
    assert Course.open(tmp_path).gradebook_url() == course.db_url


def test_a_recorded_gradebook_url_is_found_and_can_be_overridden(tmp_path):
    """Does a URL written to the config by one verb come back for the next, and does --db still win?"""
    url = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    Course.open(tmp_path, db_url=url, course_id="cs101").write_config()
    again = Course.open(tmp_path)
    assert (again.db_url, again.course_id, again.db_source) == (url, "cs101", "config")
    assert again.gradebook_url() is None  # a sqlite file nobody created is not read (nor made)
    other = "postgresql://grader@db/cs101"
    assert Course.open(tmp_path, db_url=other).db_url == other
    assert as_course(again, other).gradebook_url() == other


def test_the_default_gradebook_is_not_recorded_so_a_copied_course_keeps_its_own(tmp_path):
    """Is nbgrader's default gradebook left out of the config, so a copy of the folder uses its own?"""
    Course.open(tmp_path / "a").write_config()
    text = (tmp_path / "a" / "nbgrader_config.py").read_text()
    assert "db_url" not in text and "course_id = 'convkit'" in text
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "nbgrader_config.py").write_text(text)
    assert Course.open(tmp_path / "b").db_url == f"sqlite:///{tmp_path / 'b' / 'gradebook.db'}"


def test_nbgraders_folder_names_in_the_config_are_the_layout(tmp_path):
    """With nbgrader's submitted_directory renamed in the course config, are submissions found there?"""
    (tmp_path / "nbgrader_config.py").write_text("c = get_config()\nc.CourseDirectory.submitted_directory = 'inbox'\n")
    folder = tmp_path / "inbox" / "ada" / "layers"
    folder.mkdir(parents=True)
    (folder / "layers.ipynb").write_text("{}")
    course = Course.open(tmp_path)
    assert course.submitted == tmp_path / "inbox"
    assert [s.student for s in discover("layers", [], course, tmp_path / "cache")] == ["ada"]


def test_every_suite_module_is_registered_and_declares_its_assignment():
    """Is each autograder/suites/<name>.py in the registry (course order) with an ASSIGNMENT of that name?"""
    modules = {m.name for m in pkgutil.iter_modules(autograder.suites.__path__)}
    assert modules == set(ASSIGNMENTS)
    for name in ASSIGNMENTS:
        declared = importlib.import_module(f"autograder.suites.{name}").ASSIGNMENT
        assert declared is assignment(name) and declared.name == name and declared.notebook == f"{name}.ipynb"
        assert (declared.packaged_source() / declared.notebook).is_file()
    assert [a.name for a in assignments()] == list(ASSIGNMENTS)


def test_an_unknown_assignment_is_named_with_the_known_ones():
    with pytest.raises(ValueError) as err:
        assignment("nope")
    assert str(err.value) == UNKNOWN_ASSIGNMENT.format(name="nope", known=", ".join(ASSIGNMENTS))


def test_release_files_are_the_assignments_own(tmp_path):
    """Does only the capstone carry a file beside its notebook, its training digits?"""
    from autograder.suites.cnn import DATA_FILE

    carrying = [a for a in assignments() if a.release_files is not None]
    assert [a.name for a in carrying] == ["cnn"]
    carrying[0].release_files(tmp_path)
    assert [p.name for p in tmp_path.iterdir()] == [DATA_FILE]
