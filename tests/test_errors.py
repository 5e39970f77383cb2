"""The exception tree, and « transient » decided on real driver exceptions.

Every failure below is produced by the driver itself (a refused port, a terminated backend,
an exhausted pool, a closed pipe), not built by hand, so a driver release that moves a
class is caught here.
"""

from __future__ import annotations

import ast
import importlib
import inspect
import os
import pkgutil
import socket
import sys
from collections.abc import Iterator
from pathlib import Path

import click
import psycopg
import pytest
import redis
import redis.exceptions
import redis.retry
import sqlalchemy
import sqlalchemy.exc
from redis.backoff import NoBackoff
from werkzeug.exceptions import HTTPException

import jobs
import validateur
from tests import services as stack
from validateur import errors
from validateur.errors import JobFailed, ValidateurError, is_transient
from validateur.validation.reader import UnusableFile

CANARY = "ZQXWCANARYERR"
CLOSED_PORT = 1  # nothing listens there: connecting is refused at once
FRAMEWORK_BASES = (click.ClickException, HTTPException)


def _own_exceptions() -> Iterator[type[BaseException]]:
    """Every public exception class defined in `validateur` and `jobs`."""
    for package in (validateur, jobs):
        for module_info in pkgutil.walk_packages(package.__path__, f"{package.__name__}."):
            if module_info.name.endswith("__main__"):
                continue
            module = importlib.import_module(module_info.name)
            for name, value in vars(module).items():
                if (inspect.isclass(value) and issubclass(value, BaseException)
                        and value.__module__ == module.__name__ and not name.startswith("_")):
                    yield value


def test_every_exception_of_ours_is_in_the_tree_and_drawn() -> None:
    drawn = errors.__doc__ or ""
    found = list(_own_exceptions())
    assert len(found) >= 10
    for exc in found:
        if issubclass(exc, FRAMEWORK_BASES):
            continue
        assert issubclass(exc, ValidateurError), exc
        assert exc.__name__ in drawn, exc


def test_the_tree_base_is_standard_library_only() -> None:
    """The core's exceptions derive from it: it must not drag a driver into the core."""
    source = (Path(validateur.__file__).parent / "validation" / "errors.py").read_text()
    imported = {alias.name for node in ast.walk(ast.parse(source))
                if isinstance(node, ast.Import) for alias in node.names}
    imported |= {node.module or "" for node in ast.walk(ast.parse(source))
                 if isinstance(node, ast.ImportFrom)}
    assert all(name.split(".")[0] in sys.stdlib_module_names for name in imported), imported


# --- transient: real exceptions from the drivers -------------------------------------------

def _raised(action: object) -> BaseException:
    try:
        action()  # type: ignore[operator]
    except Exception as exc:
        return exc
    raise AssertionError("no exception")


def _engine(url: str, **options: object) -> sqlalchemy.Engine:
    return sqlalchemy.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1),
                                    **options)  # type: ignore[arg-type]


def _refused_psycopg() -> BaseException:
    return _raised(lambda: psycopg.connect(
        f"host=127.0.0.1 port={CLOSED_PORT} dbname=x connect_timeout=2"))


def _refused_sqlalchemy() -> BaseException:
    engine = _engine(f"postgresql://postgres@127.0.0.1:{CLOSED_PORT}/x")
    try:
        return _raised(engine.connect)
    finally:
        engine.dispose()


def _admin_shutdown(url: str) -> BaseException:
    """The server ends our session (`pg_terminate_backend`, as a restart or failover does)."""
    with psycopg.connect(url, autocommit=True) as victim, \
            psycopg.connect(url, autocommit=True) as admin:
        pid = victim.info.backend_pid
        admin.execute("SELECT pg_terminate_backend(%s)", (pid,))
        return _raised(lambda: victim.execute("SELECT 1"))


def _pool_timeout(url: str) -> BaseException:
    engine = _engine(url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    try:
        with engine.connect():
            return _raised(engine.connect)
    finally:
        engine.dispose()


def _refused_redis() -> BaseException:
    client = redis.Redis(port=CLOSED_PORT, socket_connect_timeout=2,
                         retry=redis.retry.Retry(NoBackoff(), 0))
    return _raised(client.ping)


def _broken_pipe() -> BaseException:
    read_end, write_end = os.pipe()
    os.close(read_end)
    try:
        return _raised(lambda: os.write(write_end, b"x"))
    finally:
        os.close(write_end)


def _refused_socket() -> BaseException:
    return _raised(lambda: socket.create_connection(("127.0.0.1", CLOSED_PORT), timeout=2))


def _refused_value(url: str) -> BaseException:
    """A cell PostgreSQL refuses: the driver quotes it in its text."""
    engine = _engine(url)
    try:
        with engine.connect() as connection:
            return _raised(lambda: connection.execute(
                sqlalchemy.text("SELECT CAST(:v AS integer)"), {"v": CANARY}))
    finally:
        engine.dispose()


def _wrong_type_redis(url: str) -> BaseException:
    client = redis.Redis.from_url(url)
    client.set("validateur:test-errors", "x")
    try:
        return _raised(lambda: client.lpush("validateur:test-errors", "y"))
    finally:
        client.delete("validateur:test-errors")
        client.close()


@pytest.fixture(scope="module")
def database_url(services: stack.TestServices) -> str:
    return services.database_url


def test_driver_outages_are_transient(database_url: str) -> None:
    cases = {
        "psycopg refused": (_refused_psycopg(), psycopg.OperationalError),
        "sqlalchemy refused": (_refused_sqlalchemy(), sqlalchemy.exc.OperationalError),
        "admin shutdown": (_admin_shutdown(database_url), psycopg.errors.AdminShutdown),
        "pool timeout": (_pool_timeout(database_url), sqlalchemy.exc.TimeoutError),
        "redis refused": (_refused_redis(), redis.exceptions.ConnectionError),
        "broken pipe": (_broken_pipe(), BrokenPipeError),
        "socket refused": (_refused_socket(), ConnectionRefusedError),
    }
    for name, (exc, expected) in cases.items():
        assert type(exc) is expected or isinstance(exc, expected), (name, type(exc))
        assert is_transient(exc), name
        assert JobFailed(7, exc).transient, name


def test_refused_values_and_bugs_are_not_transient(services: stack.TestServices) -> None:
    for exc in (_refused_value(services.database_url), _wrong_type_redis(services.redis_url),
                _raised(lambda: {}["facture"]), _raised(lambda: int("x")),
                UnusableFile("Fichier vide.")):
        assert not is_transient(exc), type(exc)
        assert not JobFailed(7, exc).transient, type(exc)


def test_job_failed_names_the_class_never_the_text(services: stack.TestServices) -> None:
    refused = _refused_value(services.database_url)
    assert CANARY in str(refused)  # the driver quotes the cell...
    failed = JobFailed(12, refused)
    assert str(failed) == "run 12: attempt failed (DataError)"  # ...the job's error does not
    assert failed.cause == "DataError" and CANARY not in repr(failed)
