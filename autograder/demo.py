"""``make demo``: the kit at work on a fresh clone.

Steps: the reference applied to a photograph and the slides' worked examples. (Later steps build the releases,
grade a generated class, and write feedback and the class report.)
"""
from __future__ import annotations

import argparse
import time
from pathlib import Path

from autograder.showcase import kernel_gallery, worked_examples_text

DEFAULT_DIR = Path("demo-course")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder.demo", description=__doc__)
    parser.add_argument("--dir", type=Path, default=DEFAULT_DIR, help="where the demo writes (default: %(default)s)")
    args = parser.parse_args(argv)
    start = time.perf_counter()

    print("== The slides' worked examples, recomputed by the reference ==")
    print(worked_examples_text())
    gallery = kernel_gallery(args.dir / "showcase" / "kernels_gallery.png")
    print(f"\n== The slides' kernels applied to a photograph ==\nwrote {gallery}")

    print(f"\ndemo finished in {time.perf_counter() - start:.1f} s; open {gallery.resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
