"""Real servers on 127.0.0.1 for the services tests: a PostgreSQL cluster made with
the Debian package's initdb/pg_ctl in a temporary directory, and a Dask scheduler
with workers as separate processes (``dask scheduler`` / ``dask worker``).
Everything is stopped when the context exits, whatever happened."""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"))
    return Path(found[-1]).parent if found else None


class Postgres:
    """A throw-away PostgreSQL server (trust authentication on 127.0.0.1 only)."""

    def __init__(self):
        self.bin = postgres_bin()
        if self.bin is None:
            raise RuntimeError("PostgreSQL is not installed (make services-check installs it)")
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="classgrade-pg-"))
        self.data = self.root / "data"
        self.socket_dir = self.root / "socket"
        self.socket_dir.mkdir()
        # postgres refuses to run as root: run it as the 'postgres' user then
        self.user = "postgres" if os.geteuid() == 0 else None
        if self.user:
            entry = pwd.getpwnam(self.user)
            os.chmod(self.root, 0o755)
            for path in (self.root, self.socket_dir):
                os.chown(path, entry.pw_uid, entry.pw_gid)

    def _run(self, *args: str) -> subprocess.CompletedProcess:
        cmd = [str(self.bin / args[0]), *args[1:]]
        if self.user:
            cmd = ["runuser", "-u", self.user, "--", *cmd]
        return subprocess.run(cmd, capture_output=True, text=True, check=True, cwd=self.root)

    def url(self, database: str = "course") -> str:
        return f"postgresql+psycopg://grader@127.0.0.1:{self.port}/{database}"

    def init(self) -> None:
        self._run("initdb", "-D", str(self.data), "-U", "grader", "-A", "trust", "-E", "UTF8")
        self.start()

    def start(self) -> None:
        options = f"-h 127.0.0.1 -p {self.port} -k {self.socket_dir} -c fsync=off"
        # -l: the server must not inherit our pipes (run() would wait for them)
        log = str(self.root / "server.log")
        self._run(
            "pg_ctl", "-D", str(self.data), "-l", log, "-o", options, "-w", "-t", "60", "start"
        )

    def stop(self) -> None:
        """Stop at once (as a crash would: connections are cut)."""
        self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")

    def create_database(self, name: str = "course") -> str:
        self._run("createdb", "-h", "127.0.0.1", "-p", str(self.port), "-U", "grader", name)
        return self.url(name)

    def close(self) -> None:
        with contextlib.suppress(subprocess.CalledProcessError):
            self.stop()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def postgres():
    server = Postgres()
    try:
        server.init()
        yield server
    finally:
        server.close()


class DaskCluster:
    """``dask scheduler`` and ``dask worker`` processes (no nanny: the worker's
    pid is the process that grades, so a test can kill -9 it)."""

    def __init__(self, workers: int = 2, worker_env: dict[str, str] | None = None):
        self.port = free_port()
        self.address = f"tcp://127.0.0.1:{self.port}"
        self.root = Path(tempfile.mkdtemp(prefix="classgrade-dask-"))
        self.procs: list[subprocess.Popen] = []
        self.workers: list[subprocess.Popen] = []
        self.n_workers = workers
        self.worker_env = worker_env

    def _spawn(self, args: list[str], name: str, env: dict[str, str] | None = None):
        log = open(self.root / f"{name}.log", "wb")
        proc = subprocess.Popen(
            [str(VENV_BIN / "dask"), *args],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            cwd=self.root,  # no shared course folder: workers start elsewhere
            env=env,
        )
        log.close()
        self.procs.append(proc)
        return proc

    def start(self) -> None:
        self._spawn(
            ["scheduler", "--host", "127.0.0.1", "--port", str(self.port), "--no-dashboard"],
            "scheduler",
        )
        for i in range(self.n_workers):
            self.add_worker(i)
        self.wait_for_workers(self.n_workers)

    def add_worker(self, index: int) -> subprocess.Popen:
        env = dict(os.environ) if self.worker_env is None else self.worker_env
        local = self.root / f"worker-{index}"
        local.mkdir(exist_ok=True)
        proc = self._spawn(
            [
                "worker",
                self.address,
                "--nthreads",
                "1",
                "--no-nanny",
                "--no-dashboard",
                "--host",
                "127.0.0.1",
                "--local-directory",
                str(local),
                "--name",
                f"w{index}",
            ],
            f"worker-{index}",
            env,
        )
        self.workers.append(proc)
        return proc

    def client(self):
        from distributed import Client

        return Client(self.address, timeout=120, set_as_default=False)

    def wait_for_workers(self, n: int) -> None:
        with self.client() as client:
            client.wait_for_workers(n, timeout=180)

    def worker_pids(self) -> dict[str, int]:
        """Worker address -> pid."""
        with self.client() as client:
            return client.run(os.getpid)

    def logs(self) -> str:
        return "\n".join(
            f"--- {p.name}\n{p.read_text(errors='replace')[-3000:]}"
            for p in sorted(self.root.glob("*.log"))
        )

    def close(self) -> None:
        from autograder.classgrade.pool import kill_tree

        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 10
        for proc in reversed(self.procs):
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(max(0.1, deadline - time.monotonic()))
            if proc.poll() is None:
                kill_tree(proc.pid)
                proc.wait()
        shutil.rmtree(self.root, ignore_errors=True)


@contextlib.contextmanager
def dask_cluster(workers: int = 2, worker_env: dict[str, str] | None = None):
    cluster = DaskCluster(workers, worker_env)
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.close()
