"""``autograder feedback``: one self-contained HTML page per graded student, in nbgrader's release_feedback layout.

``DIR/feedback/<student>/<assignment>/<assignment>.html`` (with the submission's ``timestamp.txt`` and
``submission_secret.txt`` beside it when nbgrader's exchange wrote them, which ``nbgrader release_feedback`` needs)
shows the score, every case (points, passed or failed, the reason, the diagnosis and its explanation), the student's
solution cells each followed by its test cell's report, and for each failed VISIBLE array case a picture of
expected, got and their difference. The pictures need the student's answer, which the result file does not keep:
the student's function is re-run on the case inputs in the sandbox (:mod:`autograder.grading`'s call trampoline),
the expected value comes from the live case.

Hidden cases: only their name, points, status and diagnosis (with the mistake's explanation from
:mod:`autograder.mistakes`) reach the page -- never their message, inputs or expected values, and no hidden case
is ever re-run here (nbgrader's own feedback leaks hidden tests: jupyter/nbgrader#917).
"""
from __future__ import annotations

import hashlib
import secrets
import shutil
from datetime import datetime, timezone
from pathlib import Path

import jinja2
import nbformat
from markupsafe import Markup

from autograder.mistakes import MISTAKES
from autograder.results import read_result

__all__ = ["write_feedback", "render_feedback", "case_pictures", "feedback_path", "NO_RESULTS",
           "PICTURES_OMITTED", "NOTEBOOK_UNREADABLE", "NOTEBOOK_CHANGED", "HIDDEN_REASON"]

NO_RESULTS = "no graded results for {assignment!r} in {folder}: run `autograder grade {assignment}` first"
PICTURES_OMITTED = "pictures omitted: re-running your code to draw them failed ({reason})"
PICTURE_CASE_FAILED = "no picture: re-running this case failed ({reason})"
PICTURE_NOT_ARRAY = "no picture: the answer is a {got}, not an array of numbers"
NOTEBOOK_UNREADABLE = "your notebook could not be read, so your code is not shown: {reason}"
NOTEBOOK_MISSING = "the submitted notebook was not found in {folder}, so your code and pictures are not shown"
NOTEBOOK_CHANGED = ("the submitted notebook changed after grading (its content hash differs), so your code and "
                    "pictures are not shown: ask for a regrade")
HIDDEN_REASON = "hidden case: {kind}"
# Files nbgrader's exchange writes beside a submission, which release_feedback reads beside the feedback page.
_EXCHANGE_FILES = ("timestamp.txt", "submission_secret.txt")
# A picture per failed case would make a page of a totally wrong submission huge: the first few tell the story.
MAX_PICTURES = 12
MAX_PANELS_PER_CASE = 3
_CODE_CAP = 20_000

_ENV = jinja2.Environment(loader=jinja2.PackageLoader("autograder", "templates"),
                          autoescape=jinja2.select_autoescape(["html", "j2"]), trim_blocks=True, lstrip_blocks=True)


def feedback_path(course: Path, assignment: str, student: str) -> Path:
    """Where nbgrader's ``release_feedback`` looks for the page: feedback/<student>/<assignment>/<notebook>.html."""
    return Path(course) / "feedback" / student / assignment / f"{assignment}.html"


def _explain(diagnosis: str | None) -> list[dict]:
    names = [n.strip() for n in (diagnosis or "").split(",") if n.strip()]
    return [{"name": n, "explanation": MISTAKES[n].explanation if n in MISTAKES else ""} for n in names]


def _rows(result: dict) -> list[dict]:
    rows = []
    for t in result.get("tests", []):
        extra = t.get("extra_data", {})
        hidden = bool(extra.get("hidden")) or t.get("visibility") != "visible"
        kind = extra.get("kind") or t.get("status")
        rows.append({"name": t.get("name", ""), "function": extra.get("function", ""), "case": extra.get("case", ""),
                     "score": t.get("score", 0.0), "max_score": t.get("max_score", 0.0), "status": t.get("status"),
                     "kind": kind, "hidden": hidden, "sort_key": kind == "passed",  # failed cases first
                     # a hidden case's message is never rendered, whatever the result file holds
                     "reason": HIDDEN_REASON.format(kind=kind) if hidden else t.get("output", ""),
                     "diagnoses": _explain(extra.get("diagnosis"))})
    return rows


def _submitted_notebook(course: Path, assignment: str, result: dict) -> Path | None:
    extra = result.get("extra_data", {})
    folder = Path(course) / "submitted" / extra.get("student", "") / assignment
    for name in (extra.get("notebook"), f"{assignment}.ipynb"):
        if name and (folder / name).is_file():
            return folder / name
    found = sorted(folder.glob("*.ipynb")) if folder.is_dir() else []
    return found[0] if len(found) == 1 else None


def _limits(assignment: str):
    from autograder import grading

    return grading.CNN_LIMITS if assignment == "cnn" else grading.DEFAULT_LIMITS


def _outputs(case, got) -> list[tuple[str, object, object]]:
    """(name, expected, got) of each array output that is wrong: one for a plain result, each changed one of a
    tuple (the backward functions return several gradients)."""
    from autograder.student.convkit_check import compare

    expected = case.expected
    if isinstance(expected, (tuple, list)) and isinstance(got, (tuple, list)) and len(got) == len(expected):
        names = list(case.output_names) or [f"result[{i}]" for i in range(len(expected))]
        return [(n, e, g) for n, e, g in zip(names, expected, got) if compare(g, e, case, n)]
    return [("result", expected, got)]


def _numeric(value) -> bool:
    import numpy as np

    try:
        return np.asarray(value).dtype.kind in "biuf"
    except Exception:  # ragged nests and the like cannot be drawn
        return False


def case_pictures(assignment: str, notebook: Path, wanted: set[tuple[str, str]]) -> tuple[dict, dict, str | None]:
    """Heatmaps for the VISIBLE array cases ``wanted`` (``(function, case_id)`` pairs), re-run in the sandbox.

    Returns ``({key: [(title, data URI)]}, {key: note why there is no picture}, note for the whole page or None)``.
    Never raises for what the submission does: a crash or a hang only costs the pictures.
    """
    from autograder import grading
    from autograder.plots import heatmaps
    from autograder.sandbox import Sandbox, SandboxError
    from autograder.student import convkit_check as cc
    from autograder.suites import cases_for

    cases = [c for c in cases_for(assignment, "visible") if (c.function, c.case_id) in wanted and c.kind == "array"]
    pictures: dict = {}
    notes: dict = {}
    if not cases:
        return pictures, notes, None
    try:
        with Sandbox(cc.notebook_source(notebook), limits=_limits(assignment),
                     trusted_preamble=grading._worker_preamble()) as sandbox:
            if not sandbox.load_report.get("ok"):
                return pictures, notes, PICTURES_OMITTED.format(reason=sandbox.load_report.get("error"))
            call = grading._sandbox_call(sandbox)
            for case in cases[:MAX_PICTURES]:
                key = (case.function, case.case_id)
                try:
                    got = call(case.function, list(case.args), dict(case.kwargs))
                except (cc.StudentException, cc.CallTimeout, cc.FunctionMissing) as exc:
                    notes[key] = PICTURE_CASE_FAILED.format(reason=f"{type(exc).__name__}: {str(exc)[:200]}")
                    continue
                panels = []
                for name, expected, answer in _outputs(case, got)[:MAX_PANELS_PER_CASE]:
                    if answer is None or not _numeric(answer) or isinstance(answer, (str, bytes, dict)):
                        notes[key] = PICTURE_NOT_ARRAY.format(got=type(answer).__name__)
                        continue
                    panels.append((name, heatmaps(expected, answer, "" if name == "result" else name)))
                if panels:
                    pictures[key] = panels
    except (SandboxError, OSError) as exc:
        return pictures, notes, PICTURES_OMITTED.format(reason=f"{type(exc).__name__}: {str(exc)[:300]}")
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


def _code_sections(notebook: Path, rows: list[dict], functions: list[str]) -> list[dict]:
    """The student's solution cells in notebook order, each with its function's visible case reports."""
    nb = nbformat.read(str(notebook), as_version=4)
    sections, seen = [], set()
    for cell in nb.cells:
        meta = cell.get("metadata", {}).get("nbgrader", {})
        if cell.cell_type != "code" or not meta.get("solution"):
            continue
        grade_id = str(meta.get("grade_id", ""))
        function = grade_id.removesuffix("_solution")
        source = cell.source if len(cell.source) <= _CODE_CAP else cell.source[:_CODE_CAP] + "\n# ... (cut)"
        reports = [r for r in rows if r["function"] == function and not r["hidden"]]
        hidden = [r for r in rows if r["function"] == function and r["hidden"]]
        seen.add(function)
        sections.append({"title": function if function in functions else grade_id or "solution cell",
                         "code": _highlight(source), "reports": reports,
                         "hidden_passed": sum(r["kind"] == "passed" for r in hidden), "hidden_total": len(hidden)})
    return sections


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def render_feedback(result: dict, course: Path, *, pictures: bool = True) -> str:
    """The feedback page of one result (Gradescope results.json dict) as an HTML string."""
    extra = result.get("extra_data", {})
    assignment = extra.get("assignment", "")
    rows = _rows(result)
    functions = list(dict.fromkeys(r["function"] for r in rows))
    by_function = [{"function": f, "score": sum(r["score"] for r in rows if r["function"] == f),
                    "max_score": sum(r["max_score"] for r in rows if r["function"] == f)} for f in functions]
    notes, sections = [], []
    load = extra.get("load", {})
    notebook = _submitted_notebook(course, assignment, result)
    if notebook is None:
        notes.append(NOTEBOOK_MISSING.format(folder=Path(course) / "submitted" / extra.get("student", "") /
                                             assignment))
    elif extra.get("submission_sha256") and _sha(notebook) != extra["submission_sha256"]:
        notes.append(NOTEBOOK_CHANGED)
        notebook = None
    if notebook is not None:
        try:
            sections = _code_sections(notebook, rows, functions)
        except Exception as exc:  # an untrusted file: any parse failure is reported, not raised
            notes.append(NOTEBOOK_UNREADABLE.format(reason=f"{type(exc).__name__}: {str(exc)[:300]}"))
            notebook = None
    pics, pic_notes, page_note = {}, {}, None
    wanted = {(r["function"], r["case"]) for r in rows if not r["hidden"] and r["kind"] == "failed"}
    if pictures and notebook is not None and load.get("ok", False) and wanted:
        pics, pic_notes, page_note = case_pictures(assignment, notebook, wanted)
    if page_note:
        notes.append(page_note)
    for r in rows:
        key = (r["function"], r["case"])
        r["pictures"] = pics.get(key, []) if not r["hidden"] else []
        r["picture_note"] = pic_notes.get(key) if not r["hidden"] else None
    return _ENV.get_template("feedback.html.j2").render(
        result=result, extra=extra, assignment=assignment, student=extra.get("student", ""), rows=rows,
        by_function=by_function, load=load, cell_errors=load.get("cell_errors") or [], notes=notes,
        sections=sections, passed=sum(r["kind"] == "passed" for r in rows),
        hidden_count=sum(r["hidden"] for r in rows))


def _exchange_files(course: Path, assignment: str, student: str, folder: Path, result: dict) -> None:
    """nbgrader's release_feedback reads timestamp.txt and submission_secret.txt beside every page, and stops at the
    first folder without them. A submission collected through the exchange has both (copied); one that came from a
    folder or an LMS zip gets its grading timestamp and a fresh secret, so releasing the others still works (that
    student gets the page through the LMS, not the exchange)."""
    for name in _EXCHANGE_FILES:
        src = course / "submitted" / student / assignment / name
        if src.is_file():
            shutil.copy2(src, folder / name)
        elif name == "timestamp.txt":
            stamp = result.get("extra_data", {}).get("timestamp")
            (folder / name).write_text(stamp or datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S.%f %Z"))
        else:
            (folder / name).write_text(secrets.token_hex(16))


def write_feedback(assignment: str, course: Path, *, students: list[str] | None = None,
                   pictures: bool = True) -> list[Path]:
    """Write the feedback page of every graded student of ``assignment`` (or only ``students``); the paths."""
    course = Path(course)
    folder = course / "results" / assignment
    files = sorted(folder.glob("*.json")) if folder.is_dir() else []
    if students is not None:
        files = [f for f in files if f.stem in set(students)]
    if not files:
        raise ValueError(NO_RESULTS.format(assignment=assignment, folder=folder))
    written = []
    for path in files:
        result = read_result(path)
        if result is None:
            continue
        result.setdefault("extra_data", {}).setdefault("student", path.stem)
        result["extra_data"].setdefault("assignment", assignment)
        html = render_feedback(result, course, pictures=pictures)
        dest = feedback_path(course, assignment, path.stem)
        dest.parent.mkdir(parents=True, exist_ok=True)
        dest.write_text(html, encoding="utf-8")
        _exchange_files(course, assignment, path.stem, dest.parent, result)
        written.append(dest)
    return written
