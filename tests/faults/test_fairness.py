"""Fair queues with real `validateur worker` processes: an organization's cap keeps its pile
from holding every worker, priority work goes first, places in line only go down, and no
fault (a deploy, a worker SIGKILLed, Redis restarted) leaks, doubles or loses a slot or a row.

The fault tests' own Redis and `FAST_FAULT_TIMINGS` (stall 3 s, sweeps every second). Each
scenario prints what it measured (the waits the issue asks for).
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import time
from collections.abc import Callable
from datetime import UTC, datetime

import psutil
import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq import Worker
from rq.job import Job
from rq.rate_limit import RateLimitRegistry

from tests.faults.servers import paused
from tests.support.api import Person, upload_csv
from tests.support.csvfiles import act, billing_csv, sample_file
from tests.support.runs import fresh_run, stored_rows
from tests.workers import wait_final, wait_for
from validateur import auth, organizations, queue
from validateur.extensions import db
from validateur.models import Plan, Role
from validateur.stack import EmbeddedRedis

pytestmark = pytest.mark.e2e
Workers = Callable[[], subprocess.Popen[bytes]]
#: A file that takes a worker a few seconds: long enough to be still running when the next
#: upload lands, short enough to keep the module quick.
MEDIUM_ROWS = 25_000
SMALL = billing_csv([act(n) for n in range(1, 11)])
#: How long a Redis stays hung (SIGSTOP): past the app's client timeouts (a few seconds).
HANG_SECONDS = 6


@pytest.fixture(scope="module")
def medium_file(tmp_path_factory: pytest.TempPathFactory) -> bytes:
    return sample_file(tmp_path_factory.mktemp("medium") / "medium.csv", MEDIUM_ROWS).read_bytes()


@pytest.fixture()
def client(fault_app: Flask) -> FlaskClient:
    return fault_app.test_client()


def _member(app: Flask, name: str, plan: Plan = Plan.STANDARD, cap: int = 2) -> Person:
    with app.app_context():
        organization = organizations.create(name, plan, max_parallel=cap)
        db.session.commit()
        email = f"clerc@{name.lower().replace(' ', '-')}.test"
        user, password = auth.create_user(email, Role.EDITOR, organization=organization)
        return Person(email, "editor", auth.create_token(user), password)


def _upload(client: FlaskClient, person: Person, content: bytes) -> int:
    answer = upload_csv(client, person, content)
    assert answer.status_code == 202, answer.get_json()
    run_id: int = answer.get_json()["validationId"]
    return run_id


def _wait_workers(app: Flask, count: int) -> None:
    with app.app_context():
        connection = queue.redis_manager().client
        wait_for(lambda: Worker.count(connection=connection) >= count, 30)


def _started_at(app: Flask, run_id: int) -> datetime:
    started = fresh_run(app, run_id).started_at
    assert started is not None
    return started


def _enqueued_at(app: Flask, run_id: int) -> datetime:
    """When the run's job entered its queue (RQ's own stamp, UTC)."""
    with app.app_context():
        job = Job.fetch(queue.job_id_for(run_id), connection=queue.redis_manager().client)
    assert job.enqueued_at is not None
    stamp = job.enqueued_at
    return stamp if stamp.tzinfo is not None else stamp.replace(tzinfo=UTC)


def _finished_at(app: Flask, run_id: int) -> datetime:
    finished = fresh_run(app, run_id).finished_at
    assert finished is not None
    return finished


def _long(medium_file: bytes) -> bytes:
    """Four times the medium file's rows (`4 * MEDIUM_ROWS`): long enough to catch its horse."""
    return medium_file + b"".join([medium_file.split(b"\r\n", 1)[1]] * 3)


def _wait_processing(app: Flask, run_id: int) -> None:
    wait_for(lambda: fresh_run(app, run_id).processed_rows > 0, 60, 0.05)


def _assert_all_completed_once(app: Flask, runs: dict[int, int]) -> None:
    """Every run completed, exactly its rows, one attempt more than its faults at most."""
    for run_id, rows in runs.items():
        run = wait_final(app, run_id, timeout=180)
        assert run.status == "completed", (run_id, run.error_message)
        assert stored_rows(app, run_id) == rows == run.total_rows


def _assert_no_slot_held(app: Flask) -> None:
    """Every run is final: no rate-limit slot may stay held, nothing may wait for one."""
    with app.app_context():
        connection = queue.redis_manager().client

        def clean() -> bool:
            return all(registry.get_allowed_job_count() == 0
                       and registry.get_rate_limited_job_count() == 0
                       for registry in RateLimitRegistry.all(connection))

        wait_for(clean, 20, 0.2)  # a finishing horse releases just after the run's commit


def _place(client: FlaskClient, person: Person, run_id: int) -> tuple[str, int | None]:
    body = client.get(f"/api/validations/{run_id}", headers=person.headers).get_json()
    return body["status"], body["queuePosition"]


def _watch_places(client: FlaskClient, person: Person, run_ids: list[int],
                  until: float) -> dict[int, list[int]]:
    """Every place reported for each run while it is queued, polled every 50 ms."""
    seen: dict[int, list[int]] = {run_id: [] for run_id in run_ids}
    waiting = set(run_ids)
    while waiting and time.monotonic() < until:
        for run_id in list(waiting):
            status, place = _place(client, person, run_id)
            if status == "queued" and place is not None:
                seen[run_id].append(place)
            elif status != "queued":
                waiting.discard(run_id)
        time.sleep(0.05)
    return seen


def test_a_capped_organizations_pile_does_not_hold_back_another_organization(
    fault_app: Flask, client: FlaskClient, workers: Workers, medium_file: bytes
) -> None:
    agency = _member(fault_app, "Agence A", cap=1)
    clinic = _member(fault_app, "Clinique B")
    workers(), workers()
    _wait_workers(fault_app, 2)
    pile = [_upload(client, agency, _long(medium_file))]
    pile += [_upload(client, agency, medium_file) for _ in range(5)]
    # A's running file is held (SIGSTOP, well under the 3 s stall) while B's goes: on a fast
    # machine it could otherwise end as B arrives, and A's next file rightly start first.
    with paused([_horse_once_started(fault_app, pile[0])]):
        small = _upload(client, clinic, SMALL)
        run = wait_final(fault_app, small, timeout=60)
    assert run.status == "completed" and run.started_at is not None
    waited = (run.started_at - run.created_at).total_seconds()
    print(f"\nB waited {waited:.2f} s for a worker behind A's {len(pile)} files")
    assert waited < 2
    second_started = fresh_run(fault_app, pile[1]).started_at  # not after A's files
    assert second_started is None or run.started_at < second_started
    # From now on nobody submits: each waiting file's place only goes down, to 1, then it
    # starts (B's arrival put it one place back: B was next, as it should be).
    places = _watch_places(client, agency, pile[1:], time.monotonic() + 150)
    # A file that started before the first poll has no place to show; the last one always has.
    assert places[pile[-1]], pile[-1]
    for run_id, seen in places.items():
        if not seen:
            continue
        assert all(later <= earlier for earlier, later in itertools.pairwise(seen)), (run_id, seen)
        assert seen[-1] == 1, (run_id, seen)
    _assert_all_completed_once(fault_app, {**dict.fromkeys(pile, MEDIUM_ROWS),
                                           pile[0]: 4 * MEDIUM_ROWS})
    starts = [_started_at(fault_app, run_id) for run_id in pile]
    assert starts == sorted(starts)  # one at a time, in order
    for earlier, later in itertools.pairwise(pile):  # never two of A's at once
        finished = fresh_run(fault_app, earlier).finished_at
        assert finished is not None and finished <= _started_at(fault_app, later)
    _assert_no_slot_held(fault_app)


def test_a_priority_file_submitted_after_six_waiting_files_starts_next(
    fault_app: Flask, client: FlaskClient, workers: Workers, medium_file: bytes
) -> None:
    standard = _member(fault_app, "Clinique ordinaire", cap=10)
    vip = _member(fault_app, "Clinique prioritaire", Plan.PRIORITY)
    workers()
    _wait_workers(fault_app, 1)
    line = [_upload(client, standard, medium_file) for _ in range(7)]
    _wait_processing(fault_app, line[0])
    assert [fresh_run(fault_app, run_id).status for run_id in line[1:]] == ["queued"] * 6
    urgent = _upload(client, vip, SMALL)
    enqueued = _enqueued_at(fault_app, urgent)
    assert _place(client, vip, urgent) == ("queued", 1)
    assert fresh_run(fault_app, urgent).queue == queue.queue_names(
        fault_app.config["VALIDATEUR_QUEUE"])[0]
    run = wait_final(fault_app, urgent, timeout=120)
    assert run.status == "completed" and run.started_at is not None
    _assert_all_completed_once(fault_app, {**dict.fromkeys(line, MEDIUM_ROWS), urgent: 10})
    # The worker may have finished the first file and taken the next one while the priority
    # file was being uploaded (its run exists before its job is queued: on a slow machine
    # a standard file started in between): what started before its job was queued goes
    # first, nothing else.
    ahead = [run_id for run_id in line if _started_at(fault_app, run_id) < enqueued]
    behind = [run_id for run_id in line if run_id not in ahead]
    assert 1 <= len(ahead) <= 2 and len(behind) >= 5
    assert all(run.started_at < _started_at(fault_app, run_id) for run_id in behind)
    last_ahead_done = max(_finished_at(fault_app, run_id) for run_id in ahead)
    assert last_ahead_done <= run.started_at
    waited = (run.started_at - run.created_at).total_seconds()
    after = (run.started_at - last_ahead_done).total_seconds()
    print(f"\npriority file waited {waited:.2f} s (the running file's end), started "
          f"{after:.2f} s after it; {len(behind)} standard files waited behind it")
    _assert_no_slot_held(fault_app)


def _horse_once_started(app: Flask, run_id: int) -> psutil.Process:
    """The run's work-horse as soon as its job names it (its first progress write, after
    2,000 rows), polled every 10 ms: a test stopping it needs a file that lasts far longer
    than that (a 25,000-row file ends in about 0.3 s on a quiet machine; `_long` in ~1 s)."""
    with app.app_context():
        job = Job.fetch(queue.job_id_for(run_id), connection=queue.redis_manager().client)
        wait_for(lambda: "pid" in job.get_meta(refresh=True), 60, 0.01)
        return psutil.Process(int(job.get_meta()["pid"]))


def test_a_worker_killed_while_runs_wait_for_a_slot_loses_and_leaks_nothing(
    fault_app: Flask, client: FlaskClient, workers: Workers, medium_file: bytes
) -> None:
    agency = _member(fault_app, "Agence tuée", cap=1)
    workers(), workers()
    _wait_workers(fault_app, 2)
    pile = [_upload(client, agency, _long(medium_file))]
    pile += [_upload(client, agency, medium_file) for _ in range(2)]
    owner = _horse_once_started(fault_app, pile[0]).parent()
    assert owner is not None
    for process in [owner, *owner.children(recursive=True)]:
        process.kill()  # worker, horse and scheduler at once: no callback runs
    workers()
    _assert_all_completed_once(fault_app, {**dict.fromkeys(pile, MEDIUM_ROWS),
                                           pile[0]: 4 * MEDIUM_ROWS})
    assert fresh_run(fault_app, pile[0]).attempts == 2
    _assert_no_slot_held(fault_app)


def test_redis_restarted_while_runs_wait_for_a_slot_loses_and_leaks_nothing(
    fault_app: Flask, client: FlaskClient, workers: Workers, medium_file: bytes,
    own_redis: EmbeddedRedis
) -> None:
    """Redis stays away until the running file is done: its horse ends, and its worker
    finds no Redis to report to, while the two others wait for the slot Redis then forgets.

    The worker stays up (it used to exit, « Redis est injoignable »), registers again, and
    its sweeper gives the forgotten runs new jobs, on their queue and under their cap."""
    agency = _member(fault_app, "Agence amnésique", cap=1)
    worker = workers()
    _wait_workers(fault_app, 1)
    pile = [_upload(client, agency, medium_file) for _ in range(3)]
    _wait_processing(fault_app, pile[0])
    own_redis.stop()  # not persistent: every job, list and slot is forgotten
    try:
        assert wait_final(fault_app, pile[0], timeout=60).status == "completed"
        time.sleep(1)  # the worker meets the outage between jobs too
        assert worker.poll() is None
    finally:
        own_redis.start()
    _assert_all_completed_once(fault_app, dict.fromkeys(pile, MEDIUM_ROWS))
    _assert_no_slot_held(fault_app)
    assert worker.poll() is None
    _wait_workers(fault_app, 1)  # registered again in the new Redis


def test_a_hung_redis_under_waiting_runs_does_not_stop_the_worker(
    fault_app: Flask, client: FlaskClient, workers: Workers, medium_file: bytes,
    own_redis: EmbeddedRedis
) -> None:
    """Redis stopped by SIGSTOP for a few seconds (longer than every client timeout of the
    app's, far shorter than the worker's): nothing is lost or doubled, the worker goes on.

    The running horse's progress waits for Redis (its job's meta) longer than the fault
    tests' 3 s stall, so the sweeper may find it stuck and give its run a second attempt;
    the waiting runs need none."""
    agency = _member(fault_app, "Agence suspendue", cap=1)
    worker = workers()
    _wait_workers(fault_app, 1)
    pile = [_upload(client, agency, medium_file) for _ in range(3)]
    _wait_processing(fault_app, pile[0])
    assert own_redis.process is not None
    with paused([psutil.Process(own_redis.process.pid)]):
        time.sleep(HANG_SECONDS)
        assert worker.poll() is None
    _assert_all_completed_once(fault_app, dict.fromkeys(pile, MEDIUM_ROWS))
    attempts = [fresh_run(fault_app, run_id).attempts for run_id in pile]
    assert attempts[0] in (1, 2) and attempts[1:] == [1, 1], attempts
    _assert_no_slot_held(fault_app)
    assert worker.poll() is None


def test_a_deploys_hand_back_keeps_the_slot_and_the_place(
    fault_app: Flask, client: FlaskClient, workers: Workers, medium_file: bytes
) -> None:
    """The running horse is stopped (SIGSTOP) before the SIGTERM, so its job cannot finish
    within the 2 s grace however fast the machine is (a file four times the medium one once
    did, on a quiet machine); the worker then SIGKILLs it and hands the job back."""
    agency = _member(fault_app, "Agence déployée", cap=1)
    worker = workers()
    _wait_workers(fault_app, 1)
    first = _upload(client, agency, _long(medium_file))
    second = _upload(client, agency, SMALL)
    with paused([_horse_once_started(fault_app, first)]):
        worker.send_signal(signal.SIGTERM)
        assert worker.wait(30) == 0
    with fault_app.app_context():
        connection = queue.redis_manager().client
        organization_id = fresh_run(fault_app, first).organization_id
        assert organization_id is not None
        registry = RateLimitRegistry(queue.rate_limit_key(organization_id), connection)
        assert registry.get_allowed_job_ids() == [queue.job_id_for(first)]
        assert registry.get_rate_limited_job_ids() == [queue.job_id_for(second)]
        assert queue.get_queue().job_ids == [queue.job_id_for(first)]
    assert _place(client, agency, first) == ("queued", 1)
    assert _place(client, agency, second) == ("queued", 2)
    workers()
    _assert_all_completed_once(fault_app, {first: 4 * MEDIUM_ROWS, second: 10})
    assert _started_at(fault_app, first) < _started_at(fault_app, second)
    assert fresh_run(fault_app, first).attempts == 2
    _assert_no_slot_held(fault_app)
