"""``make demo``: the whole loop on a fresh clone, with nothing but Python.

1. The reference at work: the slides' worked examples recomputed, their kernels applied to a photograph.
2. ``autograder build``: the four releases (nbgrader's generate_assignment) in a demo course folder.
3. A generated class of ~30 students (complete, partial, each common mistake, a few hostile) in ``submitted/``.
4. ``autograder grade`` of all four assignments, in parallel over submissions, with progress bars.
5. ``autograder feedback`` for every student and ``autograder report`` for the class.
It ends by printing the paths to open. Everything lands in one folder (default ``demo-course/``), rebuilt each run.
"""
from __future__ import annotations

import argparse
import shutil
import time
from collections import Counter
from pathlib import Path

DEFAULT_DIR = Path("demo-course")


def _step(title: str) -> float:
    print(f"\n== {title} ==", flush=True)
    return time.perf_counter()


def _done(start: float, what: str) -> None:
    print(f"   {what} in {time.perf_counter() - start:.1f} s", flush=True)


def run_demo(course: Path, n_students: int = 30, workers: int | None = None, pictures: bool = True) -> dict:
    """Run every step into ``course`` (removed first); returns the paths to open and the timings."""
    from autograder.build import build_course
    from autograder.classgen import generate_class
    from autograder.course import Course
    from autograder.feedback import write_feedback
    from autograder.grade import grade_batch
    from autograder.report import write_report
    from autograder.showcase import kernel_gallery, worked_examples_text
    from autograder.suites import assignment_names

    began, names = time.perf_counter(), assignment_names()
    if course.exists():
        shutil.rmtree(course)
    course.mkdir(parents=True)

    t = _step("1. The reference: the slides' worked examples, recomputed")
    print(worked_examples_text())
    gallery = kernel_gallery(course / "showcase" / "kernels_gallery.png")
    print(f"   the slides' kernels on a photograph: {gallery}")
    _done(t, "showcase")

    t = _step("2. autograder build: the four releases")
    releases = build_course(course, list(names))
    layout = Course.open(course)
    for name, folder in releases.items():
        print(f"   {name}: {folder}")
    _done(t, "built")

    t = _step(f"3. A class of {n_students} students")
    profiles = generate_class(course, list(names), n_students=n_students)
    kinds = Counter(p.kind for by_a in profiles.values() for p in by_a.values())
    print("   submissions: " + ", ".join(f"{n} {k}" for k, n in sorted(kinds.items())))
    _done(t, "generated")

    t = _step("4. autograder grade: every assignment, sandboxed, in parallel")
    summaries = {}
    for name in names:
        summaries[name] = grade_batch(name, [], course, workers=workers)
        print("   " + summaries[name].line(), flush=True)
    layers = sorted(set().union(*(s.layers for s in summaries.values())))
    print(f"   sandbox layers in force: {', '.join(layers)}")
    _done(t, "graded")

    t = _step("5. Feedback for every student, and the class report")
    pages: list[Path] = []
    for name in names:
        pages += write_feedback(name, course, pictures=pictures)
    print(f"   {len(pages)} feedback pages under {layout.feedback}")
    report = write_report(course)["index.html"]
    _done(t, "written")

    from autograder.feedback import feedback_path

    # Show a page worth reading: a student who made one of the known mistakes in the first assignment.
    first = names[0]
    mistaken = next((s for s, by_a in profiles.items() if by_a[first].kind == "mistake"), None)
    example = feedback_path(course, first, mistaken) if mistaken else (pages[0] if pages else None)
    print(f"\ndemo finished in {time.perf_counter() - began:.0f} s. Open:")
    print(f"   the class report:        {Path(report).resolve()}")
    print(f"   a student's feedback:    {Path(example).resolve() if example else '-'}")
    print(f"   grades for the LMS:      {layout.reports / 'grades.csv'}")
    print(f"   the kernels gallery:     {gallery.resolve()}")
    print(f"   the gradebook (nbgrader): {layout.db_url.removeprefix('sqlite:///')}  "
          f"(cd {course} && nbgrader export)")
    return {"report": report, "feedback": pages, "gallery": gallery, "summaries": summaries,
            "seconds": time.perf_counter() - began}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.demo", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where the demo writes (default: %(default)s)")
    parser.add_argument("--students", type=int, default=30, help="class size (default: %(default)s)")
    parser.add_argument("--workers", type=int, default=None, help="parallel graders (default: core count)")
    args = parser.parse_args(argv)
    run_demo(args.dir, args.students, args.workers)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
