"""A cancelled run's job is cancelled in RQ too: not counted as a failure, shown as cancelled.

First a queued run (no worker yet), then a running one (a real `rq worker`): after each
cancel, the job's status is `canceled`, it sits in RQ's cancelled registry, the failed
registry stays empty, and rq-dashboard's queue list counts it as cancelled, not failed.
"""

from __future__ import annotations

import subprocess
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from rq.job import Job
from rq.registry import CanceledJobRegistry, FailedJobRegistry

from tests.support.api import Person, upload_csv
from tests.support.csvfiles import act, billing_csv
from tests.workers import wait_final, wait_for
from validateur.queue import redis_manager

pytestmark = pytest.mark.e2e


def _registries(app: Flask) -> tuple[list[str], list[str]]:
    with app.app_context():
        connection, name = redis_manager().client, app.config["VALIDATEUR_QUEUE"]
        return (CanceledJobRegistry(name, connection=connection).get_job_ids(cleanup=False),
                FailedJobRegistry(name, connection=connection).get_job_ids(cleanup=False))


def _job_status(app: Flask, job_id: str) -> str:
    with app.app_context():
        return str(Job.fetch(job_id, connection=redis_manager().client).get_status().value)


def _dashboard_counts(app: Flask, admin: Person) -> dict[str, Any]:
    client = app.test_client()
    client.post("/login", data={"email": admin.email, "password": admin.password})
    queues = client.get("/admin/rq/0/data/queues.json").get_json()["queues"]
    mine = [q for q in queues if q["name"] == app.config["VALIDATEUR_QUEUE"]]
    return {"failed": mine[0]["failed_job_registry_count"],
            "canceled": mine[0]["canceled_job_registry_count"]}


def _cancel(client: FlaskClient, person: Person, run_id: int) -> None:
    response = client.post(f"/api/validations/{run_id}/cancel", headers=person.headers)
    assert response.status_code == 200
    assert response.get_json()["status"] == "cancelled"


def test_a_queued_run_cancelled_is_cancelled_in_rq(app: Flask, editor: Person,
                                                   make_person: Any) -> None:
    client = app.test_client()
    answer = upload_csv(client, editor, billing_csv([act(1)])).get_json()
    _cancel(client, editor, answer["validationId"])
    canceled, failed = _registries(app)
    assert answer["jobId"] in canceled and failed == []
    assert _job_status(app, answer["jobId"]) == "canceled"
    assert _dashboard_counts(app, make_person("admin")) == {"failed": 0,
                                                            "canceled": len(canceled)}


def test_a_running_run_cancelled_is_not_a_failure_in_rq(
        app: Flask, editor: Person, make_person: Any, rq_worker: subprocess.Popen[bytes]) -> None:
    client = app.test_client()
    big = billing_csv([act(n) for n in range(1, 60_001)], encoding="cp1252", delimiter=";")
    answer = upload_csv(client, editor, big).get_json()
    run_id, job_id = answer["validationId"], answer["jobId"]
    wait_for(lambda: client.get(f"/api/validations/{run_id}", headers=editor.headers
                                ).get_json()["status"] == "processing", 60, 0.05)
    _cancel(client, editor, run_id)
    assert wait_final(app, run_id).status == "cancelled"
    canceled, failed = _registries(app)
    assert job_id in canceled and failed == []
    assert _job_status(app, job_id) == "canceled"
    assert _dashboard_counts(app, make_person("admin")) == {"failed": 0,
                                                            "canceled": len(canceled)}
    # The worker is still serving: the next run completes.
    after = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    assert wait_final(app, after).status == "completed"
