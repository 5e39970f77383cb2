"""Real `rq worker` subprocesses for end-to-end and fault tests."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask

from validateur.extensions import db
from validateur.models import RunStatus, ValidationRun

VENV_BIN = Path(sys.executable).parent


def start_rq_worker(
    env: dict[str, str], log_path: Path, *, plain: bool = True, new_session: bool = False
) -> subprocess.Popen[bytes]:
    """`rq worker --url … --with-scheduler QUEUE` (plain) or `validateur worker`."""
    if plain:
        args = [str(VENV_BIN / "rq"), "worker", "--url", env["REDIS_URL"], "--with-scheduler",
                env["VALIDATEUR_QUEUE"]]
    else:
        args = [sys.executable, "-m", "validateur", "worker"]
    handle = log_path.open("ab")
    return subprocess.Popen(args, env={**os.environ, **env}, stdout=handle,
                            stderr=subprocess.STDOUT, cwd=Path(__file__).resolve().parent.parent,
                            start_new_session=new_session)


def stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM, timeout: float = 30) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(5)


def wait_for(predicate: Callable[[], bool], timeout: float = 60, interval: float = 0.1) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(interval)
    raise AssertionError("condition not reached in time")


def wait_final(app: Flask, run_id: int, timeout: float = 90) -> ValidationRun:
    """Poll the run row until it is final; returns it (detached values loaded)."""
    result: list[ValidationRun] = []

    def final() -> bool:
        with app.app_context():
            db.session.expire_all()
            run = db.session.get(ValidationRun, run_id)
            if run is not None and RunStatus(run.status).is_final:
                db.session.expunge(run)
                result.append(run)
                return True
            return False

    wait_for(final, timeout, 0.2)
    return result[0]
