"""Does the whole loop run on a real PostgreSQL server as it does on SQLite, and is its password never shown?

``--db postgresql+psycopg://...`` given once to ``init``: ``build`` makes the gradebook there, ``grade`` records the
trusted scores of honest, buggy and hostile notebooks there (exact scores, one row each), ``feedback`` and
``report`` write their pages, and nbgrader's own ``nbgrader export`` reads the scores back from the server. A bad
URL, a wrong password or a server that is not there is a one-line error naming host:port, never a traceback, and
never the password. The server: :mod:`tests.support.postgres` (Debian's postgresql, on 127.0.0.1, in a temp folder).
"""
from __future__ import annotations

import csv
import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from autograder.build import init_course
from autograder.gradebook import BAD_URL, UNREACHABLE
from tests.support import postgres as pg
from tests.support.submissions_factory import (ASSIGNMENT, HONEST, HOSTILE, MISTAKES, Context, expected_score,
                                              guarded_body, honest_notebook, mistake_expected, replace_body,
                                              write_submission)

pytestmark = pytest.mark.slow
postgres_server, postgres_url = pg.postgres_server, pg.postgres_url  # the fixtures, for this module's tests

BIN = Path(sys.executable).parent
SECRET = "s3cret-never-shown"  # the password of every URL that must be refused
# A student's relu that is right only if it could read the course's config (the gradebook's password is there)
# or reach the gradebook's server: the sandbox must stop both.
_STEAL = """
import socket
with open({config!r}) as fh:
    stolen = fh.read()
with socket.create_connection(("127.0.0.1", {port}), timeout=0.5) as s:
    s.sendall(stolen.encode())
"""


def _cli(*args, cwd, ok=True):
    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}", "OPENBLAS_NUM_THREADS": "1"}
    proc = subprocess.run([str(BIN / "autograder"), *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)
    assert (proc.returncode == 0) == ok, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc.stdout + proc.stderr


def _class(course: Path, port: int, markers: Path) -> dict[str, float]:
    """Write the class's notebooks; returns ``{student: expected score}`` (from the case table, not the grader)."""
    expected = {}
    for h in HONEST[:2]:  # complete, and two functions left as stubs
        write_submission(course, h.student, h.build(course))
        expected[h.student] = expected_score(h.broken)
    m = MISTAKES[0]
    write_submission(course, m.student, replace_body(honest_notebook(course), m.function, m.body))
    expected[m.student] = mistake_expected(m)
    ctx = Context(course, markers, port, [])  # loopback_tcp aims at the gradebook's own server
    for hostile in (h for h in HOSTILE if h.student in {"patch_numpy", "os_exit", "forge_results", "loopback_tcp"}):
        write_submission(course, hostile.student, hostile.build(honest_notebook(course), ctx))
        expected[hostile.student] = expected_score(hostile.broken)
    steal = _STEAL.format(config=str(course / "nbgrader_config.py"), port=port)
    write_submission(course, "steal_gradebook", replace_body(honest_notebook(course), "relu",
                                                             guarded_body("relu", steal)))
    expected["steal_gradebook"] = expected_score({"relu": "body"})
    return expected


def test_build_grade_feedback_report_and_nbgrader_export_on_postgresql(tmp_path, postgres_server, postgres_url):
    course = tmp_path / "course"
    password = postgres_server.password
    said = [_cli("init", str(course), ASSIGNMENT, "--db", postgres_url, cwd=tmp_path)]
    said.append(_cli("build", ASSIGNMENT, "--course", str(course), cwd=tmp_path))  # the URL from init's config
    config = course / "nbgrader_config.py"
    assert stat.S_IMODE(config.stat().st_mode) == 0o600  # it holds the password: its owner's only
    expected = _class(course, postgres_server.port, tmp_path)
    said.append(_cli("grade", ASSIGNMENT, "--course", str(course), "--workers", "2", cwd=tmp_path))
    assert f"{len(expected)} graded, 0 unchanged" in said[-1] and "0 grader errors" in said[-1]
    assert not (course / "gradebook.db").exists()  # every score went to the server

    rows = postgres_server.query(postgres_url, "SELECT s.student_id, COUNT(*) FROM submitted_assignment s "
                                 "JOIN assignment a ON a.id = s.assignment_id WHERE a.name = %s "
                                 "GROUP BY s.student_id", (ASSIGNMENT,))
    assert sorted(rows) == sorted((student, 1) for student in expected)
    from nbgrader.api import Gradebook

    with Gradebook(postgres_url, course_id="convkit") as gb:
        recorded = {s.student.id: s.score for s in gb.assignment_submissions(ASSIGNMENT)}
    assert recorded == expected

    said.append(_cli("feedback", ASSIGNMENT, "--course", str(course), "--no-pictures", cwd=tmp_path))
    for student in expected:
        assert (course / "feedback" / student / ASSIGNMENT / f"{ASSIGNMENT}.html").is_file(), student
    said.append(_cli("report", "--course", str(course), cwd=tmp_path))
    with open(course / "reports" / "grades.csv", newline="") as fh:
        grades = {row[0]: float(row[1]) for row in list(csv.reader(fh))[1:]}
    assert grades == expected
    page = (course / "reports" / f"{ASSIGNMENT}.html").read_text()
    assert "lateness unknown" not in page and "could not be read" not in page  # the server answered the report

    env = {**os.environ, "PATH": f"{BIN}{os.pathsep}{os.environ['PATH']}"}
    subprocess.run([str(BIN / "nbgrader"), "export"], cwd=course, env=env, check=True, capture_output=True,
                   timeout=300)
    with open(course / "grades.csv", newline="") as fh:
        exported = {row["student_id"]: float(row["score"]) for row in csv.DictReader(fh)
                    if row["assignment"] == ASSIGNMENT}
    assert exported == expected

    # A report against a server that is gone is still written, with a note naming where, not the password.
    gone = f"postgresql+psycopg://convkit:{SECRET}@127.0.0.1:{pg.free_port()}/gone"
    said.append(_cli("report", "--course", str(course), "--db", gone, cwd=tmp_path))
    page = (course / "reports" / f"{ASSIGNMENT}.html").read_text()
    assert "cannot open the gradebook postgresql+psycopg://convkit:***@127.0.0.1:" in page
    written = [p for folder in ("results", "reports", "feedback") for p in (course / folder).rglob("*") if p.is_file()]
    for text in said + [p.read_text(errors="replace") for p in written]:
        assert password not in text and SECRET not in text


def test_a_bad_url_a_wrong_password_or_no_server_is_a_one_line_error(tmp_path, postgres_server, postgres_url):
    """Named problem, host:port, no traceback, no password: for init, build and grade."""
    course = tmp_path / "course"
    init_course(course, [ASSIGNMENT])
    said = _cli("init", str(course), ASSIGNMENT, "--db", f"nonsense:{SECRET}", cwd=tmp_path, ok=False)
    assert BAD_URL.split("{url!r}")[1] in said
    database = postgres_url.rsplit("/", 1)[1]
    wrong = postgres_server.url(database, password=SECRET)
    said += _cli("build", ASSIGNMENT, "--course", str(course), "--db", wrong, cwd=tmp_path, ok=False)
    assert f"(server 127.0.0.1:{postgres_server.port}):" in said and "password authentication failed" in said
    port = pg.free_port()
    gone = f"postgresql+psycopg://convkit:{SECRET}@127.0.0.1:{port}/{database}"
    said += _cli("grade", ASSIGNMENT, "--course", str(course), "--db", gone, cwd=tmp_path, ok=False)
    assert UNREACHABLE.split("{url}")[0] in said and f"(server 127.0.0.1:{port}):" in said
    assert "Connection refused" in said
    assert "Traceback" not in said and SECRET not in said and postgres_server.password not in said
