"""Exceptions of the service.

    ValidateurError
    ├── JobFailed        a job attempt failed for a non-input reason (retried by RQ);
    │                    carries the run id and the exception's class name, never its text
    └── (queue.QueueUnavailable, validation.reader.UnusableFile live with their modules)

Messages never quote a cell value: they travel to Redis (RQ's failed-job traceback) and logs.
"""

from __future__ import annotations

TRANSIENT_EXCEPTIONS = frozenset(
    {
        "OperationalError", "InterfaceError", "ConnectionError", "TimeoutError",
        "ConnectionResetError", "ConnectionRefusedError", "BrokenPipeError",
        "DisconnectionError", "AdminShutdown", "PoolTimeout",
    }
)


class ValidateurError(Exception):
    """Base of the service's own exceptions."""


class JobFailed(ValidateurError):
    """An attempt failed; `transient` says whether a retry may succeed."""

    def __init__(self, run_id: int, cause: str) -> None:
        super().__init__(f"run {run_id}: attempt failed ({cause})")
        self.run_id = run_id
        self.cause = cause

    @property
    def transient(self) -> bool:
        return self.cause in TRANSIENT_EXCEPTIONS
