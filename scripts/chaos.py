"""Chaos run: the fault scenarios of the test suite against a whole running stack.

Brings up a stack of its own (`validateur.stack.OwnStack`: gunicorn, two `validateur worker`
processes, a Redis server it can stop, a fresh database on DATABASE_URL's server, else
127.0.0.1:5432, else an embedded PostgreSQL) with the fault tests' `FAST_FAULT_TIMINGS`,
submits real uploads through the HTTP API, injects one fault per scenario while they run
(four of them while runs wait for their organization's only slot, RQ's rate limit: then no
slot may stay held by a dead job either, and Redis restarted or hung must not stop a
worker), waits for every run to end, and prints a table: scenario, runs submitted,
completed, failed as expected, rows lost, rows duplicated. Exit code 1 if any run ended in
an unexpected state or any row was lost or duplicated.

Usage: ./scripts/chaos [--runs N] [--rows N] [--only TEXT] [--production-timings]
"""

from __future__ import annotations

import argparse
import json
import secrets
import signal
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import psutil
import psycopg
from make_sample_csv import write_sample
from redis import Redis
from rq.job import Job
from rq.rate_limit import RateLimitRegistry

from validateur.queue import job_id_for
from validateur.receiver import Receiver
from validateur.stack import FAST_FAULT_TIMINGS, OwnStack, StackApi


@dataclass
class Outcome:
    scenario: str
    submitted: int = 0
    completed: int = 0
    failed_as_expected: int = 0
    unexpected: int = 0
    rows_lost: int = 0
    rows_duplicated: int = 0
    resumed_after: list[float] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def horse_of(stack: OwnStack, run_id: int) -> psutil.Process:
    """The work-horse running the run's job (its pid is in the job's progress meta)."""
    job = Job.fetch(job_id_for(run_id), connection=Redis.from_url(stack.redis.url))
    return psutil.Process(int(job.get_meta(refresh=True)["pid"]))


# -- scenarios: each returns the expected final status ----------------------------------------
def kill_horse(stack: OwnStack, run_id: int) -> str:
    horse_of(stack, run_id).kill()
    return "completed"


def lose_worker(stack: OwnStack, run_id: int) -> str:
    owner = horse_of(stack, run_id).parent()
    if owner is not None:
        for process in [owner, *owner.children(recursive=True)]:
            process.kill()
    stack.add_worker()
    return "completed"


def deploy_sigterm(stack: OwnStack, run_id: int) -> str:
    owner = horse_of(stack, run_id).parent()
    if owner is not None:
        owner.send_signal(signal.SIGTERM)
    stack.add_worker()
    return "completed"


def cut_database(stack: OwnStack, run_id: int) -> str:
    with psycopg.connect(stack.database_url, autocommit=True) as conn:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                     "WHERE datname = current_database() AND pid <> pg_backend_pid()")
    return "completed"


def restart_redis(stack: OwnStack, run_id: int) -> str:
    stack.redis.stop()
    time.sleep(1)
    stack.redis.start()
    return "completed"


def cancel(stack: OwnStack, run_id: int) -> str:
    stack.api.cancel(run_id)
    return "cancelled"


def _slots_held(stack: OwnStack) -> int:
    """Rate-limit slots held or waited for, once every run is final (should be none)."""
    connection = Redis.from_url(stack.redis.url)
    try:
        deadline = time.monotonic() + 20  # a finishing horse releases just after its commit
        while True:
            held = sum(r.get_allowed_job_count() + r.get_rate_limited_job_count()
                       for r in RateLimitRegistry.all(connection))
            if not held or time.monotonic() > deadline:
                return held
            time.sleep(0.2)
    finally:
        connection.close()


def hang_redis(stack: OwnStack, run_id: int) -> str:
    """Redis stopped (SIGSTOP) for `HANG_SECONDS`, then resumed: it keeps its data."""
    assert stack.redis.process is not None
    server = psutil.Process(stack.redis.process.pid)
    server.suspend()
    try:
        time.sleep(HANG_SECONDS)
    finally:
        server.resume()
    return "completed"


def play_waiting(stack: OwnStack, name: str, hurt: Callable[[OwnStack, int], str],
                 content: bytes, rows: int, behind: tuple[bytes, int], runs: int) -> Outcome:
    """The fault strikes while runs wait for their organization's only slot: the stack's
    organization is capped at 1, a file runs and two wait behind it (on no queue). In the
    scenarios of `WORKERS_SURVIVE`, a worker that exited is an unexpected outcome too."""
    outcome = Outcome(name)
    stack.cli("orgs", "set", STACK_ORGANIZATION, "--max-parallel", "1")
    try:
        for _ in range(runs):
            files = [(content, rows), behind, behind]
            ids: list[tuple[int, int]] = []
            for data, count in files:
                status, body = stack.api.upload(data)
                outcome.submitted += 1
                if status != 202:
                    outcome.unexpected += 1
                    outcome.notes.append(f"upload {status}")
                    continue
                ids.append((body["validationId"], count))
            if not ids:
                continue
            first = ids[0][0]
            stack.api.wait_processing(first)
            attempts = stack.api.run(first).get("attempts", 1)
            alive = stack.live_workers()
            hurt_at = time.monotonic()
            hurt(stack, first)
            outcome.resumed_after.append(_wait_new_attempt(stack, first, attempts, hurt_at))
            for run_id, count in ids:
                _score(outcome, stack, run_id, "completed", count)
            if held := _slots_held(stack):
                outcome.unexpected += 1
                outcome.notes.append(f"{held} rate-limit slot(s) still held or waited for")
            exited = [worker.pid for worker in alive if worker.poll() is not None]
            if exited and name in WORKERS_SURVIVE:
                outcome.unexpected += 1
                outcome.notes.append(f"worker(s) {exited} exited")
            while len(stack.live_workers()) < 2:
                stack.add_worker()
    finally:
        stack.cli("orgs", "set", STACK_ORGANIZATION, "--max-parallel", "2")
    return outcome


SCENARIOS: dict[str, Callable[[OwnStack, int], str]] = {
    "work-horse SIGKILL": kill_horse,
    "worker lost (SIGKILL all)": lose_worker,
    "deploy (SIGTERM, 2 s grace)": deploy_sigterm,
    "PostgreSQL connections cut": cut_database,
    "Redis restarted (data lost)": restart_redis,
    "cancel while running": cancel,
}
#: Faults struck while two runs wait for their organization's slot (`play_waiting`).
WAITING_SCENARIOS: dict[str, Callable[[OwnStack, int], str]] = {
    "worker SIGKILL, runs waiting for a slot": lose_worker,
    "deploy (SIGTERM), runs waiting for a slot": deploy_sigterm,
    "Redis restarted, runs waiting for a slot": restart_redis,
    "Redis hung (SIGSTOP), runs waiting for a slot": hang_redis,
}
#: Waiting scenarios after which every worker must still be running.
WORKERS_SURVIVE = {"Redis restarted, runs waiting for a slot",
                   "Redis hung (SIGSTOP), runs waiting for a slot"}
#: How long `hang_redis` keeps Redis stopped: past the app's client timeouts (5 s at most).
HANG_SECONDS = 6
#: The organization `OwnStack`'s user was given (named after its e-mail).
STACK_ORGANIZATION = "stack@exemple.test"


def play(stack: OwnStack, name: str, hurt: Callable[[OwnStack, int], str], content: bytes,
         rows: int, runs: int) -> Outcome:
    outcome = Outcome(name)
    for _ in range(runs):
        status, body = stack.api.upload(content)
        outcome.submitted += 1
        if status != 202:
            outcome.unexpected += 1
            outcome.notes.append(f"upload {status}")
            continue
        run_id = body["validationId"]
        stack.api.wait_processing(run_id)
        attempts = stack.api.run(run_id).get("attempts", 1)
        hurt_at = time.monotonic()
        expected = hurt(stack, run_id)
        if expected == "completed":
            outcome.resumed_after.append(_wait_new_attempt(stack, run_id, attempts, hurt_at))
        _score(outcome, stack, run_id, expected, rows)
        while len(stack.live_workers()) < 2:
            stack.add_worker()
    return outcome


def _wait_new_attempt(stack: OwnStack, run_id: int, attempts: int, since: float) -> float:
    """Seconds from the fault until a new attempt started (or the run ended untouched)."""
    deadline = since + 180
    while time.monotonic() < deadline:
        run = stack.api.run(run_id)
        if run.get("attempts", 0) > attempts or run.get("status") == "completed":
            return time.monotonic() - since
        time.sleep(0.1)
    return float("nan")


def _score(outcome: Outcome, stack: OwnStack, run_id: int, expected: str, rows: int) -> None:
    final = stack.api.wait_final(run_id)
    stored = stack.stored_rows(run_id)
    want = rows if expected == "completed" else 0
    outcome.rows_lost += max(want - stored, 0)
    outcome.rows_duplicated += max(stored - want, 0)
    if final.get("status") != expected:
        outcome.unexpected += 1
        outcome.notes.append(f"run {run_id}: {final.get('status')}")
    elif expected == "completed":
        outcome.completed += 1
    else:
        outcome.failed_as_expected += 1


def bad_input(stack: OwnStack, runs: int) -> Outcome:
    """Malformed files: a 4xx at upload or a failed run, each counted as failed as expected."""
    outcome = Outcome("bad input (binary, gzip, no columns)")
    files = [b"\x89PNG\r\n\x1a\n" + bytes(range(256)), b"\x1f\x8b\x08\x00" + bytes(64),
             b"nom,prenom\r\nDoe,Jane\r\n"]
    for content in (files * runs)[: max(runs, len(files))]:
        status, body = stack.api.upload(content)
        outcome.submitted += 1
        if status == 400:
            outcome.failed_as_expected += 1
        elif status == 202:
            _score(outcome, stack, body["validationId"], "failed", 0)
        else:
            outcome.unexpected += 1
    return outcome


def redis_down_uploads(stack: OwnStack, runs: int) -> Outcome:
    outcome = Outcome("upload while Redis is down")
    good = ("#,Facture,ID RAMQ,Date de Service,Code,Montant Preliminaire,Montant payé,"
            "Doctor Info,Patient\r\n1,F1,1,2025-01-06,15804,\"49,15\",\"49,15\","
            "\"1000000-10000 | X, Y - Omni\",\"TEST00000001 - X, Y\"\r\n").encode()
    stack.redis.stop()
    try:
        for _ in range(runs):
            status, _ = stack.api.upload(good)
            outcome.submitted += 1
            if status == 503:
                outcome.failed_as_expected += 1
            else:
                outcome.unexpected += 1
    finally:
        stack.redis.start()
    return outcome


NOTIFY_SCENARIO = "notification: worker SIGKILL mid-delivery"
SMALL_FILE = ("#,Facture,ID RAMQ,Date de Service,Code,Montant Preliminaire,Montant payé,"
              "Doctor Info,Patient\r\n1,F1,1,2025-01-06,15804,\"49,15\",\"49,15\","
              "\"1000000-10000 | X, Y - Omni\",\"TEST00000001 - X, Y\"\r\n").encode()


def _deliveries(stack: OwnStack, run_id: int) -> list[tuple[str, int]]:
    with psycopg.connect(stack.database_url) as conn:
        rows = conn.execute("SELECT state, attempts FROM notifications WHERE "
                            "validation_run_id = %s AND webhook_id IS NOT NULL", (run_id,))
        return [(str(state), int(attempts)) for state, attempts in rows.fetchall()]


def _requests_for(receiver: Receiver, run_id: int) -> list[str]:
    return [got.headers.get("webhook-id", "") for got in list(receiver.received)
            if got.verified and got.payload["data"].get("validationId") == run_id]


def _wait(predicate: Callable[[], bool], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def notification_worker_killed(stack: OwnStack, runs: int) -> Outcome:
    """A run completes; its webhook's receiver holds the first POST unanswered; every worker
    is SIGKILLed (horses too) meanwhile. Expected: the sweeper gives the outbox row a new
    job, the receiver gets the same `webhook-id` again, and the row is delivered once.
    `resumed after` is the time from the kill to the second arrival."""
    outcome = Outcome(NOTIFY_SCENARIO)
    hooked = _manager_with_webhook(stack, "gestion@exemple.test", "validation.completed",
                                   outcome)
    if hooked is None:
        return outcome
    _, receiver, _ = hooked
    try:
        for _ in range(runs):
            _notify_once(stack, receiver, outcome)
    finally:
        _unhook(hooked, outcome)
    return outcome


#: A manager's API, the loopback receiver of its webhook, and the webhook's id.
Hooked = tuple[StackApi, Receiver, int]


def _manager_with_webhook(stack: OwnStack, email: str, event: str,
                          outcome: Outcome) -> Hooked | None:
    """A manager of the stack's organization, its API, and a loopback receiver its webhook
    for `event` posts to (verifying signatures). None, counted as unexpected, when the
    registration is refused; the caller ends with `_unhook`."""
    stack.cli("users", "create", email, "--role", "manager", "--org", STACK_ORGANIZATION,
              "--password", secrets.token_hex(8))
    token = stack.cli("tokens", "create", email).strip().splitlines()[-1]
    manager = StackApi(stack.api.base, token)
    receiver = Receiver().up()
    try:
        status, hook = manager.call("/api/webhooks", json.dumps(
            {"url": receiver.url, "events": [event]}).encode(), "application/json")
    except BaseException:
        receiver.down()
        raise
    if status != 201:
        receiver.down()
        outcome.notes.append(f"webhook registration {status}")
        outcome.unexpected += 1
        return None
    receiver.secret = hook["secret"]
    return manager, receiver, int(hook["id"])


def _unhook(hooked: Hooked, outcome: Outcome) -> None:
    """Delete the webhook, then take its receiver down: a webhook left registered in the
    stack's organization would keep the next scenario's runs and batches `pending` towards
    a receiver that is gone (a refused delete counts as unexpected)."""
    manager, receiver, hook_id = hooked
    try:
        status, _ = manager.call(f"/api/webhooks/{hook_id}", method="DELETE")
        if status != 204:
            outcome.unexpected += 1
            outcome.notes.append(f"webhook delete {status}")
    finally:
        receiver.down()


def _notify_once(stack: OwnStack, receiver: Receiver, outcome: Outcome) -> None:
    receiver.delays = [60.0]
    status, body = stack.api.upload(SMALL_FILE)
    outcome.submitted += 1
    run_id = body.get("validationId", 0)
    if status != 202 or stack.api.wait_final(run_id).get("status") != "completed":
        outcome.unexpected += 1
        outcome.notes.append(f"run {run_id}: not completed")
        return
    if not _wait(lambda: len(_requests_for(receiver, run_id)) >= 1, 60):
        outcome.unexpected += 1
        outcome.notes.append(f"run {run_id}: no first delivery attempt")
        return
    killed_at = time.monotonic()
    for worker in stack.live_workers():
        for process in psutil.Process(worker.pid).children(recursive=True):
            process.kill()
        worker.kill()
        worker.wait(10)
    while len(stack.live_workers()) < 2:
        stack.add_worker()
    arrived = _wait(lambda: len(_requests_for(receiver, run_id)) >= 2, 120)
    outcome.resumed_after.append(time.monotonic() - killed_at if arrived else float("nan"))
    _wait(lambda: _deliveries(stack, run_id) == [("delivered", 1)], 30)
    ids = set(_requests_for(receiver, run_id))
    if _deliveries(stack, run_id) == [("delivered", 1)] and len(ids) == 1:
        outcome.completed += 1
    else:
        outcome.unexpected += 1
        outcome.notes.append(f"run {run_id}: deliveries {_deliveries(stack, run_id)}, "
                             f"{len(ids)} webhook-id(s)")


BATCH_SCENARIO = "batch: worker SIGKILL mid-batch"
BATCH_MANAGER = "lots@exemple.test"


def _batch_upload(api: StackApi, files: list[bytes]) -> tuple[int, dict[str, Any]]:
    """POST /api/batches with the field `files` repeated (one part per file)."""
    boundary = secrets.token_hex(8)
    body = b"".join(
        f"--{boundary}\r\nContent-Disposition: form-data; name=\"files\"; "
        f"filename=\"fichier-{n}.csv\"\r\nContent-Type: text/csv\r\n\r\n".encode()
        + content + b"\r\n" for n, content in enumerate(files, 1))
    body += f"--{boundary}--\r\n".encode()
    return api.call("/api/batches", body, f"multipart/form-data; boundary={boundary}")


def _batch_rows(stack: OwnStack, batch_id: int) -> list[tuple[str, str, int]]:
    """(event, state, attempts) of the batch's webhook outbox rows."""
    with psycopg.connect(stack.database_url) as conn:
        rows = conn.execute("SELECT event, state, attempts FROM notifications WHERE "
                            "batch_id = %s AND webhook_id IS NOT NULL", (batch_id,))
        return [(str(e), str(state), int(n)) for e, state, n in rows.fetchall()]


def _batch_arrivals(receiver: Receiver, batch_id: int) -> int:
    return sum(1 for got in list(receiver.received) if got.verified
               and got.payload["type"] == "batch.completed"
               and got.payload["data"].get("batchId") == batch_id)


def batch_worker_killed(stack: OwnStack, content: bytes, rows: int,
                        behind: tuple[bytes, int], runs: int) -> Outcome:
    """A batch of three files (the large one first); while the large one is processing, its
    worker and work-horse are SIGKILLed. Expected: every run completes once with exactly its
    rows, the batch's `finishedAt` is written once (one value seen, polled until a few
    sweeps after), and one signed `batch.completed` reaches the receiver, delivered at the
    first attempt. `submitted` counts the batches' runs."""
    outcome = Outcome(BATCH_SCENARIO)
    hooked = _manager_with_webhook(stack, BATCH_MANAGER, "batch.completed", outcome)
    if hooked is None:
        return outcome
    manager, receiver, _ = hooked
    try:
        for _ in range(runs):
            _batch_once(stack, manager, receiver, outcome, [(content, rows), behind, behind])
    finally:
        _unhook(hooked, outcome)
    return outcome


def _batch_once(stack: OwnStack, manager: StackApi, receiver: Receiver, outcome: Outcome,
                files: list[tuple[bytes, int]]) -> None:
    status, body = _batch_upload(manager, [data for data, _ in files])
    outcome.submitted += len(files)
    if status != 202 or len(body.get("runs", [])) != len(files):
        outcome.unexpected += len(files)
        outcome.notes.append(f"batch upload {status}")
        return
    batch_id = body["batchId"]
    ids = [run["validationId"] for run in body["runs"]]
    stack.api.wait_processing(ids[0])
    attempts = stack.api.run(ids[0]).get("attempts", 1)
    hurt_at = time.monotonic()
    lose_worker(stack, ids[0])
    outcome.resumed_after.append(_wait_new_attempt(stack, ids[0], attempts, hurt_at))
    for run_id, (_, count) in zip(ids, files, strict=True):
        _score(outcome, stack, run_id, "completed", count)
    seen: set[str] = set()
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not seen:
        if finished := manager.call(f"/api/batches/{batch_id}")[1].get("finishedAt"):
            seen.add(finished)
        time.sleep(0.2)
    arrived = _wait(lambda: _batch_arrivals(receiver, batch_id) >= 1, 60)
    for _ in range(20):  # four sweeps more (1 s each with the fast timings): nothing moves
        seen.add(manager.call(f"/api/batches/{batch_id}")[1].get("finishedAt") or "")
        time.sleep(0.2)
    batch = manager.call(f"/api/batches/{batch_id}")[1]
    problems = []
    if len(seen) != 1 or batch.get("status") != "completed":
        problems.append(f"status {batch.get('status')}, finishedAt values {sorted(seen)}")
    if not arrived or _batch_arrivals(receiver, batch_id) != 1:
        problems.append(f"{_batch_arrivals(receiver, batch_id)} batch.completed received")
    if _batch_rows(stack, batch_id) != [("batch.completed", "delivered", 1)]:
        problems.append(f"outbox {_batch_rows(stack, batch_id)}")
    if problems:
        outcome.unexpected += 1
        outcome.notes.append(f"batch {batch_id}: " + "; ".join(problems))
    while len(stack.live_workers()) < 2:
        stack.add_worker()


def print_table(outcomes: list[Outcome]) -> None:
    header = ("scenario", "submitted", "completed", "failed as expected", "unexpected",
              "rows lost", "rows duplicated", "resumed after (s)")
    widths = [max(len(header[0]), *(len(o.scenario) for o in outcomes)), 9, 9, 18, 10, 9, 15,
              17]
    print(" | ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    print("-+-".join("-" * w for w in widths))
    for o in outcomes:
        resumed = ", ".join(f"{s:.1f}" for s in o.resumed_after) or "-"
        cells = (o.scenario, o.submitted, o.completed, o.failed_as_expected, o.unexpected,
                 o.rows_lost, o.rows_duplicated, resumed)
        print(" | ".join(str(c).ljust(w) for c, w in zip(cells, widths, strict=True)))
        for note in o.notes:
            print(f"    ! {note}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=2, help="runs per scenario")
    parser.add_argument("--rows", type=int, default=150_000, help="rows of the file")
    parser.add_argument("--only", default="", help="run only scenarios containing this text")
    parser.add_argument("--production-timings", action="store_true",
                        help="keep the default stall/sweep/grace/retry timings (slow)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="validateur-chaos-") as tmp:
        work = Path(tmp)
        sample = work / "sample.csv"
        write_sample(sample, args.rows, encoding="cp1252", delimiter=";")
        content = sample.read_bytes()
        small_rows = max(1_000, args.rows // 10)
        write_sample(work / "small.csv", small_rows, encoding="cp1252", delimiter=";")
        behind = ((work / "small.csv").read_bytes(), small_rows)
        timings = {} if args.production_timings else FAST_FAULT_TIMINGS
        # The webhook receiver of the notification scenario listens on loopback.
        stack = OwnStack(work, {**timings, "VALIDATEUR_WEBHOOK_ALLOW_PRIVATE": "1"})
        stack.start()
        try:
            outcomes = [play(stack, name, hurt, content, args.rows, args.runs)
                        for name, hurt in SCENARIOS.items() if args.only in name]
            outcomes += [play_waiting(stack, name, hurt, content, args.rows, behind, args.runs)
                         for name, hurt in WAITING_SCENARIOS.items() if args.only in name]
            if not args.only:
                outcomes.append(redis_down_uploads(stack, args.runs))
                outcomes.append(bad_input(stack, args.runs))
            if args.only in NOTIFY_SCENARIO:
                outcomes.append(notification_worker_killed(stack, args.runs))
            if args.only in BATCH_SCENARIO:
                outcomes.append(batch_worker_killed(stack, content, args.rows, behind,
                                                    args.runs))
        finally:
            stack.stop()
    print_table(outcomes)
    bad = any(o.unexpected or o.rows_lost or o.rows_duplicated for o in outcomes)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
