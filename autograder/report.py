"""``autograder report``: the class report -- HTML pages with pictures and two CSV files -- from the result files.

``DIR/reports/index.html`` (the course) and ``DIR/reports/<assignment>.html`` (one per graded assignment) are
self-contained (pictures embedded as PNG data URIs). Beside them:

* ``grades.csv``: one row per student, ``Student ID, <assignment> (<max>), ..., Total`` (an LMS grade import);
* ``cases.csv``: one row per student and case (student, assignment, function, case, visibility, points,
  max_points, status, diagnosis, kind).

Discrimination of a case is the point-biserial correlation between passing it (1/0) and the score on the OTHER
cases of the assignment (the corrected item-total correlation: a case's own points would otherwise inflate it).
Lateness is nbgrader's: the gradebook's submission timestamp against the assignment's due date (with extensions),
and the late penalty it recorded.
"""
from __future__ import annotations

import csv
import statistics
import warnings
from collections import Counter
from pathlib import Path

import numpy as np

from autograder.course import as_course
from autograder.feedback import explanation
from autograder.results import Result, load_result, student_of
from autograder.safe_text import csv_cell, safe_line, safe_text

__all__ = ["load_results", "case_statistics", "point_biserial", "diagnosis_counts", "late_submissions",
           "write_grades_csv", "write_cases_csv", "write_report", "GRADES_ID_HEADER", "TOTAL_HEADER",
           "CASES_HEADER", "NO_RESULTS", "DISCRIMINATION_NOTE", "PAGE_FAILED"]

GRADES_ID_HEADER, TOTAL_HEADER = "Student ID", "Total"
CASES_HEADER = ("student", "assignment", "function", "case", "visibility", "points", "max_points", "status",
                "diagnosis", "kind")
NO_RESULTS = "no graded results under {folder}: run `autograder grade ASSIGNMENT` first"
DISCRIMINATION_NOTE = ("Discrimination: the point-biserial correlation between passing the case and the score on the "
                       "assignment's other cases (corrected item-total correlation, from -1 to 1). Near 0: passing "
                       "it says little about how well a student did overall; negative: stronger students fail it "
                       "more often (check the case). Blank when every student passed, or every one failed.")
PAGE_FAILED = "this page could not be drawn ({reason}); grades.csv and cases.csv hold every result"
# A case passed by fewer than this share of the class, or discriminating below this, is flagged for a look.
HARD_CASE_RATE, WEAK_DISCRIMINATION = 0.3, 0.1


def _assignment_order(names) -> list[str]:
    from autograder.suites import assignments

    order = [a.name for a in assignments()]
    return sorted(names, key=lambda a: (order.index(a) if a in order else len(order), a))


def load_results(course, unreadable: list[dict] | None = None) -> dict[str, dict[str, Result]]:
    """``{assignment: {student: result}}`` from ``DIR/results/*/*.json``, each read through the one codec
    (:func:`autograder.results.load_result`: typed fields, safe text). A file that cannot be read is skipped and,
    when ``unreadable`` is given, appended to it as ``{"file", "reason"}``."""
    root = as_course(course).results
    found: dict[str, dict[str, Result]] = {}
    for folder in sorted(p for p in root.glob("*") if p.is_dir() and not p.name.startswith(".")):
        for path in sorted(folder.glob("*.json")):
            try:
                student = student_of(path)
                found.setdefault(folder.name, {})[student] = load_result(path, student, folder.name)
            except ValueError as exc:
                if unreadable is not None:
                    unreadable.append({"file": safe_line(path.relative_to(root), 300),
                                       "reason": safe_line(exc, 300)})
    return {a: found[a] for a in _assignment_order(found) if found[a]}


def point_biserial(passed, other_scores) -> float | None:
    """Pearson's r between a 0/1 outcome and scores (the point-biserial correlation); None when either is constant
    or there are fewer than three students."""
    x, y = np.asarray(passed, dtype=np.float64), np.asarray(other_scores, dtype=np.float64)
    if x.shape != y.shape:
        raise ValueError(f"passed and other_scores must have one entry per student, got shapes {x.shape} and {y.shape}")
    if x.size < 3 or np.ptp(x) == 0 or np.ptp(y) == 0:
        return None
    return float(np.corrcoef(x, y)[0, 1])


def case_statistics(results: dict[str, Result]) -> list[dict]:
    """Per case of one assignment: pass rate and discrimination over the students of ``results``."""
    students = sorted(results)
    totals = {s: results[s].score for s in students}
    table: dict[str, dict] = {}
    for s in students:
        for t in results[s].tests:
            row = table.setdefault(t.name, {"name": t.name, "function": t.function, "case": t.case_id,
                                            "hidden": t.hidden, "max_points": t.max_score, "outcomes": {}})
            row["outcomes"][s] = (t.passed, t.score)
    rows = []
    for row in table.values():
        outcomes = row.pop("outcomes")
        who = sorted(outcomes)
        passed = [outcomes[s][0] for s in who]
        row["students"] = len(who)
        row["pass_rate"] = sum(passed) / len(who) if who else 0.0
        row["discrimination"] = point_biserial(passed, [totals[s] - outcomes[s][1] for s in who])
        row["flag"] = (row["pass_rate"] < HARD_CASE_RATE or
                       (row["discrimination"] is not None and row["discrimination"] < WEAK_DISCRIMINATION))
        rows.append(row)
    return rows


def diagnosis_counts(results: dict[str, Result]) -> list[dict]:
    """The known mistakes the class made, most students first: name, students, cases, explanation."""
    students: dict[str, set] = {}
    cases: Counter = Counter()
    for student, result in results.items():
        for t in result.tests:
            for name in t.diagnoses:
                students.setdefault(name, set()).add(student)
                cases[name] += 1
    rows = [{"name": n, "students": len(s), "cases": cases[n],
             "explanation": explanation(n)} for n, s in students.items()]
    return sorted(rows, key=lambda r: (-r["students"], -r["cases"], r["name"]))


def late_submissions(course, assignments: list[str], db_url: str | None = None,
                     course_id: str | None = None) -> tuple[dict[str, list[dict]], str | None]:
    """Late submissions per assignment as nbgrader recorded them, and a note when the gradebook is unusable.
    ``course``: a path or a :class:`~autograder.course.Course`; ``db_url``/``course_id`` override its config's."""
    course = as_course(course, db_url, course_id)
    url = course.gradebook_url()  # never creates an empty one
    if url is None:
        return {}, "no gradebook (DIR/gradebook.db): lateness unknown"
    from nbgrader.api import Gradebook, MissingEntry

    from autograder.course import tools_on_path
    from autograder.gradebook import GradebookURLError, check_reachable

    late: dict[str, list[dict]] = {}
    try:
        check_reachable(url)  # a server that does not answer: a note after seconds (nbgrader's engine has no timeout)
        with tools_on_path(), warnings.catch_warnings(), Gradebook(url, course_id=course.course_id) as gb:
            warnings.simplefilter("ignore")
            for name in assignments:
                try:
                    assignment = gb.find_assignment(name)
                except MissingEntry:
                    continue
                rows = []
                for sub in assignment.submissions:
                    seconds = float(sub.total_seconds_late or 0.0)
                    if seconds > 0:
                        rows.append({"student": safe_line(sub.student_id), "timestamp": f"{sub.timestamp} UTC",
                                     "duedate": f"{sub.duedate} UTC", "late": _duration(seconds),
                                     "seconds": seconds, "penalty": float(sub.late_submission_penalty or 0.0)})
                late[name] = sorted(rows, key=lambda r: -r["seconds"])
    except GradebookURLError as exc:
        return {}, safe_line(exc, 400)
    except Exception as exc:  # a broken or foreign database: the report is still written, with the reason
        from autograder.gradebook import masked_url, scrub

        # Scrubbed before it is cut: a cut could leave part of a password unmatched.
        reason = safe_text(scrub(str(getattr(exc, "orig", None) or exc), url), 300)
        return {}, safe_line(f"the gradebook {masked_url(url)} could not be read: {type(exc).__name__}: {reason}", 400)
    return late, None


def _duration(seconds: float) -> str:
    days, rest = divmod(int(seconds), 86400)
    hours, rest = divmod(rest, 3600)
    return (f"{days} d " if days else "") + f"{hours} h {rest // 60:02d} min"


def _fmt(x: float) -> str:
    return f"{x:g}"


def _max_score(results: dict[str, Result]) -> float:
    return max((r.max_score for r in results.values()), default=0.0)


def write_grades_csv(path: Path, results: dict[str, dict[str, Result]]) -> Path:
    """One row per student: the score of each assignment (blank when not submitted) and the total. Every cell goes
    through :func:`~autograder.safe_text.csv_cell`: a student id is a folder name the student chose, and one
    starting with ``=`` must not become a spreadsheet formula."""
    students = sorted({s for per in results.values() for s in per})
    header = [GRADES_ID_HEADER] + [f"{a} ({_fmt(_max_score(per))})" for a, per in results.items()] + [TOTAL_HEADER]
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(map(csv_cell, header))
        for s in students:
            scores = [results[a][s].score if s in results[a] else None for a in results]
            writer.writerow(map(csv_cell, [s, *("" if x is None else x for x in scores),
                                           sum(x for x in scores if x is not None)]))
    return path


def write_cases_csv(path: Path, results: dict[str, dict[str, Result]]) -> Path:
    """One row per student and case (the columns of :data:`CASES_HEADER`), every cell through
    :func:`~autograder.safe_text.csv_cell`."""
    with open(path, "w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(map(csv_cell, CASES_HEADER))
        for assignment, per in results.items():
            for student in sorted(per):
                for t in per[student].tests:
                    writer.writerow(map(csv_cell, [
                        student, assignment, t.function, t.case_id, t.visibility, t.score, t.max_score,
                        "passed" if t.passed else "failed", ", ".join(t.diagnoses), t.status]))
    return path


def _problems(results: dict[str, Result]) -> tuple[list[dict], list[dict], list[dict]]:
    """Students whose notebook failed to load, who timed out, and whose result file was malformed."""
    load_failed, timed_out, malformed = [], [], []
    for student, r in sorted(results.items()):
        who = safe_line(student)
        if not r.load.ok:
            load_failed.append({"student": who, "reason": r.load.error or r.output})
        if r.timed_out:
            timed_out.append({"student": who, "cases": [t.name for t in r.tests if t.status == "timeout"]})
        if r.problems:
            malformed.append({"student": who, "problems": list(r.problems)})
    return load_failed, timed_out, malformed


def _layers(results: dict[str, Result]) -> tuple[list[tuple[str, int]], dict[str, str]]:
    count: Counter = Counter()
    missing: dict[str, str] = {}
    for r in results.values():
        count.update(r.sandbox_layers)
        missing.update(r.sandbox_missing)
    return sorted(count.items()), missing


def _summary(scores: list[float]) -> dict:
    if not scores:
        return {"n": 0, "mean": 0.0, "median": 0.0, "min": 0.0, "max": 0.0, "sd": 0.0}
    return {"n": len(scores), "mean": statistics.fmean(scores), "median": statistics.median(scores),
            "min": min(scores), "max": max(scores), "sd": statistics.pstdev(scores)}


def _assignment_page(env, assignment: str, results: dict[str, Result], late: list[dict], late_note: str | None) -> str:
    from autograder import plots

    scores = [r.score for r in results.values()]
    max_score = _max_score(results)
    cases = case_statistics(results)
    diagnoses = diagnosis_counts(results)
    load_failed, timed_out, malformed = _problems(results)
    layers, missing = _layers(results)
    pictures = {
        "histogram": plots.score_histogram(scores, max_score, f"{assignment}: {len(scores)} students"),
        "pass_rate": plots.pass_rate_chart([c["name"] + (" (hidden)" if c["hidden"] else "") for c in cases],
                                           [c["pass_rate"] for c in cases], [c["discrimination"] for c in cases]),
        "diagnoses": plots.diagnosis_chart([d["name"] for d in diagnoses], [d["students"] for d in diagnoses],
                                           len(results)) if diagnoses else None,
    }
    return env.get_template("report_assignment.html.j2").render(
        assignment=assignment, summary=_summary(scores), max_score=max_score, cases=cases, diagnoses=diagnoses,
        load_failed=load_failed, timed_out=timed_out, malformed=malformed, late=late, late_note=late_note,
        layers=layers,
        missing=missing, pictures=pictures, note=DISCRIMINATION_NOTE, students=len(results))


def write_report(course, *, db_url: str | None = None, course_id: str | None = None) -> dict[str, Path]:
    """Write ``DIR/reports/`` (index.html, <assignment>.html, grades.csv, cases.csv); returns them by name.

    Every page is written on its own: one that cannot be drawn says why (and the index names it), the others and
    both CSV files are still written; result files that could not be read are listed on the index."""
    from autograder import plots
    from autograder.templating import ENV as env

    course = as_course(course, db_url, course_id)
    unreadable: list[dict] = []
    results = load_results(course, unreadable)
    if not results:
        raise ValueError(NO_RESULTS.format(folder=course.results))
    out = course.reports
    out.mkdir(parents=True, exist_ok=True)
    late, late_note = late_submissions(course, list(results))
    written = {"grades.csv": write_grades_csv(out / "grades.csv", results),
               "cases.csv": write_cases_csv(out / "cases.csv", results)}
    rows = []
    for assignment, per in results.items():
        page = out / f"{assignment}.html"
        failed = None
        try:
            html = _assignment_page(env, assignment, per, late.get(assignment, []), late_note).encode("utf-8")
        except Exception as exc:  # a bug met by one assignment's data: its page says so, the report goes on
            failed = PAGE_FAILED.format(reason=safe_line(f"{type(exc).__name__}: {safe_text(exc, 300)}", 400))
            html = env.get_template("report_failed.html.j2").render(assignment=assignment,
                                                                     message=failed).encode("utf-8")
        page.write_bytes(html)
        written[page.name] = page
        load_failed, timed_out, malformed = _problems(per)
        rows.append({"assignment": assignment, "page": page.name, "max_score": _max_score(per),
                     "summary": _summary([r.score for r in per.values()]),
                     "load_failed": len(load_failed), "timed_out": len(timed_out), "malformed": len(malformed),
                     "late": len(late.get(assignment, [])), "failed": failed})
    students = sorted({s for per in results.values() for s in per})
    totals = [sum(per[s].score for per in results.values() if s in per) for s in students]
    course_max = sum(r["max_score"] for r in rows)
    index = env.get_template("report_index.html.j2").render(
        rows=rows, students=len(students), course_max=course_max, summary=_summary(totals), late_note=late_note,
        unreadable=unreadable,
        histogram=plots.score_histogram(totals, course_max, f"course total: {len(students)} students"))
    (out / "index.html").write_bytes(index.encode("utf-8"))
    written["index.html"] = out / "index.html"
    return written
