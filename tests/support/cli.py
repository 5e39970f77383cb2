"""The `validateur` commands in-process, on a given app (Click's runner, no subprocess)."""

from __future__ import annotations

from click.testing import CliRunner, Result
from flask import Flask
from flask.cli import ScriptInfo

from validateur.cli import main


def invoke(app: Flask, *args: str, env: dict[str, str] | None = None,
           stdin: str | None = None) -> Result:
    return CliRunner().invoke(main, list(args), obj=ScriptInfo(create_app=lambda: app),
                              env=env, input=stdin)
