"""``autograder feedback``: one self-contained HTML page per graded student, in nbgrader's release_feedback layout.

``DIR/feedback/<student>/<assignment>/<assignment>.html`` (with ``timestamp.txt`` and ``submission_secret.txt``
beside it, copied from the exchange's or made, since ``nbgrader release_feedback`` stops at a folder without them)
shows the score, every case (points, passed or failed, the reason, the diagnosis and its explanation), the student's
solution cells each followed by its test cell's report, and for each failed VISIBLE array case a picture of
expected, got and their difference. The pictures need the student's answer, which the result file does not keep:
the student's function is re-run on the case inputs in the sandbox (:mod:`autograder.grading`'s call trampoline),
the expected value comes from the live case.

Hidden cases: only their name, points, status and diagnosis (with the mistake's explanation from
:mod:`autograder.mistakes`) reach the page -- never their message, inputs or expected values, and no hidden case
is ever re-run here (nbgrader's own feedback leaks hidden tests: jupyter/nbgrader#917).

Every page is written on its own: the result is read through the one codec (:meth:`Result.from_json
<autograder.outcomes.Result.from_json>`: typed fields, safe text, no absolute path of the instructor's machine), a
page whose code or pictures cannot be drawn is written without them, one whose result cannot be read is a short
page saying so, and the run goes on (:class:`FeedbackPages` names them for the instructor).
"""
from __future__ import annotations

import hashlib
import os
import secrets
from datetime import UTC, datetime
from pathlib import Path

import nbformat
from markupsafe import Markup

from autograder.course import Course, as_course
from autograder.fix_first import FIX_NOTHING, call_graph, fix_first, solution_graph
from autograder.mistakes import MISTAKES
from autograder.results import Result, load_result, student_of
from autograder.safe_text import hide_paths, safe_line, safe_text
from autograder.safe_read import SubmissionRefused, read_submission_bytes
from autograder.submissions import MAX_NOTEBOOK_BYTES
from autograder.templating import ENV

__all__ = ["write_feedback", "render_feedback", "case_pictures", "feedback_path", "FeedbackPages", "NO_RESULTS",
           "PICTURES_OMITTED", "PICTURE_CASE_FAILED", "PICTURE_NOT_ARRAY", "PICTURE_NOT_OUTPUTS",
           "PICTURE_DRAWING_FAILED", "NOTEBOOK_UNREADABLE", "NOTEBOOK_MISSING", "NOTEBOOK_CHANGED", "HIDDEN_REASON",
           "HIDDEN_PROBLEM_REASON",
           "PAGE_IN_PART", "PAGE_NOT_DRAWN", "DEGRADED_LINE"]

NO_RESULTS = "no graded results for {assignment!r} in {folder}: run `autograder grade {assignment}` first"
PICTURES_OMITTED = "pictures omitted: re-running your code to draw them failed ({reason})"
PICTURE_CASE_FAILED = "no picture: re-running this case failed ({reason})"
PICTURE_NOT_ARRAY = "no picture: the answer is a {got}, not an array of numbers"
PICTURE_NOT_OUTPUTS = "no picture: {expected} outputs were expected, the answer is {got}"
PICTURE_DRAWING_FAILED = "no picture: drawing this answer failed ({reason})"
NOTEBOOK_UNREADABLE = "your notebook could not be read, so your code is not shown: {reason}"
NOTEBOOK_MISSING = ("your notebook ({notebook}) is not among the collected submissions "
                    "(submitted/{student}/{assignment}/), so your code and pictures are not shown")
NOTEBOOK_CHANGED = ("the submitted notebook changed after grading (its content hash differs), so your code and "
                    "pictures are not shown: ask for a regrade")
HIDDEN_REASON = "hidden case: {kind}"
HIDDEN_PROBLEM_REASON = "hidden case: {kind} ({problem})"
# A page that failed to render is drawn again without code and pictures, and if that fails too, as a short page.
PAGE_IN_PART = ("this page is shown in part: drawing your code and pictures failed ({reason}); your score and "
                "every case are as graded")
PAGE_NOT_DRAWN = ("your feedback page could not be drawn ({reason}); your graded result is kept: ask your "
                  "instructor for it")
DEGRADED_LINE = "{count} of them drawn only in part or not at all: {students}"
# Files nbgrader's exchange writes beside a submission, which release_feedback reads beside the feedback page.
_EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")
_EXCHANGE_FILE_CAP = 4096
# A picture per failed case would make a page of a totally wrong submission huge: the first few tell the story.
MAX_PICTURES = 12
MAX_PANELS_PER_CASE = 3
_CODE_CAP = 20_000



class FeedbackPages(list):
    """The pages written (a list of paths, one per graded student) and ``degraded``: ``{student: reason}`` for each
    page drawn only in part (or as a short page saying why), for the instructor."""

    def __init__(self, pages=(), degraded: dict[str, str] | None = None):
        super().__init__(pages)
        self.degraded = dict(degraded or {})

    def line(self, assignment: str, folder: Path) -> str:
        """What the CLI prints: the count, and the students whose page could not be drawn fully."""
        head = f"{assignment}: {len(self)} feedback pages under {folder}"
        if not self.degraded:
            return head
        return head + "; " + DEGRADED_LINE.format(count=len(self.degraded), students=", ".join(sorted(self.degraded)))


def feedback_path(course, assignment: str, student: str) -> Path:
    """Where nbgrader's ``release_feedback`` looks for the page: feedback/<student>/<assignment>/<notebook>.html."""
    return as_course(course).feedback_dir(student, assignment) / f"{assignment}.html"


def _roots(course: os.PathLike[str]) -> tuple[Path, ...]:
    """The instructor's folders that no student page may name (ARCHITECTURE: a page shows file names only)."""
    return (Path(course), Path.home())


def _say(text, roots, cap: int = 360) -> str:
    """One line for a student's page: safe, and naming no folder of the instructor's machine."""
    return hide_paths(safe_line(text, cap), roots)


def _reason(exc: BaseException, course: os.PathLike[str] | None) -> str:
    return _say(f"{type(exc).__name__}: {safe_text(exc, 300)}", _roots(course) if course is not None else ())


def explanation(name: str) -> str:
    """The student-facing explanation of a diagnosis: a named mistake's, or one of the capstone's checks'."""
    if name in MISTAKES:
        return MISTAKES[name].explanation
    from autograder.capstone import EXPLANATIONS

    return EXPLANATIONS.get(name, "")


def _rows(result: Result) -> list[dict]:
    # A hidden case's output is never rendered, whatever the result file holds: only its status and the grader's
    # problem name (one of a fixed vocabulary, checked on reading).
    return [{"name": t.name, "function": t.function, "case": t.case_id, "score": t.score, "max_score": t.max_score,
             "status": t.status, "hidden": t.hidden, "sort_key": t.passed,  # failed cases first
             "reason": (HIDDEN_PROBLEM_REASON.format(kind=t.status, problem=t.problem) if t.hidden and t.problem
                        else HIDDEN_REASON.format(kind=t.status) if t.hidden else t.output),
             "diagnoses": [{"name": n, "explanation": explanation(n)} for n in t.diagnoses]} for t in result.tests]


def _submitted_notebook(course: Course | Path, assignment: str, student: str, name: str | None) -> Path | None:
    """The graded notebook in nbgrader's submitted/ folder; never through a link (it could point anywhere)."""
    folder = as_course(course).submission_dir(student, assignment)
    if not folder.is_dir() or any(p.is_symlink() for p in (folder.parent, folder)):
        return None

    def regular(path: Path) -> bool:
        return path.is_file() and not path.is_symlink()

    for candidate in (name, f"{assignment}.ipynb"):
        if candidate and regular(folder / candidate):
            return folder / candidate
    found = [p for p in sorted(folder.glob("*.ipynb")) if regular(p)]
    return found[0] if len(found) == 1 else None


def _structure(value) -> str:
    if isinstance(value, (tuple, list)):
        return f"a {type(value).__name__} of {len(value)}"
    return f"one {type(value).__name__}"


def _outputs(case, got) -> tuple[list[tuple[str, object, object]], str | None]:
    """(name, expected, got) of each array output that is wrong -- one for a plain result, each changed one of a
    tuple (the backward functions return several gradients) -- or a note when the answer's structure differs."""
    from autograder.student.convkit_check import compare

    expected = case.expected
    if isinstance(expected, (tuple, list)):
        if not isinstance(got, (tuple, list)) or len(got) != len(expected):
            return [], PICTURE_NOT_OUTPUTS.format(expected=len(expected), got=_structure(got))
        names = list(case.output_names) or [f"result[{i}]" for i in range(len(expected))]
        return [(n, e, g) for n, e, g in zip(names, expected, got, strict=True) if compare(g, e, case, n)], None
    return [("result", expected, got)], None


def _numeric(value) -> bool:
    import numpy as np

    try:
        return np.asarray(value).dtype.kind in "biuf"
    except Exception:  # ragged nests and the like cannot be drawn
        return False


_Key = tuple[str, str]  # (function, case id)
_Pictures = dict[_Key, list[tuple[str, str]]]  # a case's heatmaps: (title, data URI)


def _case_panels(case, got) -> tuple[list[tuple[str, str]], str | None]:
    """The heatmaps of one answer (title, data URI), and a note when some output could not be drawn."""
    from autograder.plots import heatmaps

    outputs, note = _outputs(case, got)
    panels = []
    for name, expected, answer in outputs[:MAX_PANELS_PER_CASE]:
        if answer is None or not _numeric(answer) or isinstance(answer, (str, bytes, dict)):
            note = PICTURE_NOT_ARRAY.format(got=type(answer).__name__)
            continue
        panels.append((name, heatmaps(expected, answer, "" if name == "result" else name)))
    return panels, note


def case_pictures(assignment: str, notebook: Path, wanted: set[tuple[str, str]],
                  course: os.PathLike[str] | None = None) -> tuple[_Pictures, dict[_Key, str], str | None]:
    """Heatmaps for the VISIBLE array cases ``wanted`` (``(function, case_id)`` pairs), re-run in the sandbox.

    Returns ``({key: [(title, data URI)]}, {key: note why there is no picture}, note for the whole page or None)``.
    Never raises for what the submission does: a crash, a hang or an answer that cannot be drawn only costs the
    pictures. Notes name no folder of ``course`` (or any absolute path).
    """
    from autograder import grading
    from autograder.sandbox import Sandbox, SandboxError
    from autograder.student import convkit_check as cc
    from autograder.suites import assignment as registered
    from autograder.suites import cases_for

    cases = [c for c in cases_for(assignment, "visible") if (c.function, c.case_id) in wanted and c.kind == "array"]
    pictures: _Pictures = {}
    notes: dict[_Key, str] = {}
    if not cases:
        return pictures, notes, None
    try:
        with Sandbox(cc.notebook_source(notebook), limits=registered(assignment).limits,
                     trusted_preamble=grading._worker_preamble()) as sandbox:
            if not sandbox.load_report.get("ok"):
                reason = _say(sandbox.load_report.get("error"), _roots(course) if course is not None else ())
                return pictures, notes, PICTURES_OMITTED.format(reason=reason)
            call = grading._sandbox_call(sandbox)
            for case in cases[:MAX_PICTURES]:
                key = (case.function, case.case_id)
                try:
                    got = call(case.function, list(case.args), dict(case.kwargs))
                except (cc.StudentException, cc.CallTimeout, cc.FunctionMissing) as exc:
                    notes[key] = PICTURE_CASE_FAILED.format(reason=_reason(exc, course))
                    continue
                try:
                    panels, note = _case_panels(case, got)
                except Exception as exc:  # an answer no picture was made for: this case has none, the rest do
                    panels, note = [], PICTURE_DRAWING_FAILED.format(reason=type(exc).__name__)
                if note:
                    notes[key] = note
                if panels:
                    pictures[key] = panels
    except (SandboxError, OSError) as exc:
        return pictures, notes, PICTURES_OMITTED.format(reason=_reason(exc, course))
    return pictures, notes, None


def _highlight(source: str) -> Markup:
    try:
        from pygments import highlight
        from pygments.formatters import HtmlFormatter
        from pygments.lexers import PythonLexer
    except ImportError:  # pygments comes with nbconvert; plain text if it is absent
        return Markup("<pre class='code'>") + source + Markup("</pre>")
    # noclasses: inline styles, so the page needs no stylesheet file
    return Markup(highlight(source, PythonLexer(), HtmlFormatter(noclasses=True, style="friendly", nowrap=False)))


def _read_notebook(path: Path) -> bytes:
    size = path.stat().st_size
    if size > MAX_NOTEBOOK_BYTES:  # the cap comes before the read, as in grading
        raise ValueError(f"{size >> 20} MiB is over the {MAX_NOTEBOOK_BYTES >> 20} MiB cap")
    return path.read_bytes()


def _code_sections(raw: bytes, rows: list[dict], functions: list[str]) -> list[dict]:
    """The student's solution cells in notebook order, each with its function's visible case reports."""
    nb = nbformat.reads(raw.decode("utf-8"), as_version=4)
    sections = []
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
        if not isinstance(meta, dict) or cell.get("cell_type") != "code" or not meta.get("solution"):
            continue
        grade_id = safe_line(meta.get("grade_id", ""))
        function = grade_id.removesuffix("_solution")
        source = cell.get("source", "")
        # the student's own code, shown as written, except what no UTF-8 page can hold (lone surrogates, controls)
        source = safe_text(source if isinstance(source, str) else "".join(map(str, source)), _CODE_CAP)
        reports = [r for r in rows if r["function"] == function and not r["hidden"]]
        hidden = [r for r in rows if r["function"] == function and r["hidden"]]
        sections.append({"title": function if function in functions else grade_id or "solution cell",
                         "source": source, "code": _highlight(source), "reports": reports,
                         "hidden_passed": sum(r["sort_key"] for r in hidden), "hidden_total": len(hidden)})
    return sections


def render_feedback(result: Result, course: Course | Path, *, student: str | None = None, pictures: bool = True,
                    code: bool = True, note: str | None = None) -> str:
    """The feedback page of one result (read with ``roots=(course, home)``: :func:`autograder.results.load_result`)
    as an HTML string. ``student``: the student's folder name under submitted/ (default: the result's).
    ``code=False`` leaves out the code and the pictures (the fallback when drawing them failed); ``note`` heads
    the page."""
    course = as_course(course)
    assignment = result.assignment
    student = student if student is not None else result.student
    rows = _rows(result)
    functions = list(dict.fromkeys(r["function"] for r in rows))
    by_function = [{"function": f, "score": sum(r["score"] for r in rows if r["function"] == f),
                    "max_score": sum(r["max_score"] for r in rows if r["function"] == f),
                    "passed_all": all(r["sort_key"] for r in rows if r["function"] == f)} for f in functions]
    notes, sections = [note] if note else [], []
    notebook = _submitted_notebook(course, assignment, student, result.notebook) if code else None
    raw = b""
    if code and notebook is None:
        notes.append(NOTEBOOK_MISSING.format(notebook=result.notebook or f"{assignment}.ipynb",
                                             student=result.student, assignment=assignment))
    if notebook is not None:
        try:
            raw = _read_notebook(notebook)
            if result.submission_sha256 and hashlib.sha256(raw).hexdigest() != result.submission_sha256:
                notes.append(NOTEBOOK_CHANGED)
                notebook = None
            else:
                sections = _code_sections(raw, rows, functions)
        except Exception as exc:  # an untrusted file: any parse failure is reported, not raised
            notes.append(NOTEBOOK_UNREADABLE.format(reason=_reason(exc, course)))
            notebook = None
    pics: _Pictures = {}
    pic_notes: dict[_Key, str] = {}
    page_note: str | None = None
    wanted = {(r["function"], r["case"]) for r in rows if not r["hidden"] and r["status"] == "failed"}
    if pictures and notebook is not None and result.load.ok and wanted:
        pics, pic_notes, page_note = case_pictures(assignment, notebook, wanted, course)
    if page_note:
        notes.append(page_note)
    for r in rows:
        key = (r["function"], r["case"])
        r["pictures"] = pics.get(key, []) if not r["hidden"] else []
        r["picture_note"] = pic_notes.get(key) if not r["hidden"] else None
    # The student's own calls where their cells define the function, the kit's solutions' elsewhere (fix_first).
    graph = {**solution_graph(assignment, functions), **call_graph([s["source"] for s in sections], functions)}
    return ENV.get_template("feedback.html.j2").render(
        result=result, assignment=assignment, student=result.student, rows=rows, by_function=by_function,
        fix_first=fix_first(rows, graph), fix_nothing=FIX_NOTHING,
        load=result.load, notes=notes, sections=sections, passed=sum(r["sort_key"] for r in rows),
        hidden_count=sum(r["hidden"] for r in rows))


def _exchange_files(course: Course, assignment: str, student: str, folder: Path, timestamp: str | None) -> None:
    """nbgrader's release_feedback reads timestamp.txt and submission_secret.txt beside every page, and stops at the
    first folder without them. A submission collected through the exchange has both (copied: small regular files
    only, never through a link); one that came from a folder or an LMS zip, or whose files are unusable, gets its
    grading timestamp (or now) and a fresh secret, so releasing the others still works (that student gets the page
    through the LMS, not the exchange)."""
    for name in _EXCHANGE_FILES:
        src = course.submission_dir(student, assignment) / name
        try:  # no link followed anywhere below submitted/, a regular file only, capped before the read
            text = read_submission_bytes(src, _EXCHANGE_FILE_CAP, root=course.submitted).decode("utf-8")
        except (OSError, ValueError, SubmissionRefused):
            text = (timestamp or datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%S.%f %Z")
                    if name == "timestamp.txt" else secrets.token_hex(16))
        (folder / name).write_text(text, encoding="utf-8")


def _short_page(assignment: str, student: str, reason: str) -> bytes:
    return ENV.get_template("feedback_short.html.j2").render(
        assignment=safe_line(assignment), student=safe_line(student),
        message=PAGE_NOT_DRAWN.format(reason=reason)).encode("utf-8")


def _page(path: Path, assignment: str, course: Course, pictures: bool) -> tuple[bytes, str | None, str | None]:
    """(the page as UTF-8, what went wrong or None, the result's timestamp) for one result file. Never raises: a
    result that cannot be read or drawn gets a short page saying so; one whose code or pictures cannot be drawn, a
    page without them. The student's page names only the kind of failure; the instructor gets the reason."""
    student = student_of(path)
    try:
        result = load_result(path, student, assignment, roots=_roots(course))
    except Exception as exc:
        reason = _reason(exc, course)
        return _short_page(assignment, student, reason), reason, None
    stamp = result.timestamp
    try:
        return render_feedback(result, course, student=student, pictures=pictures).encode("utf-8"), None, stamp
    except Exception as exc:  # a bug met by one submission: this page loses its code and pictures, not the run
        reason, kind = _reason(exc, course), type(exc).__name__
    try:
        return render_feedback(result, course, student=student, pictures=False, code=False,
                               note=PAGE_IN_PART.format(reason=kind)).encode("utf-8"), reason, stamp
    except Exception as exc:
        return _short_page(assignment, student, kind), f"{reason}; then {_reason(exc, course)}", stamp


def write_feedback(assignment: str, course: Course | Path, *, students: list[str] | None = None,
                   pictures: bool = True) -> FeedbackPages:
    """Write the feedback page of every graded student of ``assignment`` (or only ``students``), each with the
    exchange files beside it; returns the pages (:class:`FeedbackPages`: ``degraded`` names the students whose page
    could not be drawn fully, and why). One student's page never stops the others'."""
    course = as_course(course)
    folder = course.results_dir(assignment)
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    owners = {f: student_of(f) for f in files}
    if students is not None:
        files = [f for f in files if owners[f] in set(students)]
    if not files:
        raise ValueError(NO_RESULTS.format(assignment=assignment, folder=folder))
    pages = FeedbackPages()
    for path in files:
        html, problem, stamp = _page(path, assignment, course, pictures)
        # The page's folder is the result's file name (safe and bounded: results.result_name), which is the id
        # itself for every id nbgrader's exchange can hand back feedback to.
        dest = feedback_path(course, assignment, path.stem)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_bytes(html)
        _exchange_files(course, assignment, owners[path], dest.parent, stamp)
        if problem:
            pages.degraded[safe_line(owners[path])] = problem
        pages.append(dest)
    return pages
