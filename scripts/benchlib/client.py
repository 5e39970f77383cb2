"""The bench's HTTP client: a file streamed as `curl -F file=@path` would, and the times a
run's log lines carry, by their stable `event` key (never by their French text)."""

from __future__ import annotations

import http.client
import json
import urllib.parse
from datetime import datetime
from pathlib import Path
from typing import Any

from validateur.stack import StackApi, multipart_frame

UPLOAD_CHUNK_BYTES = 1024 * 1024
#: The `event` metadata of the job's log lines the phase split is timed from (jobs/validation.py).
JOB_STARTED, ROWS_STORED, JOB_ENDED = "job-started", "rows-stored", "job-ended"


def upload_file(api: StackApi, path: Path) -> tuple[int, dict[str, Any]]:
    """POST `path` as multipart, streamed from the file 1 MiB at a time, so building a body
    in the client's memory is not counted as upload time."""
    head, tail, content_type = multipart_frame(path.name)
    url = urllib.parse.urlsplit(api.base)
    connection = http.client.HTTPConnection(url.hostname or "127.0.0.1", url.port, timeout=600)
    try:
        connection.putrequest("POST", "/api/validations")
        connection.putheader("Authorization", f"Bearer {api.token}")
        connection.putheader("Content-Type", content_type)
        connection.putheader("Content-Length", str(len(head) + path.stat().st_size + len(tail)))
        connection.endheaders()
        connection.send(head)
        with path.open("rb") as source:
            while chunk := source.read(UPLOAD_CHUNK_BYTES):
                connection.send(chunk)
        connection.send(tail)
        response = connection.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        connection.close()


def parse_time(value: str | None) -> float | None:
    return datetime.fromisoformat(value).timestamp() if value else None


def event_times(api: StackApi, run_id: int) -> dict[str, float]:
    """First timestamp of each `event` of the run's log (lines without one are skipped)."""
    found: dict[str, float] = {}
    for item in api.logs(run_id):
        event = (item.get("metadata") or {}).get("event")
        stamp = parse_time(item.get("timestamp"))
        if event and stamp is not None:
            found.setdefault(str(event), stamp)
    return found
