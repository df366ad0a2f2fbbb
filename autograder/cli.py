"""The instructor's command line, ``autograder <verb>``: each verb is a thin wrapper over a library function.

Verbs: ``init`` (:func:`autograder.build.init_course`), ``build`` (:func:`autograder.build.build_course`),
``grade`` (:func:`autograder.grade.grade_batch`),
``feedback`` (:func:`autograder.feedback.write_feedback`), ``report`` (:func:`autograder.report.write_report`) and
``export gradescope`` (:func:`autograder.export.export_gradescope`) and ``crosscheck``
(:func:`autograder.crosscheck.run_crosscheck`, or on a cluster's GPU worker).
"""
from __future__ import annotations

from pathlib import Path

import click

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """convkit's grader: build releases, grade submissions, hand back feedback, report on the class."""


_DB_HELP = "gradebook SQLAlchemy URL (default: the one COURSE/nbgrader_config.py records, else COURSE/gradebook.db)"
_EXCHANGE_HELP = "nbgrader exchange folder for release_assignment/collect (default: nbgrader's /srv/nbgrader/exchange)"


@main.command()
@click.argument("course", type=click.Path(file_okay=False, path_type=Path))
@click.argument("assignments", nargs=-1)
@click.option("--exchange", type=click.Path(file_okay=False, path_type=Path), default=None, help=_EXCHANGE_HELP)
@click.option("--db", "db_url", default=None, help=_DB_HELP)
def init(course, assignments, exchange, db_url):
    """Start COURSE: the kit's source ASSIGNMENTS (default: all) in COURSE/source/ and its nbgrader_config.py."""
    from autograder.build import BuildError, init_course

    try:
        folders = init_course(course, assignments or None, exchange=exchange, db_url=db_url)
    except (BuildError, ValueError) as exc:
        raise click.ClickException(str(exc)) from exc
    for name, folder in folders.items():
        click.echo(f"{name}: {folder}")


@main.command()
@click.argument("assignments", nargs=-1)
@click.option("--course", "course", type=click.Path(file_okay=False, path_type=Path), default=Path("course"),
              show_default=True, help="course directory (nbgrader's layout)")
@click.option("--exchange", type=click.Path(file_okay=False, path_type=Path), default=None, help=_EXCHANGE_HELP)
@click.option("--db", "db_url", default=None, help=_DB_HELP + "; recorded in COURSE/nbgrader_config.py")
def build(assignments, course, exchange, db_url):
    """Release ASSIGNMENTS (default: every assignment with a source notebook) into COURSE/release/."""
    from autograder.build import BuildError, build_course

    try:
        releases = build_course(course, assignments or None, exchange=exchange, db_url=db_url)
    except BuildError as exc:
        raise click.ClickException(str(exc)) from exc
    for name, folder in releases.items():
        click.echo(f"{name}: {folder}")


@main.command()
@click.argument("assignment")
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option("--course", "course", type=click.Path(file_okay=False, path_type=Path), default=Path("course"),
              show_default=True, help="course directory (nbgrader's layout)")
@click.option("--workers", type=click.IntRange(min=0), default=None,
              help="parallel graders (default: core count; 0: grade in this process; with --scheduler local: "
                   "the LocalCluster's workers)")
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="grade on a Dask cluster: the scheduler's address (tcp://HOST:8786, tls://HOST:8786), or "
                   "'local' for a LocalCluster on this machine")
@click.option("--tls-ca-file", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TLS: the certificate authority the scheduler's certificate is signed by")
@click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TLS: this client's certificate")
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="TLS: this client's private key")
@click.option("--force", is_flag=True, help="regrade submissions whose results are current")
@click.option("--db", "db_url", default=None, help=_DB_HELP)
@click.option("--wait", is_flag=True, help="if another grader holds the course, wait for it instead of stopping")
def grade(assignment, paths, course, workers, scheduler, tls_ca_file, tls_cert, tls_key, force, db_url, wait):
    """Grade ASSIGNMENT's submissions in PATHS (notebooks, folders, LMS zips; default: COURSE/submitted/)."""
    from autograder.course import Course
    from autograder.engines import uses_pool
    from autograder.grade import CourseLocked, grade_batch, warm_forkserver
    from autograder.submissions import SubmissionError

    refused: tuple[type[Exception], ...] = (SubmissionError, ValueError, CourseLocked)
    tls = None
    if scheduler is not None or tls_ca_file or tls_cert or tls_key:  # Dask is imported only for a cluster
        from autograder.cluster import ClusterError, security

        refused += (ClusterError,)
        try:
            tls = security(tls_ca_file, tls_cert, tls_key)
        except ClusterError as exc:
            raise click.ClickException(str(exc)) from exc
    if uses_pool(workers, scheduler):
        warm_forkserver()  # imports the graders' modules while nbgrader's are imported here
    course = Course.open(course, db_url=db_url)
    try:
        summary = grade_batch(assignment, list(paths), course, workers=workers, force=force, db_url=db_url,
                              wait=wait, scheduler=scheduler, security=tls)
    except refused as exc:
        raise click.ClickException(str(exc)) from exc
    except KeyboardInterrupt:
        raise click.ClickException(
            "interrupted: every result finished so far is kept; run again to grade the rest") from None
    _print_summary(summary, course.results_dir(assignment))


def _print_summary(summary, results: Path) -> None:
    from autograder.safe_text import safe_line

    for warning in summary.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(summary.line())
    for note in summary.notes:  # names a student chose: no terminal control sequence reaches the instructor
        click.echo(f"  not graded: {safe_line(note, 300)}", err=True)
    for student, error in sorted(summary.errors.items()):
        click.echo(f"  grader error for {student}: {error}", err=True)
    for label, names in (("failed to load", summary.load_failed), ("timed out", summary.timed_out)):
        if names:
            click.echo(f"  {label}: {', '.join(sorted(names))}")
    click.echo(f"  sandbox layers: {', '.join(sorted(summary.layers)) or 'none (nothing graded)'}")
    for layer, why in sorted(summary.missing_layers.items()):
        click.echo(f"  missing layer {layer}: {why}")
    for address, info in sorted(summary.workers.items()):
        click.echo(f"  worker {address} ({info['label']}): {', '.join(info['layers']) or 'no sandbox layer'}")
    click.echo(f"  results: {results}")


@main.command()
@click.option("--scheduler", default=None, metavar="ADDRESS",
              help="run it as a Dask task on a worker started with --resources GPU=1 (default: in this process)")
@click.option("--tls-ca-file", type=click.Path(dir_okay=False, path_type=Path), default=None, help="TLS: the CA")
@click.option("--tls-cert", type=click.Path(dir_okay=False, path_type=Path), default=None, help="TLS: certificate")
@click.option("--tls-key", type=click.Path(dir_okay=False, path_type=Path), default=None, help="TLS: private key")
def crosscheck(scheduler, tls_ca_file, tls_cert, tls_key):
    """Cross-check the reference against PyTorch (forward and autograd), on CUDA where the runner has it."""
    from autograder.crosscheck import REPORT_LINE, crosscheck_on, run_crosscheck

    if scheduler is None:
        report = run_crosscheck()
    else:
        from autograder.cluster import ClusterError, security

        try:
            report = crosscheck_on(scheduler, security(tls_ca_file, tls_cert, tls_key))
        except (ClusterError, OSError, TimeoutError) as exc:
            raise click.ClickException(str(exc)) from exc
    click.echo(f"{report['device']}, on {report['worker']}")
    for row in report["rows"]:
        click.echo(REPORT_LINE.format(verdict="ok" if row["ok"] else "FAIL",
                                      **{k: v for k, v in row.items() if k != "ok"}))
    failed = sum(not row["ok"] for row in report["rows"])
    click.echo(f"{len(report['rows']) - failed} of {len(report['rows'])} rows agree with torch")
    if failed:
        raise SystemExit(1)


@main.group()
def export():
    """Export grades or graders to other systems."""


@export.command("gradescope")
@click.argument("assignment")
@click.option("--out", "out", type=click.Path(path_type=Path), default=Path("."), show_default=True,
              help="the zip to write, or a folder for gradescope-ASSIGNMENT.zip")
def export_gradescope_cmd(assignment, out):
    """A Gradescope autograder zip for ASSIGNMENT (setup.sh, run_autograder, the suites, the reference)."""
    from autograder.export import export_gradescope

    try:
        path = export_gradescope(assignment, out)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(f"wrote {path}: upload it as the autograder of the {assignment} assignment on Gradescope")


@main.command()
@click.argument("assignment")
@click.option("--course", "course", type=click.Path(file_okay=False, path_type=Path), default=Path("course"),
              show_default=True, help="course directory (nbgrader's layout)")
@click.option("--no-pictures", is_flag=True, help="skip the heatmaps (they re-run failed public cases in the sandbox)")
def feedback(assignment, course, no_pictures):
    """Write COURSE/feedback/<student>/ASSIGNMENT/ASSIGNMENT.html per graded student (release_feedback layout)."""
    from autograder.course import Course
    from autograder.feedback import write_feedback

    course = Course.open(course)
    try:
        pages = write_feedback(assignment, course, pictures=not no_pictures)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    click.echo(pages.line(assignment, course.feedback))


@main.command()
@click.option("--course", "course", type=click.Path(file_okay=False, path_type=Path), default=Path("course"),
              show_default=True, help="course directory (nbgrader's layout)")
@click.option("--db", "db_url", default=None, help=_DB_HELP)
def report(course, db_url):
    """Write the class report: COURSE/reports/index.html, one page per assignment, grades.csv and cases.csv."""
    from autograder.report import write_report

    try:
        files = write_report(course, db_url=db_url)
    except ValueError as exc:
        raise click.ClickException(str(exc)) from exc
    for name in ("index.html", "grades.csv", "cases.csv"):
        click.echo(f"{name}: {files[name]}")
