"""The instructor's command line, ``autograder <verb>``: each verb is a thin wrapper over a library function.

Verbs: ``build`` (the course directory and the student releases, :func:`autograder.build.build_course`).
"""
from __future__ import annotations

from pathlib import Path

import click

__all__ = ["main"]


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def main():
    """convkit's grader: build releases, grade submissions, hand back feedback."""


@main.command()
@click.argument("assignments", nargs=-1)
@click.option("--course", "course", type=click.Path(file_okay=False, path_type=Path), default=Path("course"),
              show_default=True, help="course directory (nbgrader's layout)")
def build(assignments, course):
    """Release ASSIGNMENTS (default: every assignment with a source notebook) into COURSE/release/."""
    from autograder.build import BuildError, build_course

    try:
        releases = build_course(course, assignments or None)
    except BuildError as exc:
        raise click.ClickException(str(exc)) from exc
    for name, folder in releases.items():
        click.echo(f"{name}: {folder}")
