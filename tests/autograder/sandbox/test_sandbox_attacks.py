"""Can hostile student code do harm from inside the sandbox? Each attack runs for real; each test checks the REAL
side effect (file unchanged, no connection accepted, victim alive, no surviving process), in both modes: with
bubblewrap, and without it (uid drop, netns, Landlock, seccomp, pids cgroup). An attack that only a missing layer
would stop is skipped with the reason, never passed silently.
"""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from autograder.sandbox import CallTimeout, Limits, Sandbox, SandboxError, StudentError, WorkerCrashed
from autograder.sandbox.layers import bwrap_path

REPO = Path(__file__).resolve().parents[3]
MODES = ["bwrap", "plain"]
MAX_PROCS = 16
SECRET = "TOP-SECRET-EXPECTED-VALUE-31415"


def limits_for(mode: str, **kw) -> Limits:
    if mode == "bwrap" and bwrap_path() is None:
        pytest.skip("bubblewrap is not installed or cannot create namespaces on this machine")
    base = dict(call_timeout_s=5.0, load_timeout_s=10.0, memory_mb=512, max_procs=MAX_PROCS,
                max_file_bytes=4 << 20, scratch_mb=32)
    base.update(kw)
    return Limits(use_bwrap=(mode == "bwrap"), **base)


def attack(mode, src, *args, needs=(), limits=None, **kw):
    """Run ``attack(*args)`` from ``src``; return its value or the SandboxError. ``needs``: layers that block it."""
    with Sandbox(src, limits=limits or limits_for(mode)) as sb:
        if needs and not set(needs) & set(sb.layers):
            pytest.skip("none of the layers that block this attack is active here: "
                        + "; ".join(f"{n}: {sb.missing.get(n, 'absent')}" for n in needs))
        try:
            return sb.call("attack", args=list(args), **kw)
        except SandboxError as exc:
            return exc


def procs_with(marker: str) -> list[int]:
    """Pids whose command line or environment holds ``marker`` (a /proc scan; no psutil)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        for part in ("cmdline", "environ"):
            try:
                if marker.encode() in Path(f"/proc/{entry}/{part}").read_bytes():
                    found.append(int(entry))
                    break
            except OSError:
                pass
    return found


@pytest.fixture
def world_dir():
    """A directory anyone could traverse (0755): only the sandbox, not file modes, keeps the worker out."""
    d = Path(tempfile.mkdtemp(prefix="convkit-attack-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))
    d.chmod(0o755)
    yield d
    import shutil
    shutil.rmtree(d, ignore_errors=True)


READ = ("def attack(path):\n    try:\n        return open(path).read()\n"
        "    except Exception as exc:\n        return repr(exc)\n")


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("perm", [0o600, 0o644])
def test_cannot_read_a_hidden_file(mode, perm, world_dir):
    secret = world_dir / "hidden" / "expected.txt"
    secret.parent.mkdir(mode=0o755)
    secret.write_text(SECRET)
    secret.chmod(perm)
    needs = ("bubblewrap", "landlock", "uid-drop") if perm == 0o600 else ("bubblewrap", "landlock")
    got = attack(mode, READ, str(secret), needs=needs)
    assert SECRET not in str(got)


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("target", ["reference/_checks.py", "autograder/sandbox/proxy.py", "pyproject.toml"])
def test_cannot_read_the_reference_or_the_grader(mode, target):
    path = REPO / target
    assert path.exists()
    src = READ + ("import os\ndef listing(p):\n    try:\n        return os.listdir(p)\n"
                  "    except Exception as exc:\n        return repr(exc)\n")
    got = attack(mode, src, str(path), needs=("bubblewrap", "landlock"))
    assert path.read_text()[:200] not in str(got)
    with Sandbox(src, limits=limits_for(mode)) as sb:
        listing = sb.call("listing", args=[str(REPO)])
    assert "reference" not in listing and "autograder" not in listing


def test_cannot_import_the_reference():
    got = attack("plain", "def attack():\n    try:\n        import reference._checks as r\n        return r.__file__\n"
                          "    except Exception as exc:\n        return repr(exc)\n", needs=("landlock", "bubblewrap"))
    assert "Error" in got


WRITE = """
import os
def attack(path):
    out = []
    for p in (path, os.path.join(os.path.dirname(path), "forged.json")):
        try:
            with open(p, "w") as f:
                f.write("{\\"score\\": 1000}")
            out.append("wrote " + p)
        except Exception as exc:
            out.append(repr(exc))
    return out
"""


@pytest.mark.parametrize("mode", MODES)
def test_cannot_write_the_results_or_the_gradebook(mode, world_dir):
    results = world_dir / "results" / "ps1"
    results.mkdir(parents=True)
    results.parent.chmod(0o777)   # even a world-writable folder: the sandbox, not modes, keeps it safe
    results.chmod(0o777)
    honest = results / "alice.json"
    honest.write_text('{"score": 3}')
    honest.chmod(0o666)
    attack(mode, WRITE, str(honest), needs=("bubblewrap", "landlock"))
    assert honest.read_text() == '{"score": 3}'
    assert not (results / "forged.json").exists()


@pytest.mark.parametrize("mode", MODES)
def test_cannot_plant_a_pth_in_site_packages(mode):
    import site
    sp = Path(site.getsitepackages()[0])
    name = f"zz_convkit_attack_{uuid.uuid4().hex[:8]}.pth"
    try:
        attack(mode, WRITE, str(sp / name), needs=("bubblewrap", "landlock", "uid-drop"))
        assert not (sp / name).exists() and not (sp / "forged.json").exists()
    finally:
        for p in (sp / name, sp / "forged.json"):
            if p.exists():
                p.unlink()


@pytest.mark.parametrize("mode", MODES)
def test_cannot_connect_to_a_loopback_server(mode):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(5)
    server.settimeout(0.3)
    port = server.getsockname()[1]
    src = ("import socket\ndef attack(port):\n    try:\n        s = socket.create_connection(('127.0.0.1', port), 2)\n"
           "        s.sendall(b'stolen')\n        return 'connected'\n"
           "    except Exception as exc:\n        return repr(exc)\n")
    try:
        got = attack(mode, src, port, needs=("netns", "landlock", "seccomp"))
        with pytest.raises(socket.timeout):
            conn, _ = server.accept()
            conn.close()
        assert got != "connected"
    finally:
        server.close()


@pytest.fixture
def victim():
    """A process of the grader's user that an attacker would like to kill or trace (holds the secret in memory)."""
    code = (f"import ctypes, sys, time\nbuf = ctypes.create_string_buffer({SECRET!r}.encode())\n"
            "print(ctypes.addressof(buf), flush=True)\ntime.sleep(60)\n")
    p = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    addr = int(p.stdout.readline())
    yield p, addr
    p.kill()
    p.wait()


@pytest.mark.parametrize("mode", MODES)
@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_cannot_signal_the_grader_or_another_process(mode, sig, victim):
    proc, _ = victim
    received = []
    old = signal.signal(signal.SIGTERM, lambda *a: received.append(a))
    try:
        # Never kill(-1) here: if the sandbox failed, that would take down every process on the machine.
        # SIGKILL goes only to the disposable victim; SIGTERM also to the grader, which records it instead of dying.
        src = ("import os\ndef attack(pids, sig, parent):\n    out = []\n"
               "    for pid in pids + ([os.getppid()] if parent else []):\n"
               "        try:\n            os.kill(pid, sig)\n            out.append(pid)\n"
               "        except Exception as exc:\n            out.append(repr(exc))\n    return out\n")
        targets = [proc.pid] + ([os.getpid()] if sig == signal.SIGTERM else [])
        attack(mode, src, targets, int(sig), sig == signal.SIGTERM, needs=("pidns", "uid-drop", "seccomp"))
        time.sleep(0.1)
    finally:
        signal.signal(signal.SIGTERM, old)
    assert proc.poll() is None, "the victim process was killed"
    assert not received, "the grader received SIGTERM"


@pytest.mark.parametrize("mode", MODES)
def test_cannot_ptrace_or_read_memory_of_the_grader(mode, victim):
    proc, addr = victim
    src = """
import ctypes
def attack(pid, addr):
    out = []
    libc = ctypes.CDLL(None, use_errno=True)
    out.append(("ptrace", libc.ptrace(16, pid, 0, 0), ctypes.get_errno()))   # PTRACE_ATTACH
    try:
        with open(f"/proc/{pid}/mem", "rb") as f:
            f.seek(addr)
            out.append(f.read(64).decode("latin-1"))
    except Exception as exc:
        out.append(repr(exc))
    return repr(out)
"""
    got = attack(mode, src, proc.pid, addr, needs=("pidns", "uid-drop", "seccomp", "landlock"))
    assert SECRET not in str(got)
    status = Path(f"/proc/{proc.pid}/status").read_text()
    assert "TracerPid:\t0" in status and proc.poll() is None


FORK_BOMB = """
import os
def attack(marker, n):
    made = 0
    for _ in range(n):
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            try:
                os.execv("/bin/sleep", ["sleep", marker])
            finally:
                os._exit(0)
        made += 1
    return made
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_fork_bomb_is_bounded_and_cleaned_up(mode):
    marker = f"97.{uuid.uuid4().int % 10**6}"
    got = attack(mode, FORK_BOMB, marker, 300, needs=("pids-limit", "rlimit-nproc"))
    assert isinstance(got, int) and got < MAX_PROCS, f"{got} processes forked"
    assert not procs_with(marker), "forked processes survived close()"


DAEMON = """
import os, time
def attack(marker):
    if os.fork() == 0:
        os.setsid()
        if os.fork() == 0:
            try:
                os.execv("/bin/sh", ["sh", "-c", f"sleep 1.5; echo {marker} > {marker}.txt; sleep 60", marker])
            finally:
                os._exit(0)
        os._exit(0)
    time.sleep(0.2)
    return "daemon started"
"""


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_setsid_daemon_does_not_survive_close(mode):
    """Where seccomp refuses fork the daemon never starts; where it does not, the cgroup or pid namespace reaps it."""
    marker = f"convkit-daemon-{uuid.uuid4().hex[:8]}"
    got = attack(mode, DAEMON, marker, needs=("seccomp", "pids-limit", "pidns"))
    assert got == "daemon started" or (isinstance(got, StudentError) and got.type_name == "PermissionError"), got
    time.sleep(0.3)
    assert not procs_with(marker), "a setsid daemon survived close()"


@pytest.mark.slow
@pytest.mark.parametrize("mode", MODES)
def test_memory_bomb_is_stopped_and_the_next_call_works(mode):
    src = ("import numpy as np\ndef attack():\n    blocks = []\n"
           "    while True:\n        blocks.append(np.ones(1 << 24))\n"
           "def ok():\n    return 'alive'\n")
    with Sandbox(src, limits=limits_for(mode)) as sb:
        with pytest.raises((StudentError, WorkerCrashed)) as info:
            sb.call("attack")
        assert "MemoryError" in str(info.value) or "killed" in str(info.value)
        assert sb.call("ok") == "alive"


@pytest.mark.parametrize("mode", MODES)
def test_infinite_loop_with_children_times_out_and_leaves_nothing(mode):
    marker = f"89.{uuid.uuid4().int % 10**6}"
    src = FORK_BOMB + "def spin(marker):\n    attack(marker, 2)\n    while True:\n        pass\n"
    with Sandbox(src, limits=limits_for(mode, call_timeout_s=0.5)) as sb:
        with pytest.raises(CallTimeout):
            sb.call("spin", args=[marker])
        assert not procs_with(marker), "the timed-out worker's children are still alive"


FILL = """
import os
def attack(paths, mb):
    out = {}
    chunk = b"z" * (1 << 20)
    for p in paths:
        n = 0
        try:
            with open(p, "wb") as f:
                for _ in range(mb):
                    f.write(chunk)
                    f.flush()
                    n += 1
        except Exception as exc:
            pass
        out[p] = n
    return out
"""


@pytest.mark.parametrize("mode", MODES)
def test_cannot_fill_the_hosts_tmp_or_shm(mode):
    name = f"convkit-fill-{uuid.uuid4().hex[:8]}"
    paths = [f"/tmp/{name}", f"/dev/shm/{name}", name]   # the last one is in the scratch dir (the cwd)
    lim = limits_for(mode)
    got = attack(mode, FILL, paths, 64, needs=("bubblewrap", "landlock"), limits=lim)
    written = [h for h in (Path("/tmp") / name, Path("/dev/shm") / name) if h.exists()]
    for host in written:
        host.unlink()
    assert not written, f"the worker wrote {written} on the host"
    assert isinstance(got, dict) and got[name] <= lim.max_file_bytes >> 20, got


def test_scratch_total_is_capped_by_a_tmpfs_with_bubblewrap():
    many = ("def attack():\n    n = 0\n    try:\n        for i in range(100):\n"
            "            with open(f'f{i}', 'wb') as f:\n                f.write(b'q' * (1 << 20))\n"
            "            n += 1\n    except OSError:\n        pass\n    return n\n")
    got = attack("bwrap", many, needs=("scratch-quota",), limits=limits_for("bwrap", scratch_mb=8))
    assert got <= 8


def test_monkeypatching_numpy_in_the_worker_does_not_touch_the_grader():
    src = ("import numpy as np\ndef attack():\n    np.testing.assert_allclose = lambda *a, **k: None\n"
           "    np.allclose = lambda *a, **k: True\n    return bool(np.allclose(0, 1))\n")
    assert attack("plain" if bwrap_path() is None else "bwrap", src) is True
    assert not np.allclose(0, 1)
    with pytest.raises(AssertionError):
        np.testing.assert_allclose(0, 1)
