"""No file name and no cell reaches a job's description, meta or exception.

rq-dashboard renders a job's description, meta and exception text unescaped (its issue
#526), so whatever a job carries must be ours: a file whose name and cells hold canaries
runs to completion and to failure through a real `rq worker`; then every Redis key and
value of each job, and what the dashboard serves about it, are searched for the canaries.
"""

from __future__ import annotations

import contextlib
import subprocess
import zlib
from typing import Any

import pytest
from flask import Flask
from redis import Redis

from tests.support.api import Person, upload_csv
from tests.support.csvfiles import act, billing_csv
from tests.workers import wait_final

pytestmark = pytest.mark.e2e
FILE_CANARY = "ZQXWFILENAME"
CELL_CANARIES = ["ZQXWCANARYLAST", "ZQXW12345678", "<img src=x onerror=alert(1)>"]
CANARIES = [FILE_CANARY, *CELL_CANARIES]


def _rows(count: int) -> list[dict[str, str]]:
    return [act(n, Patient="ZQXW12345678 - ZQXWCANARYLAST, <img src=x onerror=alert(1)>")
            for n in range(1, count + 1)]


def _texts(blob: bytes) -> list[bytes]:
    texts = [blob]
    with contextlib.suppress(zlib.error):
        texts.append(zlib.decompress(blob))  # RQ stores job data compressed
    return texts


def _job_values(client: Redis, job_id: str) -> list[bytes]:
    """Every key naming the job and every value under it, plus registry members."""
    values: list[bytes] = []
    for key in client.scan_iter(count=1000):
        kind = client.type(key).decode()
        if job_id.encode() not in key and kind != "zset":
            continue
        values.append(key)
        if kind == "string":
            values.append(client.get(key) or b"")
        elif kind == "hash":
            values += [v for pair in client.hgetall(key).items() for v in pair]
        elif kind == "zset":
            values += client.zrange(key, 0, -1)
        elif kind == "stream":
            values += [v for _, fields in client.xrange(key) for pair in fields.items()
                       for v in pair]
        elif kind == "list":
            values += client.lrange(key, 0, -1)
    return values


def _leaks(blobs: list[bytes]) -> list[str]:
    return [c for blob in blobs for text in _texts(blob) for c in CANARIES
            if c.encode() in text or c.encode("cp1252") in text]


def test_file_names_and_cells_never_reach_a_job(
        app: Flask, editor: Person, make_person: Any, service_env: dict[str, str],
        rq_worker: subprocess.Popen[bytes]) -> None:
    client = app.test_client()
    name = f"{FILE_CANARY}-<img src=x onerror=alert(2)>.csv"
    done = upload_csv(client, editor, billing_csv(_rows(20)), name=name).get_json()
    failing = upload_csv(client, editor, billing_csv(_rows(3)) + b'4,"ZQXWCANARYLAST'
                         + b"x" * 1_500_000, name=name).get_json()
    assert wait_final(app, done["validationId"]).status == "completed"
    assert wait_final(app, failing["validationId"]).status == "failed"
    shown = client.get(f"/api/validations/{done['validationId']}", headers=editor.headers)
    assert FILE_CANARY in shown.get_json()["fileName"]  # the canaries really went in

    redis = Redis.from_url(service_env["REDIS_URL"])
    admin = make_person("admin")
    dashboard = app.test_client()
    dashboard.post("/login", data={"email": admin.email, "password": admin.password})
    queue = app.config["VALIDATEUR_QUEUE"]
    blobs: list[bytes] = []
    for answer in (done, failing):
        job_id = answer["jobId"]
        values = _job_values(redis, job_id)
        assert any(job_id.encode() in v for v in values)
        blobs += values
        blobs.append(dashboard.get(f"/admin/rq/0/data/job/{job_id}.json").get_data())
    for registry in ("finished", "failed"):
        listing = dashboard.get(f"/admin/rq/0/data/jobs/{queue}/{registry}/50/asc/1.json")
        assert listing.status_code == 200
        blobs.append(listing.get_data())
    assert _leaks(blobs) == []
