"""The run's event stream (`validateur/web/events.py`) on real PostgreSQL and Redis.

The app here re-reads watched runs only every 10 minutes: an event that arrives within the
tests' wait came from the `NOTIFY` of the transaction that changed the run, not from the
slow re-check. Waits are bounds for a missing event, never timings.
"""

from __future__ import annotations

import json
import queue
import threading
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import text

from tests.support.api import Person
from tests.support.batches import upload_batch
from tests.support.csvfiles import act, billing_csv
from tests.support.people import member, user_of
from tests.support.runs import make_run
from validateur import create_app, runs
from validateur.extensions import db
from validateur.models import FailureCategory, Phase, RunStatus
from validateur.web import events

#: How long a test waits for an event that must come (a bound, not a timing).
EVENT_WAIT_SECONDS = 20.0
SNAPSHOT_KEYS = {"id", "status", "phase", "progress", "processedRows", "totalRows", "counts",
                 "queuePosition"}
END = object()


@pytest.fixture(scope="module")
def live_app(app: Flask) -> Iterator[Flask]:
    """The app, with a re-check too slow to stand in for a notice during a test."""
    built = create_app({"WTF_CSRF_ENABLED": False, "VALIDATEUR_EVENTS_RECHECK_SECONDS": 600.0})
    yield built
    events.hub_of(built).stop()
    with built.app_context():
        db.session.remove()
        db.engine.dispose()


@pytest.fixture()
def live(live_app: Flask) -> FlaskClient:
    return live_app.test_client()


class Stream:
    """A stream read by a thread of its own: events and comments as they come, then END."""

    def __init__(self, client: FlaskClient, url: str, person: Person) -> None:
        self.response = client.get(url, headers=person.headers, buffered=False)
        self.raw = ""
        self.items: queue.Queue[object] = queue.Queue()
        if self.response.status_code == 200:
            threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        buffer = ""
        for chunk in self.response.response:
            part = chunk.decode() if isinstance(chunk, bytes) else chunk
            self.raw += part
            buffer += part
            while "\n\n" in buffer:
                block, buffer = buffer.split("\n\n", 1)
                self.items.put(_parse(block))
        self.items.put(END)

    def next(self) -> Any:
        """The next item: ("event", kind, data), ("comment", text), ("retry", ms) or END."""
        try:
            return self.items.get(timeout=EVENT_WAIT_SECONDS)
        except queue.Empty:
            pytest.fail(f"nothing on the stream within {EVENT_WAIT_SECONDS} s")

    def event(self) -> tuple[str, dict[str, Any]]:
        """The next event, skipping the `retry:` line and heartbeats."""
        while True:
            item = self.next()
            assert item is not END, "the stream ended before the event"
            if item[0] == "event":
                return item[1], item[2]


def _past_queued(stream: Stream) -> dict[str, Any]:
    """The next event of a run that left the queue: a place in line read again meanwhile
    (the hub's re-check, a slow Redis answering no place) may send a queued one first."""
    while True:
        data = stream.event()[1]
        if data["status"] != "queued":
            return data


def _parse(block: str) -> tuple[Any, ...]:
    fields: dict[str, str] = {}
    for line in block.splitlines():
        if line.startswith(":"):
            return ("comment", line[1:].strip())
        name, _, value = line.partition(": ")
        fields[name] = value
    if "retry" in fields:
        return ("retry", int(fields["retry"]))
    return ("event", fields["event"], json.loads(fields["data"]))


def _run(app: Flask, person: Person, status: RunStatus, **values: Any) -> int:
    user_id, _ = user_of(app, person)
    with app.app_context():
        return make_run(status, user_id=user_id, **values)


def _progress(app: Flask, run_id: int, progress: int, rows: int) -> None:
    with app.app_context():
        assert runs.record_progress(run_id, Phase.PARSING, progress, rows)


def _complete(app: Flask, run_id: int, rows: int) -> None:
    with app.app_context():
        assert runs.finish(run_id, runs.Completed(rows, {"error": 2, "warning": 1},
                                                  Decimal("12.50"), Decimal("3.00")),
                           source="test", line="Validation terminée")


def _url(run_id: int) -> str:
    return f"/api/validations/{run_id}/events"


def test_another_organizations_run_is_404_and_anonymous_is_refused(
        app: Flask, live: FlaskClient, editor: Person) -> None:
    mine = member(app, "editor", "Clinique du Nord")
    theirs = member(app, "editor", "Clinique du Sud")
    run_id = _run(app, theirs, RunStatus.PROCESSING)
    assert live.get(_url(run_id), headers=mine.headers).status_code == 404
    assert live.get(_url(999_999_999), headers=mine.headers).status_code == 404
    assert live.get(_url(run_id)).status_code == 401
    assert events.hub_of(live.application).watched() == set()  # nothing left watching


def test_progress_and_the_end_arrive_as_they_commit_then_the_stream_closes(
        app: Flask, live: FlaskClient, editor: Person) -> None:
    run_id = _run(app, editor, RunStatus.PROCESSING)
    stream = Stream(live, _url(run_id), editor)
    assert stream.response.status_code == 200
    assert stream.response.mimetype == "text/event-stream"
    assert stream.next() == ("retry", events.RECONNECT_MILLISECONDS)
    kind, first = stream.event()
    assert (kind, first["status"], first["progress"]) == ("run", "processing", 0)
    assert events.hub_of(live.application).listening.wait(EVENT_WAIT_SECONDS)
    _progress(app, run_id, 40, 1_234)
    kind, moved = stream.event()
    assert (moved["status"], moved["phase"], moved["progress"], moved["processedRows"]) == (
        "processing", "parsing", 40, 1_234)
    _complete(app, run_id, 5_000)
    kind, final = stream.event()
    assert (kind, final["status"], final["progress"], final["totalRows"]) == (
        "run", "completed", 100, 5_000)
    assert final["counts"]["error"] == 2 and final["counts"]["warning"] == 1
    assert stream.next() is END
    assert run_id not in events.hub_of(live.application).watched()


def test_a_change_rolled_back_or_unchanged_sends_no_event(
        app: Flask, live: FlaskClient, editor: Person) -> None:
    run_id = _run(app, editor, RunStatus.PROCESSING)
    stream = Stream(live, _url(run_id), editor)
    stream.event()
    assert events.hub_of(live.application).listening.wait(EVENT_WAIT_SECONDS)
    with live.application.app_context():
        runs._transition(run_id, (RunStatus.PROCESSING,), progress=77)
        db.session.rollback()  # never committed: never told
    _progress(app, run_id, 0, 0)  # a heartbeat that changes nothing shown: no event either
    _progress(app, run_id, 10, 50)
    _, moved = stream.event()
    assert moved["progress"] == 10
    _complete(app, run_id, 50)
    assert stream.event()[1]["status"] == "completed"


def test_events_carry_numbers_and_states_only(app: Flask, live: FlaskClient,
                                              editor: Person) -> None:
    name = "Tremblay-Jean-RAMQ-1234.csv"
    run_id = _run(app, editor, RunStatus.PROCESSING, file_name=name)
    stream = Stream(live, _url(run_id), editor)
    _, first = stream.event()
    assert set(first) == SNAPSHOT_KEYS
    with app.app_context():
        assert runs.finish(run_id, runs.Failed("Ligne 12 : valeur « TREMBLAY » illisible",
                                               FailureCategory.UNREADABLE_FILE),
                           source="test", line="Échec")
    _, final = stream.event()
    assert set(final) == SNAPSHOT_KEYS and final["status"] == "failed"
    assert stream.next() is END
    assert name not in stream.raw and "TREMBLAY" not in stream.raw and "Ligne" not in stream.raw


def test_a_queued_run_tells_its_place_then_its_start(app: Flask, live: FlaskClient,
                                                     editor: Person) -> None:
    run_id = _run(app, editor, RunStatus.QUEUED)
    stream = Stream(live, _url(run_id), editor)
    _, first = stream.event()
    assert (first["status"], first["queuePosition"]) == ("queued", 1)
    assert events.hub_of(live.application).listening.wait(EVENT_WAIT_SECONDS)
    with app.app_context():
        assert runs.start_attempt(run_id)
    _, started = stream.event()
    assert (started["status"], started["queuePosition"]) == ("processing", None)
    with app.app_context():
        runs.delete_run(run_id)
    assert stream.event() == ("gone", {"id": run_id, "gone": True})
    assert stream.next() is END


def test_a_final_run_sends_its_state_and_closes(app: Flask, live: FlaskClient,
                                                editor: Person) -> None:
    run_id = _run(app, editor, RunStatus.COMPLETED, total_rows=3)
    stream = Stream(live, _url(run_id), editor)
    assert stream.event()[1]["status"] == "completed"
    assert stream.next() is END


def test_a_cut_listening_connection_is_opened_again(app: Flask, live: FlaskClient,
                                                    editor: Person) -> None:
    run_id = _run(app, editor, RunStatus.PROCESSING)
    stream = Stream(live, _url(run_id), editor)
    stream.event()
    hub = events.hub_of(live.application)
    assert hub.listening.wait(EVENT_WAIT_SECONDS)
    with app.app_context():
        cut = db.session.execute(text(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE application_name = :name"), {"name": events.APPLICATION_NAME}).scalar_one()
        db.session.commit()
    assert cut >= 1
    _progress(app, run_id, 30, 300)  # may be sent while nobody listens: read again on return
    assert stream.event()[1]["progress"] == 30
    _complete(app, run_id, 300)
    assert stream.event()[1]["status"] == "completed"
    assert stream.next() is END


def test_a_quiet_stream_sends_heartbeats_and_ends_at_its_lifetime(
        app: Flask, editor: Person) -> None:
    quiet = create_app({"WTF_CSRF_ENABLED": False, "VALIDATEUR_EVENTS_HEARTBEAT_SECONDS": 0.2,
                        "VALIDATEUR_EVENTS_STREAM_SECONDS": 1.0})
    run_id = _run(app, editor, RunStatus.PROCESSING)
    try:
        stream = Stream(quiet.test_client(), _url(run_id), editor)
        stream.event()
        assert stream.next() == ("comment", "heartbeat")
        while (item := stream.next()) is not END:
            assert item == ("comment", "heartbeat")
        assert events.hub_of(quiet).watched() == set()
    finally:
        events.hub_of(quiet).stop()
        with quiet.app_context():
            db.session.remove()
            db.engine.dispose()


def test_a_batch_streams_each_of_its_runs_and_closes_when_all_are_final(
        app: Flask, live: FlaskClient, editor: Person, make_person: Any) -> None:
    answer = upload_batch(live, editor, [(billing_csv([act(1)]), "a.csv"),
                                         (billing_csv([act(2)]), "b.csv")])
    assert answer.status_code == 202
    first_id, second_id = (run["validationId"] for run in answer.get_json()["runs"])
    url = f"/api/batches/{answer.get_json()['batchId']}/events"
    assert live.get(url, headers=make_person("editor").headers).status_code == 404
    stream = Stream(live, url, editor)
    opened = {data["id"]: data for _, data in (stream.event(), stream.event())}
    assert {run["status"] for run in opened.values()} == {"queued"}
    assert set(opened) == {first_id, second_id}
    assert events.hub_of(live.application).listening.wait(EVENT_WAIT_SECONDS)
    with app.app_context():
        assert runs.start_attempt(first_id)
    assert _past_queued(stream) == {**opened[first_id], "status": "processing",
                                    "phase": "parsing", "queuePosition": None}
    _complete(app, first_id, 1)
    assert stream.event()[1]["id"] == first_id
    with app.app_context():
        assert runs.finish(second_id, runs.Cancelled(), source="test", line="Annulée")
    assert stream.event()[1]["status"] == "cancelled"
    assert stream.next() is END


def test_an_idle_listener_closes_its_connection_and_a_new_watcher_opens_one(
        app: Flask, editor: Person, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(events, "IDLE_SECONDS", 0.0)
    idle = create_app({"WTF_CSRF_ENABLED": False})
    hub = events.hub_of(idle)
    try:
        for _ in range(2):  # twice: the second watcher starts a listener again
            run_id = _run(app, editor, RunStatus.PROCESSING)
            stream = Stream(idle.test_client(), _url(run_id), editor)
            stream.event()
            assert hub.listening.wait(EVENT_WAIT_SECONDS)
            _progress(app, run_id, 10, 10)
            assert stream.event()[1]["progress"] == 10
            _complete(app, run_id, 10)
            assert stream.event()[1]["status"] == "completed"
            assert stream.next() is END
            for _ in range(200):
                if not _listeners(app):
                    break
                threading.Event().wait(0.1)
            assert not hub.listening.is_set() and _listeners(app) == 0
    finally:
        hub.stop()
        with idle.app_context():
            db.session.remove()
            db.engine.dispose()


def _listeners(app: Flask) -> int:
    with app.app_context():
        found = db.session.execute(text(
            "SELECT count(*) FROM pg_stat_activity WHERE application_name = :name"
            " AND datname = current_database()"), {"name": events.APPLICATION_NAME}).scalar_one()
        db.session.commit()
        return int(found)
