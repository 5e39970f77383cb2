"""Run logs in `validation_logs`: what happened to a run, with no PHI.

Metadata goes through an allow-list of keys whose values are numbers or short technical
strings (job id, phase, counts, durations); anything else is dropped before it is written,
so a careless caller cannot leak a cell value into the logs.
"""

from __future__ import annotations

import logging
from numbers import Number
from typing import Any

from validateur.extensions import db
from validateur.models import ValidationLog

log = logging.getLogger(__name__)

ALLOWED_METADATA_KEYS = frozenset(
    {
        "jobId", "phase", "progress", "attempt", "rows", "findings", "errors", "warnings",
        "optimizations", "infos", "durationMs", "bytes", "encoding", "delimiter", "rule",
        "status", "exception", "worker", "rowsPerSecond", "event",
    }
)
_TEXT_LIMIT = 64


def safe_metadata(metadata: dict[str, Any]) -> dict[str, Any]:
    """Keep allow-listed keys with number values or short technical strings."""
    kept: dict[str, Any] = {}
    for key, value in metadata.items():
        if key not in ALLOWED_METADATA_KEYS:
            continue
        if isinstance(value, bool | Number):
            kept[key] = value if isinstance(value, bool | int) else float(value)  # type: ignore[arg-type]
        elif isinstance(value, str) and len(value) <= _TEXT_LIMIT:
            kept[key] = value
    return kept


def record(run_id: int, level: str, source: str, message: str, **metadata: Any) -> None:
    """Write one log line for a run (own transaction) and echo it to the process log."""
    add(run_id, level, source, message, **metadata)
    db.session.commit()
    echo(run_id, level, source, message)


def add(run_id: int, level: str, source: str, message: str, **metadata: Any) -> None:
    """Add one log line to the session's transaction; the caller commits, then `echo`es."""
    db.session.add(ValidationLog(
        validation_run_id=run_id,
        level=level,
        source=source,
        message=message,
        metadata_=safe_metadata(metadata),
    ))


def echo(run_id: int, level: str, source: str, message: str) -> None:
    """The process log's copy of a run's log line, once that line is true."""
    log.log(logging.getLevelName(level.upper()), "run %s %s: %s", run_id, source, message)
