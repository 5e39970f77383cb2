"""The one-way dependencies of docs/architecture.md § Who owns what, checked on the source."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
FRAMEWORKS = ("flask", "flask_login", "flask_wtf", "flask_sqlalchemy", "sqlalchemy", "rq",
              "redis", "psycopg")


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_validation_is_pure_python() -> None:
    core = ROOT / "validateur"
    pure = [*(core / "validation").rglob("*.py"), core / "formatting.py"]
    for path in pure:
        bad = {n for n in _imports(path) if n.split(".")[0] in FRAMEWORKS}
        assert not bad, (path, bad)


def test_the_web_never_imports_jobs() -> None:
    for path in (ROOT / "validateur").rglob("*.py"):
        if path.name == "cli.py":
            continue  # the command line starts workers; it is not the web
        bad = {n for n in _imports(path) if n == "jobs" or n.startswith("jobs.")}
        assert not bad, (path, bad)


def test_only_runs_py_writes_a_run_status() -> None:
    for path in (ROOT / "validateur").rglob("*.py"):
        if path.name in ("runs.py", "models.py"):
            continue
        assert "status=RunStatus" not in path.read_text(), path
