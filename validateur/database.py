"""PostgreSQL connections a web request cannot wait on forever.

libpq has no read timeout, and a hung server (a stopped process, a frozen VM) still
acknowledges TCP, so neither keepalives nor `tcp_user_timeout` fire: a web request waiting on
it would wait for ever, holding a gunicorn thread. Every connection of the app is a
`BoundedConnection`, whose waits are bounded only while a web request runs (set in
`before_request`, kept in `g` until the request's teardown has returned its connection):

- a wait that hears nothing for `VALIDATEUR_DB_TIMEOUT_SECONDS` checks that the server is
  alive with a probe that needs no login (an SSLRequest, answered by any live server in
  milliseconds). A live server is busy (a big DELETE): the wait goes on, checked again at the
  next interval, so long statements are never cut. A server that does not answer within
  `PROBE_SECONDS` is hung: the connection is closed and an `OperationalError` raised, which
  the app answers with a 503;
- once a request found the server hung or unreachable, its next connection attempts fail at
  once (SQLAlchemy's pre-ping would otherwise reconnect and wait again, and the error page
  would ask again for the user); new connections of web requests use `connect_timeout`
  (libpq's minimum is 2 s).

Workers and commands run outside web requests: their waits are psycopg's own, unbounded (a job
rolls its transaction back if the server dies; RQ retries it). `/api/health` asks for a
shorter budget without probe through `bounded_waits`.
"""

from __future__ import annotations

import contextlib
import logging
import math
import socket
import struct
from collections.abc import Generator, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from flask import Flask, current_app, g, has_app_context
from psycopg import errors as pg_errors
from psycopg.rows import TupleRow
from psycopg.waiting import READY_NONE
from sqlalchemy import event

log = logging.getLogger(__name__)

RV = TypeVar("RV")
#: How long a live server may take to answer the probe (it answers in milliseconds).
PROBE_SECONDS = 1.0
#: The packet a client sends to ask for TLS; any live server answers one byte, `S` or `N`.
SSL_REQUEST = struct.pack("!ii", 8, 80877103)
#: psycopg's own wake-up interval while it waits (psycopg.connection._WAIT_INTERVAL).
WAIT_INTERVAL = 0.1
_BUDGET = "validateur_db_budget"
_UNRESPONSIVE = "validateur_db_unresponsive"


@dataclass(frozen=True)
class WaitBudget:
    """How long a wait may hear nothing, and whether a silent server is probed first."""

    seconds: float
    probe: bool = True


def current_budget() -> WaitBudget | None:
    """The budget of the web request this code runs for, if any."""
    if not has_app_context():
        return None
    budget: WaitBudget | None = g.get(_BUDGET)
    return budget


@contextlib.contextmanager
def bounded_waits(budget: WaitBudget) -> Iterator[None]:
    """Use `budget` for the database waits of the block (within a request)."""
    previous = g.get(_BUDGET)
    setattr(g, _BUDGET, budget)
    try:
        yield
    finally:
        setattr(g, _BUDGET, previous)


def server_answers(host: str, port: int, timeout: float = PROBE_SECONDS) -> bool:
    """True when a PostgreSQL server listens and answers at host:port (or the socket dir)."""
    try:
        if host.startswith("/"):
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(timeout)
            sock.connect(f"{host}/.s.PGSQL.{port}")
        else:
            sock = socket.create_connection((host, port), timeout=timeout)
        with sock:
            sock.settimeout(timeout)
            sock.sendall(SSL_REQUEST)
            return sock.recv(1) in (b"S", b"N")
    except OSError:
        return False


def _resumable(gen: Generator[Any, Any, RV]) -> Generator[Any, Any, RV]:
    """`gen`, resumable after a wait gave up on it: a wait starts with `next()` (None), which
    psycopg's generators do not take; it is passed on as "nothing ready"."""
    ready: Any = READY_NONE
    try:
        state = next(gen)
        while True:
            ready = yield state
            state = gen.send(READY_NONE if ready is None else ready)
    except StopIteration as stop:
        result: RV = stop.value
        return result


class BoundedConnection(psycopg.Connection[TupleRow]):
    """A psycopg connection whose waits are bounded during web requests (see module doc)."""

    def wait(self, gen: Any, interval: float = WAIT_INTERVAL, timeout: float | None = None) -> Any:
        budget = current_budget()
        if budget is None or timeout is not None:
            return super().wait(gen, interval, timeout)
        resumable = _resumable(gen)
        while True:
            try:
                return super().wait(resumable, interval, budget.seconds)
            except pg_errors._WaitTimeout:
                if budget.probe and server_answers(self.info.host, self.info.port):
                    continue  # alive and busy: a long statement, not a hang
                self._abandon(budget)

    def _abandon(self, budget: WaitBudget) -> None:
        _mark_unresponsive()
        with contextlib.suppress(Exception):
            self.pgconn.finish()
        log.error("database did not answer within %.1f s: connection closed", budget.seconds)
        raise psycopg.OperationalError(
            f"the database server did not answer within {budget.seconds:.1f} s"
        )


def _mark_unresponsive() -> None:
    """The rest of this request does not wait on the database again.

    New connections fail at once (`_connect`), and the request's user, if not loaded yet, is
    anonymous: Flask-Login runs its loaders again each time `current_user` is read while no
    user is cached, so the 503 page (its layout reads `current_user`) would otherwise ask the
    database again and fail into a 500.
    """
    if not has_app_context():
        return
    setattr(g, _UNRESPONSIVE, True)
    if "_login_user" not in g:
        from validateur.extensions import login_manager

        g._login_user = login_manager.anonymous_user()


def _start_request(_endpoint: str | None = None, _values: dict[str, Any] | None = None) -> None:
    """A URL value preprocessor: Flask runs those before every `before_request` hook."""
    seconds: float = current_app.config["VALIDATEUR_DB_TIMEOUT_SECONDS"]
    setattr(g, _BUDGET, WaitBudget(seconds))


def _connect(dialect: Any, conn_rec: Any, cargs: Any, cparams: dict[str, Any]) -> Any:
    budget = current_budget()
    if budget is not None:
        if g.get(_UNRESPONSIVE):
            raise psycopg.OperationalError("the database server was found not answering")
        cparams.setdefault("connect_timeout", max(2, math.ceil(budget.seconds)))
        try:
            return BoundedConnection.connect(*cargs, **cparams)
        except psycopg.OperationalError:
            _mark_unresponsive()  # refused or timed out: once per request is enough
            raise
    return BoundedConnection.connect(*cargs, **cparams)


def init_app(app: Flask) -> None:
    """Every engine connection is a `BoundedConnection`; web requests get their budget.

    The budget is set by a URL value preprocessor, which Flask runs before every
    `before_request` hook (the request gate and Flask-Login's loaders read the database).
    """
    from validateur.extensions import db

    with app.app_context():
        event.listen(db.engine, "do_connect", _connect)
    app.url_value_preprocessor(_start_request)
