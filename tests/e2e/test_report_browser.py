"""Do the class report and a feedback page render in a real browser: not blank, no broken image, no console error?

Headless Chromium (Debian package ``chromium``; the session fixture installs it when absent and running as root)
takes a screenshot of each page with console logging on, and dumps the DOM after a script has marked the images
that failed to decode. The checks are first shown to catch a broken page, so a pass means something.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tests.autograder.test_feedback import (ASSIGNMENT, BUGGY_FAILS, BUGS, add_student, assert_valid_pngs,
                                        embedded_pngs, make_result, submitted, write_notebook)

pytestmark = pytest.mark.slow

INSTALL = ["apt-get", "install", "-y", "chromium"]
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--enable-logging=stderr", "--v=0"]
WINDOW = "--window-size=1200,2400"
RUN_TIMEOUT_S, INSTALL_TIMEOUT_S = 120, 900
# A rendered page's grey levels vary a lot (text, tables, plots); a blank one is a single colour.
BLANK_STD = 5.0
_CONSOLE = re.compile(r":CONSOLE[:(]")
_CHECK_IMAGES = """<script>
window.addEventListener("load", () => {
  const bad = Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt);
  document.body.setAttribute("data-broken-images", JSON.stringify(bad));
  document.body.setAttribute("data-images", String(document.images.length));
});
</script>"""


@pytest.fixture(scope="session")
def chromium() -> str:
    """The Chromium binary, installed with apt-get when absent (root only; otherwise the tests skip, saying why)."""
    found = shutil.which("chromium")
    if found:
        return found
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        pytest.skip("Chromium is not installed and installing it needs root: run `sudo apt-get install -y chromium`")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    proc = subprocess.run(INSTALL, capture_output=True, text=True, env=env, timeout=INSTALL_TIMEOUT_S)
    if proc.returncode != 0:  # a stale package list: refresh it once and retry
        subprocess.run(["apt-get", "update"], capture_output=True, env=env, timeout=INSTALL_TIMEOUT_S)
        proc = subprocess.run(INSTALL, capture_output=True, text=True, env=env, timeout=INSTALL_TIMEOUT_S)
    found = shutil.which("chromium")
    if not found:
        pytest.skip(f"`{' '.join(INSTALL)}` failed (exit {proc.returncode}): {proc.stderr[-500:]}")
    return found


def _run(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run([chromium, *FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True,
                          timeout=RUN_TIMEOUT_S)


def render(chromium: str, page: Path, work: Path) -> dict:
    """Screenshot ``page`` and check its images: {"png", "console", "images", "broken"}."""
    work.mkdir(parents=True, exist_ok=True)
    shot = work / f"{page.stem}.png"
    proc = _run(chromium, work / "profile-shot", WINDOW, f"--screenshot={shot}", page.resolve().as_uri())
    assert shot.is_file(), f"no screenshot of {page}: {proc.stderr[-2000:]}"
    console = [ln for ln in proc.stderr.splitlines() if _CONSOLE.search(ln)]
    checked = work / f"{page.stem}.checked.html"
    checked.write_text(page.read_text().replace("</body>", _CHECK_IMAGES + "</body>"))
    dom = _run(chromium, work / "profile-dom", "--virtual-time-budget=10000", "--dump-dom", checked.as_uri())
    body = re.search(r"<body[^>]*>", dom.stdout)
    assert body, f"no DOM for {page}: {dom.stderr[-2000:]}"
    attrs = dict(re.findall(r'(data-[a-z-]+)="([^"]*)"', body.group(0)))
    assert "data-images" in attrs, f"the image check did not run on {page}: {body.group(0)}"
    console += [ln for ln in dom.stderr.splitlines() if _CONSOLE.search(ln)]
    broken = json.loads(attrs["data-broken-images"].replace("&quot;", '"'))
    return {"png": shot, "console": console, "images": int(attrs["data-images"]), "broken": broken}


def grey_std(png: Path) -> float:
    from PIL import Image

    with Image.open(png) as img:
        return float(np.asarray(img.convert("L"), dtype=np.float64).std())


def test_checks_catch_a_broken_image_a_console_error_and_a_blank_page(chromium, tmp_path):
    """Would the checks below notice a page that is broken in each way?"""
    bad = tmp_path / "bad.html"
    bad.write_text('<html><body><h1>x</h1><img alt="broken" src="data:image/png;base64,AAAA">'
                   '<script>console.error("boom")</script></body></html>')
    seen = render(chromium, bad, tmp_path / "bad")
    assert seen["broken"] == ["broken"] and seen["console"]
    blank = tmp_path / "blank.html"
    blank.write_text("<html><body></body></html>")
    assert grey_std(render(chromium, blank, tmp_path / "blank")["png"]) < BLANK_STD


@pytest.fixture(scope="module")
def pages(tmp_path_factory):
    """A class of four (full marks, buggy, unreadable, timed out) with its report and the buggy student's feedback."""
    from autograder.feedback import write_feedback
    from autograder.report import write_report

    course = tmp_path_factory.mktemp("browser")
    ada = write_notebook(submitted(course, "ada"))
    add_student(course, "ada", make_result("ada", ada))
    ben = write_notebook(submitted(course, "ben"), BUGS)
    add_student(course, "ben", make_result("ben", ben, BUGGY_FAILS))
    add_student(course, "cyd", make_result("cyd", None, load_error="NotJSONError: not a notebook"))
    dee = write_notebook(submitted(course, "dee"), {"relu_solution": BUGS["relu_solution"]})
    add_student(course, "dee", make_result("dee", dee, {"relu": None, "dense_forward": None}))
    write_feedback(ASSIGNMENT, course, students=["ben"])
    write_report(course)
    return {"index": course / "reports" / "index.html", "assignment": course / "reports" / f"{ASSIGNMENT}.html",
            "feedback": course / "feedback" / "ben" / ASSIGNMENT / f"{ASSIGNMENT}.html"}


@pytest.mark.parametrize("which", ["index", "assignment", "feedback"])
def test_page_renders_in_chromium(chromium, pages, which, tmp_path):
    """Is the page drawn (not blank), with every image decoded and no console message?"""
    page = pages[which]
    html = page.read_text()
    expected_images = len(embedded_pngs(html))
    assert expected_images >= 1
    assert assert_valid_pngs(html) == expected_images
    seen = render(chromium, page, tmp_path)
    assert seen["console"] == []
    assert seen["images"] == expected_images and seen["broken"] == []
    assert grey_std(seen["png"]) > BLANK_STD, f"{seen['png']} looks blank"
