"""Do the README's cluster blocks work as written: `dask scheduler`, `dask worker`, `autograder grade --scheduler`,
plain and with TLS?

Each line runs in bash in a course's parent folder, with what only this machine can choose substituted: the
scheduler listens on 127.0.0.1 on a free port (HOST:8786 becomes that address), a worker starts 2 processes
rather than 16, and the certificates are made here by the test's own certificate authority. The scheduler and the
workers run in the background and are stopped at the end; each `autograder grade` line grades the whole class
(the results of the line before are removed first) and must record every student.
"""
from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import time

import pytest

from autograder.build import build_course
from autograder.classgen import generate_class
from tests.e2e.test_cluster_tls import _certificates
from tests.e2e.test_readme import README, _env
from tests.helpers import stop
from tests.support.submissions_factory import gradebook_scores

pytestmark = pytest.mark.slow

pytest.importorskip("distributed")

STUDENTS = 2
START_WAIT_S = 60


def _cluster_blocks() -> list[list[str]]:
    blocks = [block.replace("\\\n", " ") for block in re.findall(r"```bash\n(.*?)```", README, flags=re.S)]
    found = [[re.sub(r"\s+", " ", line.split("  #")[0]).strip() for line in block.splitlines() if line.strip()]
             for block in blocks if "dask scheduler" in block]
    assert len(found) == 2, "the README has a plain and a TLS cluster block"
    return found


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen) -> None:
    deadline = time.monotonic() + START_WAIT_S
    while time.monotonic() < deadline and proc.poll() is None:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.2)
    raise AssertionError(f"the scheduler did not listen on {port}")


@pytest.mark.parametrize("which", ["plain", "tls"])
def test_the_readme_cluster_blocks_run_as_written(tmp_path, which):
    lines = _cluster_blocks()[0 if which == "plain" else 1]
    course = tmp_path / "course"
    build_course(course, ["cnn"])
    generate_class(course, ["cnn"], n_students=STUDENTS, seed=3, hostile=False)
    if which == "tls":
        made = _certificates(tmp_path)
        for role in ("scheduler", "worker", "me"):
            shutil.copy(made["cert"], tmp_path / f"{role}.pem")
            shutil.copy(made["key"], tmp_path / f"{role}.key")
    port = _free_port()
    background: list[subprocess.Popen] = []
    try:
        for line in lines:
            line = line.replace("HOST:8786", f"127.0.0.1:{port}").replace("--nworkers 16", "--nworkers 2")
            if line.startswith("dask scheduler"):
                line += f" --host 127.0.0.1 --port {port} --dashboard-address :0"
            if line.startswith("dask "):
                background.append(subprocess.Popen(["bash", "-c", f"exec {line}"], cwd=tmp_path, env=_env(),
                                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                if line.startswith("dask scheduler"):
                    _wait_for_port(port, background[-1])
                continue
            assert line.startswith("autograder grade cnn --course course --scheduler "), line
            shutil.rmtree(course / "results" / "cnn", ignore_errors=True)
            proc = subprocess.run(["bash", "-c", line], cwd=tmp_path, env=_env(), capture_output=True, text=True,
                                  timeout=900)
            assert proc.returncode == 0, f"`{line}`:\n{proc.stdout[-2000:]}\n{proc.stderr[-3000:]}"
            assert f"cnn: {STUDENTS} graded, 0 unchanged" in proc.stdout, proc.stdout
            assert "warning:" not in proc.stderr, proc.stderr  # loopback, or TLS: nothing to warn of
            workers = [w for w in proc.stdout.splitlines() if w.startswith("  worker ")]
            # Each worker the batch found, with its layers (a second may join after the batch began).
            assert workers and all(" (" in w and "): " in w for w in workers), proc.stdout
            results = [json.loads(p.read_text()) for p in (course / "results" / "cnn").glob("*.json")]
            assert len(results) == STUDENTS and all(", dask worker " in r["extra_data"]["worker"] for r in results)
    finally:
        stop(*reversed(background))
    assert len(gradebook_scores(course, "cnn")) == STUDENTS
