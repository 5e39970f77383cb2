"""The worker's parent prepares what every work-horse would otherwise redo."""

from __future__ import annotations

import subprocess
import sys

from flask import Flask

#: A fresh interpreter: in the test process some query has long configured the mappers.
_CHECK = """
import sys
from sqlalchemy import inspect
from validateur import create_app
from validateur.models import BillingRecord, ValidationResult, ValidationRun
from jobs import context
app = create_app()
mappers = [inspect(model) for model in (ValidationRun, BillingRecord, ValidationResult)]
before = [mapper.configured for mapper in mappers]
if sys.argv[1] == "preload":
    context.preload(app)
print(before, [mapper.configured for mapper in mappers])
"""


def _configured(app: Flask, mode: str) -> str:
    env = {"DATABASE_URL": app.config["SQLALCHEMY_DATABASE_URI"], "SECRET_KEY": "test",
           "VALIDATEUR_DEV": "1", "PATH": "/usr/bin:/bin"}
    done = subprocess.run([sys.executable, "-c", _CHECK, mode], env=env, capture_output=True,
                          text=True, check=True, timeout=60)
    return done.stdout.strip()


def test_preloading_the_workers_app_configures_the_orm_mappers_before_any_fork(
        app: Flask) -> None:
    assert _configured(app, "plain") == "[False, False, False] [False, False, False]"
    assert _configured(app, "preload") == "[False, False, False] [True, True, True]"
