"""The `validateur` commands in-process, on a given app (Click's runner, no subprocess), and
the check of their errors (one French line)."""

from __future__ import annotations

import subprocess

from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import ScriptInfo

from validateur.cli import main


def invoke(app: Flask, *args: str, env: dict[str, str] | None = None,
           stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app),
                              env=env, input=stdin)


def assert_one_french_error(done: subprocess.CompletedProcess[str] | Result, *words: str
                            ) -> None:
    stderr = done.stderr
    code = done.returncode if isinstance(done, subprocess.CompletedProcess) else done.exit_code
    assert code != 0
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("Erreur : "), stderr
    assert "Traceback" not in stderr
    for word in words:
        assert word in lines[0], lines[0]
