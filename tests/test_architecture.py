"""The one-way dependencies of architecture.md, checked on the source."""

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


def _imported_modules(path: Path) -> set[str]:
    """Every module `path` imports, dotted and absolute, `from a import b` counting `a.b` too
    (b may be a module), relative imports resolved against `path`'s package."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
            module = node.module or ""
            if node.level:
                module = f"{base}.{module}".rstrip(".")
            found.add(module)
            found |= {f"{module}.{alias.name}" for alias in node.names}
    return found


def test_no_test_module_imports_a_test_module_or_a_conftest() -> None:
    """Shared helpers live in `tests/support/`; a test or conftest module is never imported
    (pytest imports them itself, and importing one runs its fixtures' module twice)."""
    tests = {".".join(p.relative_to(ROOT).with_suffix("").parts)
             for p in (ROOT / "tests").rglob("*.py")
             if p.name.startswith("test_") or p.name == "conftest.py"}
    for path in (ROOT / "tests").rglob("*.py"):
        bad = _imported_modules(path) & tests
        assert not bad, (path.relative_to(ROOT), sorted(bad))


def test_only_runs_py_writes_a_run_status() -> None:
    for path in (ROOT / "validateur").rglob("*.py"):
        if path.name in ("runs.py", "models.py"):
            continue
        assert "status=RunStatus" not in path.read_text(), path
