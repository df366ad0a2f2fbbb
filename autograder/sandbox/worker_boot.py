"""The program a sandboxed worker runs. It is passed to ``python -I -S -B -c`` as SOURCE TEXT, never imported there.

argv: ``-c <protocol.py source> <convkit_check/codec.py source> <config JSON>``.
Order of events, each step before any student code runs: resource limits -> network namespace (before NumPy
starts BLAS threads) -> trusted imports -> uid drop -> death with the parent -> Landlock -> seccomp -> lifeline
thread -> "ready" (with the layers actually applied) -> serve "load" and "call" requests from the grader.
The student's print() goes to a capped in-process buffer returned with each reply; fds 1 and 2 go to a pipe the
grader drains into a capped buffer, never into the protocol pipes.

Two namespaces: the trusted preamble runs in one of its own, in which the name ``student_namespace`` is the dict of
the student's globals; the student's source runs in that separate dict and never sees the preamble's names. A call
resolves a name the preamble defined as a callable in the trusted namespace, any other name in the student's.
Tracebacks keep only the student's frames: ``<student>`` (the source itself) and ``<cell N>`` (a notebook cell,
compiled by the source under that name; its text is registered in linecache so each frame shows its line).
"""
import contextlib
import json
import os
import sys

_PROTO_SRC, _CODEC_SRC, _CFG = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
sys.argv = ["student"]
# Started with -S: no site module, so no .pth file of the environment runs here (an editable install's finder, for
# one, would map the kit's own packages back in); the site-packages folders are put on the path as they are.
sys.path.extend(d for d in _CFG.get("site_dirs", ()) if d not in sys.path)
_APPLIED: list[str] = []  # the layers actually applied, reported in "ready"
_MISSING: dict[str, str] = {}  # layer -> why it could not be applied


def _rlimits(cfg):
    import resource as r
    mb = 1 << 20
    wanted = [("RLIMIT_AS", cfg["memory_mb"] * mb), ("RLIMIT_FSIZE", cfg["max_file_bytes"]),
              ("RLIMIT_NOFILE", 256), ("RLIMIT_CORE", 0)]
    if cfg.get("nproc"):
        wanted.append(("RLIMIT_NPROC", cfg["nproc"]))
    # CPU: SIGXCPU at the soft limit, SIGKILL one second later.
    wanted.append(("RLIMIT_CPU", (cfg["cpu_s"], cfg["cpu_s"] + 1)))
    failed = []
    for name, value in wanted:
        try:
            r.setrlimit(getattr(r, name), value if isinstance(value, tuple) else (value, value))
        except (AttributeError, ValueError, OSError) as exc:  # e.g. macOS refuses RLIMIT_AS
            failed.append(f"{name}: {exc}")
    _APPLIED.append("rlimits")
    if failed:
        _MISSING["rlimits-partial"] = "; ".join(failed)


def _unshare_net():
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.unshare(0x40000000) != 0:  # CLONE_NEWNET; os.unshare exists only from Python 3.12
        _MISSING["netns"] = f"unshare(CLONE_NEWNET) failed: {os.strerror(ctypes.get_errno())}"
    else:
        _APPLIED.append("netns")


def _drop_uid(uid, gid):
    os.setgroups([])
    os.setresgid(gid, gid, gid)
    os.setresuid(uid, uid, uid)
    if os.getuid() != uid or os.geteuid() != uid:
        os._exit(70)  # never run student code as root by accident
    _APPLIED.append("uid-drop")


def _landlock(read_dirs, read_files, rw_files, rw_dirs):
    import ctypes
    libc = ctypes.CDLL(None, use_errno=True)
    libc.syscall.restype = ctypes.c_long
    abi = libc.syscall(444, None, ctypes.c_size_t(0), ctypes.c_uint32(1))  # LANDLOCK_CREATE_RULESET_VERSION
    if abi < 1:
        _MISSING["landlock"] = f"kernel has no Landlock ({os.strerror(ctypes.get_errno())})"
        return
    fs_all = (1 << 13) - 1 | (1 << 13 if abi >= 2 else 0) | (1 << 14 if abi >= 3 else 0) | (1 << 15 if abi >= 5 else 0)
    net = 3 if abi >= 4 else 0          # BIND_TCP | CONNECT_TCP, with no rule allowing any port
    scoped = 3 if abi >= 6 else 0       # abstract unix sockets and signals stay inside the domain

    class Attr(ctypes.Structure):
        _fields_ = [("fs", ctypes.c_uint64), ("net", ctypes.c_uint64), ("scoped", ctypes.c_uint64)]

    class Beneath(ctypes.Structure):
        _pack_ = 1
        _fields_ = [("allowed", ctypes.c_uint64), ("parent_fd", ctypes.c_int32)]

    attr = Attr(fs_all, net, scoped)
    size = 8 if abi < 4 else (16 if abi < 6 else 24)
    rfd = libc.syscall(444, ctypes.byref(attr), ctypes.c_size_t(size), ctypes.c_uint32(0))
    if rfd < 0:
        _MISSING["landlock"] = f"landlock_create_ruleset failed: {os.strerror(ctypes.get_errno())}"
        return
    execute, write_file, read_file, read_dir = 1, 2, 4, 8
    truncate = 1 << 14 if abi >= 3 else 0
    file_rw = read_file | write_file | truncate
    rules = [(p, execute | read_file | read_dir) for p in read_dirs] + [(p, execute | read_file) for p in read_files]
    rules += [(p, file_rw) for p in rw_files] + [(p, fs_all) for p in rw_dirs]
    for path, rights in rules:
        try:
            fd = os.open(path, os.O_PATH | os.O_CLOEXEC)
        except OSError:
            continue
        rule = Beneath(rights, fd)
        ok = libc.syscall(445, ctypes.c_int(rfd), ctypes.c_int(1), ctypes.byref(rule), ctypes.c_uint32(0))
        os.close(fd)
        if ok != 0:
            os._exit(71)  # a rule we meant to add is not there: refuse to continue with a half-built policy
    if libc.prctl(38, 1, 0, 0, 0) != 0 or libc.syscall(446, ctypes.c_int(rfd), ctypes.c_uint32(0)) != 0:
        os._exit(72)  # PR_SET_NO_NEW_PRIVS / landlock_restrict_self
    os.close(rfd)
    _APPLIED.append("landlock" if abi >= 6 else f"landlock-abi{abi}")


def _die_with_parent(parent_pid):
    # SIGKILL when the grader's thread that started this worker ends: set after the uid drop (a credential change
    # clears it), and checked against the parent's pid, which may already have gone before it was set.
    import ctypes
    import signal
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(1, int(signal.SIGKILL), 0, 0, 0) != 0:  # PR_SET_PDEATHSIG
        _MISSING["parent-death"] = f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(ctypes.get_errno())}"
    elif os.getppid() != parent_pid:
        os._exit(73)
    else:
        _APPLIED.append("parent-death")


def _lifeline(fd):
    # The grader's end of the request pipe closes when the grader dies, even while student code runs here: then
    # this thread ends the worker. (Started after Landlock and seccomp, so it runs under both.)
    import select
    import threading

    def watch():
        p = select.poll()
        p.register(fd, 0)  # only POLLHUP, POLLERR and POLLNVAL (the fd was closed) can be reported
        p.poll()
        os._exit(0)

    threading.Thread(target=watch, name="convkit-lifeline", daemon=True).start()


def _import_seccomp():
    # Imported with the trusted imports: after the uid drop and Landlock its files may be unreadable.
    try:
        import pyseccomp
        return pyseccomp
    except Exception as exc:  # not installed, or libseccomp.so.2 missing
        _MISSING["seccomp"] = f"pyseccomp unavailable: {type(exc).__name__}: {exc}"
        return None


def _seccomp(S):
    deny, pid = S.ERRNO(errno.EPERM), os.getpid()
    f = S.SyscallFilter(S.ALLOW)
    f.add_rule(deny, "socket", S.Arg(0, S.NE, socket.AF_UNIX))       # no inet, netlink, packet sockets
    # setsid/setpgid: no escape from the process group the grader kills; no new processes at all (clone without
    # CLONE_THREAD, fork, vfork; clone3 answers ENOSYS, so glibc's pthread_create falls back to clone): children
    # that spin would take CPU from the submissions graded beside this one, and no exercise needs a child process.
    for name in ("ptrace", "process_vm_readv", "process_vm_writev", "pidfd_send_signal", "pidfd_getfd", "tkill",
                 "kcmp", "perf_event_open", "bpf", "userfaultfd", "keyctl", "add_key", "request_key", "mount",
                 "umount2", "setns", "unshare", "pivot_root", "chroot", "swapon", "reboot", "kexec_load",
                 "init_module", "finit_module", "delete_module", "iopl", "ioperm", "mknod", "mknodat",
                 "setsid", "setpgid", "fork", "vfork"):
        with contextlib.suppress(Exception):  # a call this architecture does not have (aarch64 has no fork, iopl, ...)
            f.add_rule(deny, name)
    f.add_rule(deny, "clone", S.Arg(0, S.MASKED_EQ, 0x00010000, 0))   # CLONE_THREAD clear: a new process
    f.add_rule(S.ERRNO(errno.ENOSYS), "clone3")
    f.add_rule(deny, "prctl", S.Arg(0, S.EQ, 1))                      # PR_SET_PDEATHSIG: the worker dies with us
    # Signals only to itself (raise() included); never to the grader, another worker, its group, or -1.
    # (libseccomp allows one comparison per argument and rule, so kill(0, sig) is refused too.)
    for name in ("kill", "tgkill", "rt_sigqueueinfo", "rt_tgsigqueueinfo"):
        f.add_rule(deny, name, S.Arg(0, S.NE, pid))
    f.load()
    _APPLIED.append("seccomp")


# ------------------------------------------------------------------------------------------------------- start-up
_rlimits(_CFG)
if _CFG.get("netns"):
    _unshare_net()

import ast  # noqa: E402
import builtins  # noqa: E402
import io  # noqa: E402
import linecache  # noqa: E402
import re  # noqa: E402
import traceback  # noqa: E402
import types  # noqa: E402

# numpy is imported for the student's code (after Landlock its files may be unreadable); nothing here uses it.
import numpy  # noqa: E402,F401  (a preload: imported for its side effect on sys.modules)

import errno  # noqa: E402  (used by the seccomp filter, which runs after Landlock)
import socket  # noqa: E402
for _m in _CFG.get("preload", ()):
    with contextlib.suppress(Exception):
        __import__(_m)
P = types.ModuleType("_convkit_protocol")
exec(compile(_PROTO_SRC, "<protocol>", "exec"), P.__dict__)
# The codec of values; registered while it runs only (dataclasses reads the module of the class it decorates).
C = sys.modules["_convkit_codec"] = types.ModuleType("_convkit_codec")
exec(compile(_CODEC_SRC, "<codec>", "exec"), C.__dict__)
del sys.modules["_convkit_codec"]
CAPS = C.Caps(**_CFG["caps"])
IN, OUT = _CFG["fd_in"], _CFG["fd_out"]

_SECCOMP = _import_seccomp() if _CFG.get("seccomp") else None
if _CFG.get("uid") is not None:
    _drop_uid(_CFG["uid"], _CFG["gid"])
if _CFG.get("parent_pid"):
    _die_with_parent(_CFG["parent_pid"])
if _CFG.get("landlock"):
    _landlock(_CFG["read_dirs"], _CFG["read_files"], _CFG["rw_files"], [_CFG["scratch"]])
if _SECCOMP is not None:
    _seccomp(_SECCOMP)
_lifeline(IN)


class _Capped(io.TextIOBase):
    """A text stream keeping the first ``cap`` characters and counting the rest: print(100 MB) costs nothing."""

    def __init__(self, cap):
        self.cap, self.parts, self.kept, self.dropped = cap, [], 0, 0

    def writable(self):
        return True

    def write(self, s):
        s = str(s)
        room = self.cap - self.kept
        if room > 0:
            self.parts.append(s[:room])
            self.kept += min(len(s), room)
        self.dropped += max(0, len(s) - max(room, 0))
        return len(s)

    def take(self):
        text = "".join(self.parts)
        if self.dropped:
            text += f"\n[... {self.dropped} more characters not kept]"
        self.parts, self.kept, self.dropped = [], 0, 0
        return text


_CELL_FILE = re.compile(r"<cell \d{1,6}>\Z")


def _student_file(name):
    return name == "<student>" or _CELL_FILE.match(name) is not None


def _error(exc, kind="student_error"):
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if _student_file(f.filename)]
    try:
        message = str(exc)[:4000]
    except Exception:
        message = "<the exception's message could not be shown>"
    tb = "".join(traceback.format_list(frames[-8:])) + f"{type(exc).__name__}: {message}"
    # The class names up the MRO, so a case expecting ValueError accepts a student's subclass of it.
    mro = [c.__name__ for c in type(exc).__mro__ if c not in (object, BaseException)][:16]
    cells = [[f.filename, f.lineno, f.name] for f in frames if f.filename != "<student>"][-6:]
    return {"ok": False, "kind": kind, "type": type(exc).__name__, "mro": mro, "message": message,
            "traceback": tb[:16000], "frames": cells}


def _register_cells(src):
    """Put the text of every ``compile("<text>", "<cell N>", ...)`` of the source into linecache."""
    try:
        tree = ast.parse(src)
    except SyntaxError:
        return
    for node in ast.walk(tree):
        if not (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "compile"
                and len(node.args) >= 2):
            continue
        text, name = node.args[0], node.args[1]
        if (isinstance(text, ast.Constant) and type(text.value) is str and isinstance(name, ast.Constant)
                and type(name.value) is str and _CELL_FILE.match(name.value)):
            linecache.cache[name.value] = (len(text.value), None, text.value.splitlines(True), name.value)


def _reply(header, blobs=()):
    header["stdout"], header["stderr"] = OUT_BUF.take(), ERR_BUF.take()
    P.write_frame(OUT, header, blobs)


def _load(header, trusted, ns):
    linecache.cache["<student>"] = (len(header["source"]), None, header["source"].splitlines(True), "<student>")
    _register_cells(header["source"])
    for name, src, space in (("<preamble>", header.get("preamble", ""), trusted), ("<student>", header["source"], ns)):
        try:
            exec(compile(src, name, "exec", dont_inherit=True), space)
        except Exception as exc:
            rep = _error(exc, "load_error" if name == "<student>" else "preamble_error")
            break
    else:
        rep = {"ok": True}
    _TRUSTED_CALLABLES.update(k for k, v in trusted.items() if callable(v) and k not in _INJECTED)
    names = sorted(k for k in ns if not k.startswith("__"))
    rep.update(names=names, callables=sorted({k for k in names if callable(ns.get(k))} |
                                             {k for k in _TRUSTED_CALLABLES if not k.startswith("__")}))
    return rep


def _call(header, blobs, trusted, ns):
    name = header["name"]
    fn = trusted.get(name) if name in _TRUSTED_CALLABLES else ns.get(name)
    if not callable(fn):
        return {"ok": False, "kind": "missing", "type": "NameError", "message": f"{header['name']!r} is not defined",
                "traceback": ""}, []
    args, kwargs = C.decode(header["payload"], blobs, CAPS, named=True)
    try:
        value = fn(*args, **kwargs)
    except Exception as exc:
        return _error(exc), []
    try:
        tree, arrays = C.encode(value, CAPS)
        out = [C.to_npy(a) for a in arrays]
    except Exception as exc:
        return {"ok": False, "kind": "invalid_result", "type": type(exc).__name__, "message": str(exc)[:4000],
                "traceback": ""}, []
    return {"ok": True, "value": tree}, out


OUT_BUF, ERR_BUF = _Capped(_CFG["max_output_chars"]), _Capped(_CFG["max_output_chars"])
sys.stdout, sys.stderr = OUT_BUF, ERR_BUF
_NS = {"__name__": "__main__", "__builtins__": builtins}
_TRUSTED = {"__name__": "__convkit_trusted__", "__builtins__": builtins, "student_namespace": _NS}
_INJECTED = frozenset(_TRUSTED)
_TRUSTED_CALLABLES: set[str] = set()
P.write_frame(OUT, {"op": "ready", "layers": _APPLIED, "missing": _MISSING, "pid": os.getpid()})
while True:
    try:
        _hdr, _blobs = P.read_frame(IN, CAPS)
    except P.PeerClosed:
        os._exit(0)
    _op = _hdr.get("op")
    if _op == "load":
        _reply(_load(_hdr, _TRUSTED, _NS))
    elif _op == "call":
        _rep, _out = _call(_hdr, _blobs, _TRUSTED, _NS)
        del _blobs
        _reply(_rep, _out)
    else:
        os._exit(0)
