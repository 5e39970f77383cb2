"""A run's live state as server-sent events: `GET /api/validations/<id>/events`.

Why: the run page polled the run's JSON every 1.5 s, so it learnt of a run's end 0.75 s late
on average (1.5 s at worst, plus the reload), and every open page cost a request (and a place-
in-line computation) per poll. Here the page holds one stream and hears of a change when the
transaction that made it commits.

- **Who hears what.** Every change of a run (`runs._transition`: start, progress, requeue, end;
  `runs.delete_run`) sends `NOTIFY validateur_run_changed, '<run id>'` inside its own
  transaction, so the notice arrives exactly at the commit, never for a rollback, and says
  nothing but the id. Each web process has one `Hub`: one thread (a greenlet under gunicorn's
  gevent workers) holding one PostgreSQL connection that `LISTEN`s, and fanning out to the
  streams open in that process. On a notice for a watched run it reads that run once, however
  many pages watch it, and hands the snapshot to each of them.
- **A lost notice only delays.** Every `RECHECK_SECONDS` the hub reads every watched run again
  (one query for all, plus the places in line when one is queued: those change in Redis,
  which sends no notice). A listening connection that drops is opened again after
  `LISTEN_RETRY_SECONDS`, and everything watched is read again then.
- **A stream** sends the run's snapshot at once, then each snapshot that differs from the last
  one sent, a comment line every `HEARTBEAT_SECONDS` when nothing changed (proxies and the
  browser see the connection alive), and ends after the final snapshot (or an `event: gone`
  when the run was deleted). It also ends after `STREAM_SECONDS`: the browser reconnects on
  its own (`retry:`), and the authorization is asked again.
- **What an event holds**: id, status, phase, progress, rows, counts per severity and the place
  in line. Never a file name, an error message or a cell: the same as `job.meta`.
- **Authorization** is the run's API's (`get_run_or_404`: another organization's run is a 404),
  asked once when the stream opens. The request's database connection is back in the pool
  before the first byte is streamed: an open page holds no connection.

`GET /api/batches/<id>/events` is the same for every run of a batch, in one stream (the batch
page), and ends once all of them are final.

The pages (`static/run.js`, `static/batch.js`) use `EventSource`, and go back to polling the
JSON when the stream cannot be had; without JavaScript they are plain HTML.
docs/architecture.md § Progress.
"""

from __future__ import annotations

import json
import logging
import threading
import time
from collections.abc import Generator, Iterable, Iterator
from typing import Any

import psycopg
from flask import Blueprint, Flask, Response, abort, current_app
from flask_login import current_user, login_required
from psycopg import sql
from sqlalchemy import select

from validateur import batches, database, positions, runs
from validateur.extensions import db
from validateur.models import RunStatus, ValidationRun
from validateur.web.access import get_run_or_404, register_converters

log = logging.getLogger(__name__)

#: How often every watched run is read again, notice or not (a lost notice, the place in line).
RECHECK_SECONDS = 3.0
#: A comment line this often when nothing changed: the connection is seen alive end to end.
HEARTBEAT_SECONDS = 15.0
#: A stream ends after this long; the browser reconnects and is authorized again.
STREAM_SECONDS = 300.0
#: What the browser waits before it reconnects a stream that ended or broke (`retry:`).
RECONNECT_MILLISECONDS = 1000
#: After the listening connection failed, the hub tries again this long after.
LISTEN_RETRY_SECONDS = 1.0
#: Nobody has watched for this long: the listener closes its connection (the next page opens
#: a new one).
IDLE_SECONDS = 60.0
#: The listener looks at least this often whether it should end.
WAKE_SECONDS = 1.0
#: The listening connection's name in `pg_stat_activity` (operators, and the tests that cut it).
APPLICATION_NAME = "validateur-events"

Snapshot = dict[str, Any]

bp = Blueprint("events", __name__, url_prefix="/api")
bp.record_once(register_converters)


def snapshot_of(run: ValidationRun, place: int | None) -> Snapshot:
    """What a stream tells of a run: numbers and states only (see the module's doc)."""
    return {
        "id": run.id,
        "status": str(run.status),
        "phase": str(run.phase),
        "progress": run.progress,
        "processedRows": run.processed_rows,
        "totalRows": run.total_rows,
        "counts": {str(severity): count for severity, count in run.counts.items()},
        "queuePosition": place if run.status == RunStatus.QUEUED else None,
    }


def _gone(run_id: int) -> Snapshot:
    return {"id": run_id, "gone": True}


def _is_last(snapshot: Snapshot) -> bool:
    return bool(snapshot.get("gone")) or RunStatus(snapshot["status"]).is_final


def read_snapshots(run_ids: Iterable[int]) -> dict[int, Snapshot]:
    """The snapshots of `run_ids` that still exist: one query, and the places in line (one
    more query and one Redis round trip) only when one of them is queued."""
    found = db.session.execute(
        select(ValidationRun).where(ValidationRun.id.in_(list(run_ids)))).scalars().all()
    places = (positions.queue_positions()
              if any(run.status == RunStatus.QUEUED for run in found) else {})
    return {run.id: snapshot_of(run, places.get(run.id)) for run in found}


class Watcher:
    """One open stream's mailbox: the latest snapshot of each of its runs that the hub
    handed over, and a wake-up."""

    def __init__(self, run_ids: frozenset[int]) -> None:
        self.run_ids = run_ids
        self._latest: dict[int, Snapshot] = {}
        self._ready = threading.Event()

    def offer(self, snapshot: Snapshot) -> None:
        self._latest[snapshot["id"]] = snapshot
        self._ready.set()

    def take(self, timeout: float) -> list[Snapshot]:
        """The snapshots handed over since the last call (waiting up to `timeout` for one)."""
        self._ready.wait(timeout)
        self._ready.clear()
        taken, self._latest = self._latest, {}
        return list(taken.values())


class Hub:
    """One web process's listener and its watchers (see the module's doc)."""

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._recheck = float(app.config.get("VALIDATEUR_EVENTS_RECHECK_SECONDS",
                                             RECHECK_SECONDS))
        self._budget = database.WaitBudget(float(app.config["VALIDATEUR_DB_TIMEOUT_SECONDS"]))
        self._lock = threading.Lock()
        self._watchers: dict[int, set[Watcher]] = {}
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        #: Set while the `LISTEN` connection is established.
        self.listening = threading.Event()

    def watch(self, run_ids: Iterable[int]) -> Watcher:
        """A new watcher of `run_ids`; the listener starts with the process's first one."""
        watcher = Watcher(frozenset(run_ids))
        with self._lock:
            for run_id in watcher.run_ids:
                self._watchers.setdefault(run_id, set()).add(watcher)
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="validateur-events",
                                                daemon=True)
                self._thread.start()
        return watcher

    def forget(self, watcher: Watcher) -> None:
        with self._lock:
            for run_id in watcher.run_ids:
                others = self._watchers.get(run_id, set())
                others.discard(watcher)
                if not others:
                    self._watchers.pop(run_id, None)

    def watched(self) -> set[int]:
        with self._lock:
            return set(self._watchers)

    def _conninfo(self) -> str:
        """The app's database, for a plain psycopg connection of its own (not the pool's:
        it is held for ever, and its waits are not a web request's)."""
        with self._app.app_context():
            engine_url = db.engine.url
        return engine_url.set(drivername="postgresql").render_as_string(hide_password=False)

    def stop(self) -> None:
        """End the listener (and its connection) within a second; a later `watch` starts a
        new one. For the tests' own apps: a web process's hub lives as long as it does."""
        self._stopping.set()
        with self._lock:
            thread = self._thread
        if thread is not None:
            thread.join(5)
        self._stopping.clear()

    def _done(self, idle_since: float) -> bool:
        """Whether the listener should end: told to, or nobody watched for `IDLE_SECONDS`
        (decided under the lock `watch` takes, so a new watcher starts a new listener)."""
        with self._lock:
            if not self._stopping.is_set() and (
                    self._watchers or time.monotonic() - idle_since < IDLE_SECONDS):
                return False
            self._thread = None
            return True

    def _run(self) -> None:
        conninfo = self._conninfo()
        while not self._stopping.is_set():
            try:
                if self._listen(conninfo):
                    return
            except (psycopg.Error, OSError) as exc:  # the class only: a message may quote SQL
                log.warning("run events: listening connection lost (%s); again in %.0f s",
                            type(exc).__name__, LISTEN_RETRY_SECONDS)
            except Exception as exc:  # the listener must outlive any one bug
                log.error("run events: listener failed (%s); again in %.0f s",
                          type(exc).__name__, LISTEN_RETRY_SECONDS)
            self.listening.clear()
            self._stopping.wait(LISTEN_RETRY_SECONDS)
        with self._lock:
            self._thread = None

    def _listen(self, conninfo: str) -> bool:
        """Listen and publish until the connection fails (an exception) or the listener is
        done (True: the connection is closed, the thread ends)."""
        with psycopg.connect(conninfo, autocommit=True,
                             application_name=APPLICATION_NAME) as conn:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(runs.CHANGED_CHANNEL)))
            self.listening.set()
            changed = self.watched()  # anything may have changed while nobody listened
            next_recheck = time.monotonic() + self._recheck
            idle_since = time.monotonic()
            while True:
                if time.monotonic() >= next_recheck:
                    changed = self.watched()
                    next_recheck = time.monotonic() + self._recheck
                if changed:
                    self._publish(changed)
                changed = set()
                if self.watched():
                    idle_since = time.monotonic()
                if self._done(idle_since):
                    self.listening.clear()
                    return True
                wait = min(max(0.0, next_recheck - time.monotonic()), WAKE_SECONDS)
                for notice in conn.notifies(timeout=wait, stop_after=1):
                    changed |= _run_id(notice.payload)
                for notice in conn.notifies(timeout=0):  # the rest of what has arrived
                    changed |= _run_id(notice.payload)

    def _publish(self, run_ids: set[int]) -> None:
        """Read the watched ones of `run_ids` and hand each snapshot to its watchers."""
        wanted = run_ids & self.watched()
        if not wanted:
            return
        with self._app.app_context(), database.bounded_waits(self._budget):
            found = read_snapshots(wanted)
        for run_id in wanted:
            snapshot = found.get(run_id) or _gone(run_id)
            with self._lock:
                watchers = list(self._watchers.get(run_id, ()))
            for watcher in watchers:
                watcher.offer(snapshot)


def _run_id(payload: str) -> set[int]:
    return {int(payload)} if payload.isdigit() else set()


_hubs_lock = threading.Lock()


def hub_of(app: Flask) -> Hub:
    """The app's hub in this process, made on first use (after gunicorn forked)."""
    with _hubs_lock:
        hub = app.extensions.get("validateur.events")
        if hub is None:
            hub = app.extensions["validateur.events"] = Hub(app)
        assert isinstance(hub, Hub)
        return hub


def _event(snapshot: Snapshot) -> str:
    kind = "gone" if snapshot.get("gone") else "run"
    return f"event: {kind}\ndata: {json.dumps(snapshot, separators=(',', ':'))}\n\n"


class _Stream:
    """The response body: a generator of events, and a `close` that forgets the watcher even
    when the server never started the generator (a client gone before the first byte)."""

    def __init__(self, hub: Hub, watcher: Watcher, first: list[Snapshot], heartbeat: float,
                 lifetime: float) -> None:
        self._hub, self._watcher = hub, watcher
        self._events = self._generate(first, heartbeat, lifetime)

    def _generate(self, first: list[Snapshot], heartbeat: float, lifetime: float
                  ) -> Generator[str]:
        """Each snapshot that differs from the last one sent of its run; done once every
        watched run has sent its last (final or gone)."""
        try:
            yield f"retry: {RECONNECT_MILLISECONDS}\n\n"
            ends = time.monotonic() + lifetime
            last: dict[int, Snapshot] = {}
            snapshots = first
            while True:
                for snapshot in snapshots:
                    if last.get(snapshot["id"]) != snapshot:
                        yield _event(snapshot)
                        last[snapshot["id"]] = snapshot
                if len(last) == len(self._watcher.run_ids) and all(
                        _is_last(sent) for sent in last.values()):
                    return
                remaining = ends - time.monotonic()
                if remaining <= 0:
                    return
                snapshots = self._watcher.take(min(heartbeat, remaining))
                if not snapshots:
                    yield ": heartbeat\n\n"
        finally:
            self._hub.forget(self._watcher)

    def __iter__(self) -> Iterator[str]:
        return self._events

    def close(self) -> None:
        self._hub.forget(self._watcher)
        self._events.close()


def _stream_response(hub: Hub, watcher: Watcher, first: list[Snapshot]) -> Response:
    config = current_app.config
    stream = _Stream(hub, watcher, first,
                     float(config.get("VALIDATEUR_EVENTS_HEARTBEAT_SECONDS", HEARTBEAT_SECONDS)),
                     float(config.get("VALIDATEUR_EVENTS_STREAM_SECONDS", STREAM_SECONDS)))
    return Response(stream, mimetype="text/event-stream",
                    headers={"Cache-Control": "no-store", "X-Accel-Buffering": "no"})


@bp.get("/validations/<run_id:run_id>/events")
@login_required
def run_events(run_id: int) -> Response:
    """The run's snapshots as `text/event-stream` (see the module's doc)."""
    hub = hub_of(current_app._get_current_object())  # type: ignore[attr-defined]
    watcher = hub.watch([run_id])  # before the read: a change committed after it is heard
    try:
        run = get_run_or_404(run_id)
        first = [snapshot_of(run, positions.position_of(run))]
    except BaseException:
        hub.forget(watcher)
        raise
    return _stream_response(hub, watcher, first)


@bp.get("/batches/<run_id:batch_id>/events")
@login_required
def batch_events(batch_id: int) -> Response:
    """The snapshots of a batch's runs, as the run's stream sends them, in one stream (the
    batch page; `batches.find_visible`'s authorization, the API's). It ends once every run
    of the batch is final: the batch is then settled."""
    batch = batches.find_visible(current_user, batch_id)
    if batch is None:
        abort(404)
    run_ids = list(db.session.execute(
        select(ValidationRun.id).where(ValidationRun.batch_id == batch.id)).scalars())
    hub = hub_of(current_app._get_current_object())  # type: ignore[attr-defined]
    watcher = hub.watch(run_ids)  # before the read, as for one run
    try:
        found = read_snapshots(run_ids)
        first = [found.get(run_id) or _gone(run_id) for run_id in run_ids]
    except BaseException:
        hub.forget(watcher)
        raise
    return _stream_response(hub, watcher, first)
