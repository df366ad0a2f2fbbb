"""A real PostgreSQL server for the tests: Debian's ``postgresql`` binaries, started in a temporary data folder.

The server listens on 127.0.0.1 only, on a free port, with its unix socket in its own folder (never /var/run), and
asks for a password (scram-sha-256) on TCP, so every URL the tests use carries one, as an instructor's would: a
test can check that no password is printed or written. As root it runs as the ``postgres`` system user (initdb
refuses root). One server per test process (``postgres_server``, session-scoped: each pytest-xdist worker starts
its own on its own port), one database per test (``postgres_url``), stopped (``pg_ctl stop -m fast``) and removed
at the end.

Use (bound to names of the test module, where pytest finds fixtures; an import would trip ruff's F811)::

    from tests.support import postgres as pg

    postgres_server, postgres_url = pg.postgres_server, pg.postgres_url

    def test_x(postgres_url):          # postgresql+psycopg://convkit:PASSWORD@127.0.0.1:PORT/test_x_1
        ...
"""
from __future__ import annotations

import glob
import os
import pwd
import re
import secrets
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

import pytest

__all__ = ["PostgresServer", "find_bindir", "free_port", "postgres_server", "postgres_url", "SKIP_REASON", "USER"]

USER = "convkit"  # the server's superuser, the one every test URL names
_TOOLS = ("initdb", "pg_ctl", "postgres")
SKIP_REASON = ("no PostgreSQL server binaries (initdb, pg_ctl, postgres) found by `pg_config --bindir`, in "
               "/usr/lib/postgresql/*/bin or on PATH: install Debian's `postgresql` package (`make system-deps` "
               "does, as root)")
NO_USER_REASON = "running as root, and no `postgres` system user to run the server as (Debian's package makes it)"
_START_TRIES = 5  # another process may take the free port between the probe and the server's bind


def _has_tools(folder: Path) -> bool:
    return all(os.access(folder / tool, os.X_OK) for tool in _TOOLS)


def _version(folder: Path) -> tuple:
    return tuple(int(part) for part in re.findall(r"\d+", folder.parent.name)) or (0,)


def find_bindir() -> Path | None:
    """The folder with initdb, pg_ctl and postgres: ``pg_config --bindir``, else the newest
    /usr/lib/postgresql/*/bin, else wherever PATH's initdb really lives (None: not installed)."""
    candidates = []
    if shutil.which("pg_config"):
        try:
            out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, timeout=30, check=True)
            candidates.append(Path(out.stdout.strip()))
        except (OSError, subprocess.SubprocessError):
            pass
    candidates += sorted((Path(p) for p in glob.glob("/usr/lib/postgresql/*/bin")), key=_version, reverse=True)
    initdb = shutil.which("initdb")
    if initdb:
        candidates.append(Path(initdb).resolve().parent)  # /usr/local/bin/initdb is a link into the real folder
    return next((c for c in candidates if _has_tools(c)), None)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class PostgresServer:
    """One PostgreSQL server in a temporary folder: :meth:`start`, :meth:`create_database`, :meth:`url`,
    :meth:`query`, :meth:`stop`."""

    def __init__(self, bindir: Path):
        self.bindir = bindir
        self.password = secrets.token_urlsafe(18)
        self.port = 0
        self.root: Path | None = None
        self._as_user: list[str] = []
        self._databases = 0

    # ------------------------------------------------------------------------------------------- lifecycle
    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            try:
                account = pwd.getpwnam("postgres")
            except KeyError:
                raise RuntimeError(NO_USER_REASON) from None
            self._as_user = ["runuser", "-u", "postgres", "--"] if shutil.which("runuser") else [
                "setpriv", f"--reuid={account.pw_uid}", f"--regid={account.pw_gid}", "--init-groups"]
        # Not under pytest's tmp_path: that is root's, mode 0700, and the postgres user could not enter it.
        self.root = Path(tempfile.mkdtemp(prefix="convkit-pg-"))
        (self.root / "socket").mkdir()
        pwfile = self.root / "password"
        pwfile.write_text(self.password + "\n")
        if self._as_user:
            account = pwd.getpwnam("postgres")
            for path in (self.root, self.root / "socket", pwfile):
                os.chown(path, account.pw_uid, account.pw_gid)
        self._run("initdb", "-D", str(self.data), "-U", USER, f"--pwfile={pwfile}", "--auth-host=scram-sha-256",
                  "--auth-local=trust", "-E", "UTF8", "--locale=C", "--no-sync", "--no-instructions")
        pwfile.unlink()
        for _ in range(_START_TRIES):
            self.port = free_port()
            options = (f"-c listen_addresses=127.0.0.1 -p {self.port} -c unix_socket_directories={self.root}/socket "
                       "-c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=60")
            started = subprocess.run([*self._as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-l",
                                      str(self.root / "server.log"), "-w", "-t", "60", "-o", options, "start"],
                                     capture_output=True, text=True, timeout=120)
            if started.returncode == 0:
                return self
        raise RuntimeError(f"PostgreSQL did not start: {started.stderr[-500:]}\n{self.log()[-2000:]}")

    def stop(self) -> None:
        if self.root is None:
            return
        if (self.data / "postmaster.pid").exists():
            subprocess.run([*self._as_user, str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w",
                            "stop"], capture_output=True, timeout=120)
        shutil.rmtree(self.root, ignore_errors=True)
        self.root = None

    @property
    def data(self) -> Path:
        assert self.root is not None, "the server is not started"
        return self.root / "data"

    def log(self) -> str:
        path = self.data.parent / "server.log"
        return path.read_text(errors="replace") if path.is_file() else ""

    def _run(self, tool: str, *args: str) -> None:
        proc = subprocess.run([*self._as_user, str(self.bindir / tool), *args], capture_output=True, text=True,
                              timeout=300, env={**os.environ, "LC_ALL": "C"})
        if proc.returncode != 0:
            raise RuntimeError(f"{tool} failed ({proc.returncode}): {proc.stderr[-2000:]}")

    # ------------------------------------------------------------------------------------------- databases
    def url(self, database: str = "postgres", password: str | None = None) -> str:
        """The SQLAlchemy URL of ``database`` on this server (``password``: another one, to be refused)."""
        return (f"postgresql+psycopg://{USER}:{self.password if password is None else password}"
                f"@127.0.0.1:{self.port}/{database}")

    def create_database(self, hint: str = "db") -> str:
        """A new empty database named after ``hint`` (made safe, unique on this server); returns its URL."""
        self._databases += 1
        name = f"{re.sub(r'[^a-z0-9_]+', '_', hint.lower())[:40]}_{self._databases}"
        self.execute("postgres", f'CREATE DATABASE "{name}"')
        return self.url(name)

    def execute(self, database: str, sql: str, params: tuple = ()) -> None:
        import psycopg

        with psycopg.connect(self._dsn(database), autocommit=True) as conn:
            conn.execute(sql, params)

    def query(self, database_url: str, sql: str, params: tuple = ()) -> list[tuple]:
        """The rows of ``sql`` in the database of ``database_url`` (one of :meth:`url`'s)."""
        import psycopg

        with psycopg.connect(self._dsn(database_url.rsplit("/", 1)[1]), autocommit=True) as conn:
            return list(conn.execute(sql, params).fetchall())

    def _dsn(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user={USER} password={self.password} dbname={database}"


@pytest.fixture(scope="session")
def postgres_server():
    """A running PostgreSQL server, this test process's own (skips, naming what to install, without binaries)."""
    bindir = find_bindir()
    if bindir is None:
        pytest.skip(SKIP_REASON)
    server = PostgresServer(bindir)
    try:
        server.start()
    except RuntimeError as exc:
        server.stop()
        if str(exc) == NO_USER_REASON:
            pytest.skip(NO_USER_REASON)
        raise
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def postgres_url(postgres_server, request) -> str:
    """The URL of a new empty database on :func:`postgres_server`, named after the test."""
    return postgres_server.create_database(request.node.name)
