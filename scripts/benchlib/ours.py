"""Our figure: one file from upload to `completed` through the HTTP API, split per phase.

The split is timed from what the run itself records: `createdAt`/`startedAt`/`finishedAt`,
the phases the client sees while polling, and the `event` key of the job's log lines
(`client.JOB_STARTED`, `ROWS_STORED`, `JOB_ENDED`).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchlib.client import (
    JOB_ENDED,
    JOB_STARTED,
    ROWS_STORED,
    event_times,
    parse_time,
    upload_file,
)
from benchlib.watchers import RssWatch
from validateur.stack import FINAL_STATUSES, OwnStack

STATUS_POLL_SECONDS = 0.1


@dataclass
class OurRun:
    rows: int
    status: str
    e2e: float  # POST sent → finishedAt (the moment the run became completed)
    seen: float  # POST sent → the client saw `completed` (polling every 100 ms)
    stored: int
    findings: int
    horse_peak: int
    horse_peak_reading: int  # until the phase `validating` was seen: rows read and fed
    horses: int
    worker_rss: int
    split: list[tuple[str, float]]


def ours(stack: OwnStack, path: Path, rows: int) -> OurRun:
    """Upload `path` and follow it to its final status, timing each phase."""
    workers = [w.pid for w in stack.live_workers()]
    seen_phase: dict[str, float] = {}
    with RssWatch(workers) as rss:
        posted = time.time()
        status, body = upload_file(stack.api, path)
        answered = time.time()
        if status != 202:
            raise RuntimeError(f"upload refused: {status} {body}")
        run_id = int(body["validationId"])
        run = _follow(stack, run_id, posted, seen_phase)
    seen = time.time() - posted
    finished = parse_time(run.get("finishedAt"))
    counts = run.get("counts") or {}
    return OurRun(
        rows=rows, status=str(run.get("status")),
        e2e=(finished or time.time()) - posted, seen=seen,
        stored=stack.stored_rows(run_id), findings=sum(int(v) for v in counts.values()),
        horse_peak=rss.new_peak(), horses=rss.new_count(),
        horse_peak_reading=rss.new_peak_until(seen_phase.get("validating", 0.0)),
        worker_rss=max(rss.baseline[pid] for pid in workers),
        split=phase_split(run, event_times(stack.api, run_id), seen_phase, posted, answered),
    )


def _follow(stack: OwnStack, run_id: int, posted: float,
            seen_phase: dict[str, float]) -> dict[str, Any]:
    """Poll the run until it is final, noting when each phase was first seen."""
    run: dict[str, Any] = {}
    deadline = posted + 1800
    while time.time() < deadline:
        asked = time.time()  # a phase first seen by this poll began before it was sent
        run = stack.api.run(run_id)
        seen_phase.setdefault(str(run.get("phase")), asked)
        if run.get("status") in FINAL_STATUSES:
            break
        time.sleep(STATUS_POLL_SECONDS)
    return run


def phase_split(run: dict[str, Any], events: dict[str, float], seen_phase: dict[str, float],
                posted: float, answered: float) -> list[tuple[str, float]]:
    """Seconds between consecutive marks; a missing mark merges its phase into the next."""
    finished = parse_time(run.get("finishedAt"))
    marks = [
        ("202", "upload", answered),
        ("startedAt", "queue wait", parse_time(run.get("startedAt"))),
        (JOB_STARTED, "job setup", events.get(JOB_STARTED)),
        ("phase validating seen", "read, COPY rows, feed rules", seen_phase.get("validating")),
        ("phase saving seen", "rules' findings, COPY findings", seen_phase.get("saving")),
        (ROWS_STORED, "commit", events.get(ROWS_STORED)),
        ("finishedAt", "mark completed", finished),
    ]
    split: list[tuple[str, float]] = []
    previous, previous_name, doing = posted, "POST", []
    for name, what, stamp in marks:
        doing.append(what)
        if stamp is not None:
            split.append((f"{previous_name} → {name}: {' + '.join(doing)}", stamp - previous))
            previous, previous_name, doing = stamp, name, []
    ended = events.get(JOB_ENDED)
    if ended is not None and finished is not None:
        split.append((f"finishedAt → {JOB_ENDED}: file deleted (not in e2e)", ended - finished))
    return split
