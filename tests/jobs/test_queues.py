"""Queues and caps without a worker: where `enqueue_validation` puts a run, what RQ's rate
limit holds back, the place in line computed from both, a changed cap, and the sweeper on
jobs that wait for a slot or were orphaned by a `BLPOP`.

Real Redis (the session's), real PostgreSQL; jobs are only enqueued and inspected here.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from flask.testing import FlaskClient
from redis import Redis
from rq.executions import Execution
from rq.job import Job, JobStatus
from rq.rate_limit import RateLimitRegistry
from rq.utils import utcformat

from tests.support.runs import make_run
from validateur import auth, organizations, positions, queue
from validateur.extensions import db
from validateur.maintenance import run_maintenance
from validateur.models import Organization, Plan, Role, User, utcnow

LONG_AGO = timedelta(minutes=10)


def _member(name: str, plan: Plan = Plan.STANDARD, cap: int = 1) -> tuple[Organization, User]:
    organization = organizations.create(name, plan, max_parallel=cap)
    db.session.commit()
    user, _ = auth.create_user(f"clerc@{name.lower().replace(' ', '-')}.test", Role.EDITOR,
                               organization=organization)
    return organization, user


def _submit(user: User, *, created_ago: timedelta = timedelta(0)) -> int:
    """A queued run placed as a submit places it, and its job enqueued."""
    organization = db.session.get(Organization, user.organization_id)
    assert organization is not None
    run_id = make_run("queued", user_id=user.id, queue=queue.queue_for_plan(organization.plan),
                      created_at=utcnow() - created_ago)
    queue.enqueue_validation(run_id)
    return run_id


def _connection() -> Redis:
    return queue.redis_manager().client


def _job(run_id: int) -> Job:
    return Job.fetch(queue.job_id_for(run_id), connection=_connection())


def _registry(organization: Organization) -> RateLimitRegistry:
    return RateLimitRegistry(queue.rate_limit_key(organization.id), _connection())


def test_a_priority_organizations_run_goes_to_the_priority_queue_with_its_cap(
        app_ctx: None) -> None:
    vip, vip_clerk = _member("Clinique VIP", Plan.PRIORITY, cap=3)
    _, clerk = _member("Clinique Ordinaire")
    first = _submit(vip_clerk)
    second = _submit(clerk)
    priority, standard = queue.queue_names()
    assert priority == standard + "-priority"
    job = _job(first)
    assert job.origin == priority and job.rate_limit_key == queue.rate_limit_key(vip.id)
    assert job.rate_limit_concurrency == 3
    assert _job(second).origin == standard
    assert queue.get_queue(name=priority).job_ids == [job.id]


def test_runs_beyond_the_cap_wait_on_no_queue_and_positions_count_them(
        app_ctx: None, client: FlaskClient, make_person: object) -> None:
    agency, agency_clerk = _member("Agence", cap=1)
    _, clinic_clerk = _member("Clinique")
    first, second, third = (_submit(agency_clerk, created_ago=timedelta(seconds=30 - n))
                            for n in range(3))
    other = _submit(clinic_clerk)
    standard = queue.get_queue()
    assert standard.job_ids == [queue.job_id_for(first), queue.job_id_for(other)]
    assert _job(second).get_status() == "rate_limited"
    held_back = _registry(agency).get_rate_limited_job_ids()  # in the order RQ admits them
    assert set(held_back) == {queue.job_id_for(second), queue.job_id_for(third)}
    # On the list: in its order; then each waiting run, in the order it will be admitted.
    waiting = {queue.run_id_of_job(job_id): place for place, job_id in enumerate(held_back, 3)}
    assert positions.queue_positions() == {first: 1, other: 2, **waiting}


def test_a_waiting_run_of_a_priority_organization_comes_before_standard_ones(
        app_ctx: None) -> None:
    _, vip_clerk = _member("VIP", Plan.PRIORITY, cap=1)
    _, clerk = _member("Ordinaire", cap=5)
    standard = [_submit(clerk) for _ in range(2)]
    vip = [_submit(vip_clerk) for _ in range(2)]
    places = positions.queue_positions()
    assert places[vip[0]] == 1 and places[vip[1]] == 2  # the second waits, ahead anyway
    assert {places[run] for run in standard} == {3, 4}


def test_rounds_interleave_organizations_waiting_for_their_slots(app_ctx: None) -> None:
    _, a = _member("A", cap=1)
    _, b = _member("B", cap=1)
    runs_a = [_submit(a, created_ago=timedelta(seconds=60 - n)) for n in range(3)]
    runs_b = [_submit(b, created_ago=timedelta(seconds=30 - n)) for n in range(2)]
    places = positions.queue_positions()
    order = sorted(places, key=places.__getitem__)
    # listed: A1, B1; then the first waiting of each (A2, B2), then A3.
    assert order == [runs_a[0], runs_b[0], runs_a[1], runs_b[1], runs_a[2]]


def test_the_api_gives_queue_and_queue_position(client: FlaskClient, app_ctx: None) -> None:
    organization, clerk = _member("Clinique API", cap=1)
    token = auth.create_token(clerk)
    headers = {"Authorization": f"Bearer {token}"}
    first, second = _submit(clerk), _submit(clerk)
    body = client.get(f"/api/validations/{second}", headers=headers).get_json()
    assert body["queue"] == queue.queue_names()[1] and body["queuePosition"] == 2
    listed = client.get("/api/validations", headers=headers).get_json()["items"]
    assert {item["id"]: item["queuePosition"] for item in listed} == {first: 1, second: 2}
    done = make_run("completed", user_id=clerk.id)
    assert client.get(f"/api/validations/{done}", headers=headers).get_json()[
        "queuePosition"] is None
    assert organization.id is not None


def test_a_raised_cap_admits_waiting_jobs_at_once_and_is_written_on_them(app_ctx: None) -> None:
    organization, clerk = _member("Agence qui grandit", cap=1)
    runs = [_submit(clerk) for _ in range(3)]
    assert queue.get_queue().count == 1
    organizations.update(organization, max_parallel=3)
    assert queue.get_queue().count == 3
    assert {_job(run).rate_limit_concurrency for run in runs} == {3}
    assert _registry(organization).concurrency == 3
    organizations.update(organization, max_parallel=2)  # lowered: nothing already in is out
    assert queue.get_queue().count == 3
    assert {_job(run).rate_limit_concurrency for run in runs} == {2}


def test_the_sweeper_leaves_a_job_waiting_for_its_slot_alone(app_ctx: None) -> None:
    organization, clerk = _member("Agence patiente", cap=1)
    _submit(clerk, created_ago=LONG_AGO)
    waiting = _submit(clerk, created_ago=LONG_AGO)
    assert _job(waiting).get_status() == "rate_limited"
    for _ in range(2):
        report = run_maintenance()
        assert (report.requeued, report.failed) == ([], [])
    assert _registry(organization).get_rate_limited_job_ids() == [queue.job_id_for(waiting)]


@pytest.mark.parametrize("lost", ["orphan", "forgotten"])
def test_a_blpop_orphan_or_a_forgotten_job_is_requeued_and_its_slot_freed(
        app_ctx: None, lost: str) -> None:
    """A worker on two queues pops with BLPOP, then dies before registering the job: the job
    is `queued`, on no list, holding its slot. Two sweeps later it is back, holding one."""
    organization, clerk = _member(f"Agence {lost}", cap=1)
    run_id = _submit(clerk, created_ago=LONG_AGO)
    behind = _submit(clerk, created_ago=LONG_AGO)
    job_id = queue.job_id_for(run_id)
    connection = _connection()
    if lost == "orphan":
        assert connection.lrem(queue.get_queue().key, 0, job_id) == 1  # what BLPOP did
        assert run_maintenance().requeued == []  # first sight: maybe a worker in between
    else:
        connection.delete(Job.key_for(job_id))  # Redis lost the job itself
    assert run_maintenance().requeued == [run_id]
    registry = _registry(organization)
    # One slot, one holder, on the list once; the other waits. (Both entered the waiting set
    # in the same second here: RQ takes the smaller job id first.)
    holder, = registry.get_allowed_job_ids()
    other, = registry.get_rate_limited_job_ids()
    assert {holder, other} == {job_id, queue.job_id_for(behind)}
    assert queue.get_queue().job_ids == [holder]
    assert positions.queue_positions() == {queue.run_id_of_job(holder): 1,
                                           queue.run_id_of_job(other): 2}


@pytest.mark.parametrize("stage", ["popped", "started"])
def test_a_job_a_live_worker_is_starting_keeps_its_slot_however_slow_its_horse(
        app_ctx: None, stage: str) -> None:
    """A run that waited in line (its last sign of life is old) and whose job a live worker
    popped (RQ writes its execution before forking the horse), or whose horse started with
    an earlier attempt's start time still on the job (a deploy's hand-back): sweep after
    sweep, the job keeps its slot and the job behind it keeps waiting.

    The sweeper used to time the start instead: a popped job seen on no queue twice was an
    orphan, a started one older than the stall a lost one. Either way it freed the slot (the
    next job took it) and stopped the horse: what a slow fork on a loaded machine met.
    """
    organization, clerk = _member(f"Agence {stage}", cap=1)
    run_id = _submit(clerk, created_ago=LONG_AGO)
    behind = _submit(clerk, created_ago=LONG_AGO)
    job = _job(run_id)
    connection = _connection()
    assert connection.lrem(queue.get_queue().key, 0, job.id) == 1  # the worker's BLPOP
    with connection.pipeline() as pipe:
        Execution.create(job, ttl=70, pipeline=pipe, worker_name="worker-vivant")
        if stage == "started":
            pipe.hset(job.key, mapping={"status": JobStatus.STARTED.value,
                                        "started_at": utcformat(utcnow() - LONG_AGO)})
        pipe.execute()
    for _ in range(3):
        report = run_maintenance()
        assert (report.requeued, report.failed) == ([], [])
    registry = _registry(organization)
    assert registry.get_allowed_job_ids() == [job.id]
    assert registry.get_rate_limited_job_ids() == [queue.job_id_for(behind)]
    assert _job(run_id).get_status() == (JobStatus.STARTED if stage == "started"
                                         else JobStatus.QUEUED)


def test_the_sweeper_frees_a_slot_held_by_a_job_that_is_gone(app_ctx: None) -> None:
    organization, clerk = _member("Agence fantôme", cap=1)
    _submit(clerk)
    registry = _registry(organization)
    _connection().zadd(registry.allowed_key, {"validation-999999": 1})  # a finished job's
    run_maintenance()
    assert "validation-999999" not in registry.get_allowed_job_ids()


def test_one_sweeper_at_a_time(app_ctx: None) -> None:
    from validateur.maintenance import SWEEP_LOCK_KEY

    run_id = make_run("queued", created_at=utcnow() - LONG_AGO)  # no job: would be requeued
    _connection().set(SWEEP_LOCK_KEY, "another-worker", ex=30)
    assert run_maintenance().requeued == []
    _connection().delete(SWEEP_LOCK_KEY)
    assert run_maintenance().requeued == [run_id]
