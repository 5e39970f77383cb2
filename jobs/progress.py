"""Progress of a running validation: throttled, monotonic, to job.meta and the run row.

Bands (docs/architecture.md § Progress): reading and storing rows 0–75 by bytes, rules 75–90, saving
findings 90–100. Writes happen at most every `interval` seconds so that reporting costs a
negligible share of the run; each write also beats the run's heartbeat and tells the job
whether the run was cancelled meanwhile.
"""

from __future__ import annotations

import contextlib
import os
import time
from dataclasses import dataclass, field

from rq.job import Job

from validateur import runs
from validateur.errors import ValidateurError
from validateur.models import Phase

PARSING_BAND = (0, 75)
VALIDATING_BAND = (75, 90)
SAVING_BAND = (90, 100)
DEFAULT_INTERVAL_SECONDS = 0.5


class RunCancelled(ValidateurError):
    """The run left `processing` (cancelled) while the job was working on it."""


@dataclass
class ProgressReporter:
    run_id: int
    job: Job | None
    interval: float = DEFAULT_INTERVAL_SECONDS
    progress: int = 0
    phase: Phase = Phase.PARSING
    _last_write: float = field(default=0.0)
    _rows: int = 0

    def parsing(self, bytes_read: int, total_bytes: int, rows: int) -> None:
        """Called often; writes only when the interval has passed."""
        if time.monotonic() - self._last_write < self.interval:
            return
        low, high = PARSING_BAND
        share = bytes_read / total_bytes if total_bytes else 1.0
        self.report(Phase.PARSING, low + int((high - low) * min(share, 1.0)), rows)

    def beat(self) -> None:
        """Keep the run's heartbeat alive while waiting (no progress change)."""
        self.report(self.phase, self.progress, self._rows)

    def tick(self, phase: Phase, progress: int, rows: int) -> None:
        """Like `report`, but only when the interval has passed."""
        if time.monotonic() - self._last_write >= self.interval:
            self.report(phase, progress, rows)

    def report(self, phase: Phase, progress: int, rows: int) -> None:
        """Write now: to the run row (heartbeat, cancel check) and to job.meta (numbers only)."""
        self.progress = max(self.progress, min(progress, 100))
        self.phase = phase
        self._rows = rows
        self._last_write = time.monotonic()
        if not runs.record_progress(self.run_id, phase, self.progress, rows):
            raise RunCancelled(self.run_id)
        if self.job is not None:
            self.job.meta.update(progress=self.progress, phase=phase.value, processedRows=rows,
                                 pid=os.getpid())
            with contextlib.suppress(Exception):  # progress in Redis is best effort
                self.job.save_meta()
