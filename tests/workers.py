"""Real worker processes for end-to-end and fault tests, started by `validateur.stack`."""

from __future__ import annotations

import subprocess
from pathlib import Path

from flask import Flask

from validateur import stack
from validateur.extensions import db
from validateur.models import RunStatus, ValidationRun
from validateur.stack import VENV_BIN as VENV_BIN
from validateur.stack import stop as stop
from validateur.stack import wait_for as wait_for


def start_rq_worker(
    env: dict[str, str], log_path: Path, *, plain: bool = True, new_session: bool = False
) -> subprocess.Popen[bytes]:
    """`rq worker --url … --with-scheduler QUEUE` (plain, the default here) or
    `validateur worker`, logging to `log_path`."""
    return stack.start_worker(env, log=log_path, plain=plain, new_session=new_session)


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
