"""The one-way dependencies of docs/architecture.md § Who owns what, and who writes a run's
status, checked on the source."""

from __future__ import annotations

import ast
import re
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


RUN_STATUSES = frozenset({"queued", "processing", "completed", "failed", "cancelled"})
_SQL_STATUS_UPDATE = re.compile(r"update\s+validation_runs\b.*\bset\b.*\bstatus\b",
                                re.IGNORECASE | re.DOTALL)


def _mentions(node: ast.AST, name: str) -> bool:
    return any(isinstance(n, ast.Name) and n.id == name for n in ast.walk(node))


def _is_run_status(node: ast.AST) -> bool:
    """An expression built from `RunStatus` or a run status' literal text."""
    return _mentions(node, "RunStatus") or any(
        isinstance(n, ast.Constant) and n.value in RUN_STATUSES for n in ast.walk(node))


def _call_writes_status(call: ast.Call) -> bool:
    """`ValidationRun(status=…)`, `….values(status=…)` or `….values({"status": …})` on
    `ValidationRun`, `setattr(x, "status", <a run status>)`, any `status=<a run status>`."""
    on_runs = _mentions(call.func, "ValidationRun") and (
        isinstance(call.func, ast.Name)
        or (isinstance(call.func, ast.Attribute) and call.func.attr == "values"))
    for keyword in call.keywords:
        if keyword.arg == "status" and (on_runs or _is_run_status(keyword.value)):
            return True
    if on_runs and any(isinstance(arg, ast.Dict) and any(
            isinstance(k, ast.Constant) and k.value == "status" for k in arg.keys)
            for arg in call.args):
        return True
    return (isinstance(call.func, ast.Name) and call.func.id == "setattr"
            and len(call.args) == 3 and isinstance(call.args[1], ast.Constant)
            and call.args[1].value == "status" and _is_run_status(call.args[2]))


def _is_status_write(node: ast.AST) -> bool:
    if isinstance(node, ast.Call):
        return _call_writes_status(node)
    return (isinstance(node, ast.Constant) and isinstance(node.value, str)
            and _SQL_STATUS_UPDATE.search(node.value) is not None)


def _status_writes(tree: ast.AST) -> list[int]:
    """Lines that give a run a status, however written: an attribute assigned a run status,
    a call that writes one (`_call_writes_status`), raw SQL updating `validation_runs`'
    status. (A read, `run.status == …` or `.where(… status.in_(…))`, is not a write.)"""
    lines: list[int] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if node.value is not None and _is_run_status(node.value):
                lines += [t.lineno for t in targets
                          if isinstance(t, ast.Attribute) and t.attr == "status"]
        elif _is_status_write(node):
            lines.append(node.lineno)
    return sorted(set(lines))


def _sources() -> list[Path]:
    return [*(ROOT / "validateur").rglob("*.py"), *(ROOT / "jobs").rglob("*.py")]


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
    """The life of a run has one home: no other module of the service gives a run a status."""
    runs_py = ROOT / "validateur" / "runs.py"
    found = [f"{path.relative_to(ROOT)}:{line}" for path in _sources() if path != runs_py
             for line in _status_writes(ast.parse(path.read_text()))]
    assert not found, found
    assert _status_writes(ast.parse(runs_py.read_text()))  # the check sees runs.py's own


def test_the_status_check_sees_every_way_of_writing_one() -> None:
    writes = [
        "run.status = RunStatus.FAILED.value",
        "run.status = 'failed'",
        "ValidationRun(status=x)",
        "update(ValidationRun).values(status=x)",
        "update(ValidationRun).where(ValidationRun.id == 1).values({'status': x})",
        "_transition(run_id, OPEN, status=RunStatus.QUEUED.value)",
        "setattr(run, 'status', 'cancelled')",
        "text('UPDATE validation_runs SET progress = 1, status = :s')",
    ]
    reads = [
        "self.status = status",
        "UploadRejected(status=400)",
        "jsonify(status='ok')",
        "run.status == RunStatus.QUEUED.value",
        "select(ValidationRun).where(ValidationRun.status.in_(OPEN))",
        "text('SELECT status FROM validation_runs')",
    ]
    for code in writes:
        assert _status_writes(ast.parse(code)) == [1], code
    for code in reads:
        assert _status_writes(ast.parse(code)) == [], code
