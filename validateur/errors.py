"""Exceptions of the service: one tree, and the driver failures that mean « try again ».

    Exception
    └── ValidateurError           validation/errors.py (stdlib only, so the core may import it)
        ├── UnusableFile          validation/unusable.py  the file cannot be read (input: never
        │                         retried); French message, `category` for the run page
        ├── AmountOutOfRange      validation/cells.py     an amount of 10⁹ $ or more (also a
        │                         ValueError: the reader treats it as an unreadable amount)
        ├── UploadRejected        uploads.py       an upload refused: HTTP status, code, French text
        ├── ArchiveRefused        archives.py      a batch's .zip that cannot be read as a whole
        ├── WebhookRefused        webhooks.py      a webhook registration refused (French text)
        ├── StreamTooLarge        storage.py       a zip member longer than its byte budget (also
        │                         a ValueError)
        ├── BadArguments          schemas.py       a query argument out of range (400)
        ├── ExportInterrupted     exports.py       the export's query failed mid-stream
        ├── ConfigError           config.py        the environment is misconfigured (start-up)
        ├── ReferenceFileError    reference.py     a reference CSV the import cannot read (also
        │                         a ValueError)
        ├── AmbiguousReference    cli.py           a token prefix shared by several live tokens
        ├── PeopleRefused         organizations.py a change to people or organizations the
        │                         rules refuse (French text, for the CLI and the pages)
        ├── QueueUnavailable      here             Redis cannot take the job in time (503)
        │   └── QueueNotConfigured                 REDIS_URL is not set (configuration)
        ├── RunCancelled          jobs/progress.py the run left `processing` while the job worked
        ├── JobFailed             here             an attempt failed for a non-input reason; RQ
        │                         retries it when `transient`
        ├── DevStackError         dev.py           `validateur dev` could not start its stack
        └── StackError            stack.py         a process of the harness did not start or
                                  answer in time (dev, chaos, bench, tests)

Exceptions that must derive from a framework's class stay outside (`cli.CommandError` is a
click exception, `security.LimiterUnavailable` an HTTP 503); a test keeps every other
exception of `validateur` and `jobs` in this tree.

Two tuples name outages once, for `except` clauses everywhere:

- `REDIS_DOWN`: Redis cannot be reached or did not answer in time (redis-py's errors, and the
  socket errors it lets through as `OSError`);
- `QUEUE_DOWN`: the same, or our queue said so (`QueueUnavailable`).

`TRANSIENT` lists the driver classes whose failure a retry may outlive (a lost connection, a
server shutting down, a pool or socket timeout); `is_transient` decides with `isinstance`,
so a subclass (`psycopg.errors.AdminShutdown`, `ConnectionResetError`) counts as its parent.

Messages never quote a cell value: they travel to Redis (RQ's failed-job traceback) and logs.
"""

from __future__ import annotations

import psycopg
import redis.exceptions
import sqlalchemy.exc

from validateur.validation.errors import ValidateurError

__all__ = ["QUEUE_DOWN", "REDIS_DOWN", "TRANSIENT", "JobFailed", "QueueNotConfigured",
           "QueueUnavailable", "ValidateurError", "is_transient"]

#: Redis is unreachable or too slow: redis-py's errors and the socket errors it lets through.
REDIS_DOWN: tuple[type[Exception], ...] = (redis.exceptions.RedisError, OSError)

#: Failures a later attempt may not meet: connections lost or refused, servers shutting down
#: (`AdminShutdown` is an `OperationalError`), pool and socket timeouts. Not a value refused
#: (`DataError`), not a bug.
TRANSIENT: tuple[type[BaseException], ...] = (
    psycopg.OperationalError,
    psycopg.InterfaceError,
    sqlalchemy.exc.OperationalError,
    sqlalchemy.exc.InterfaceError,
    sqlalchemy.exc.DisconnectionError,
    sqlalchemy.exc.TimeoutError,  # the connection pool's wait
    redis.exceptions.ConnectionError,
    redis.exceptions.TimeoutError,
    ConnectionError,  # OSError: refused, reset, aborted, broken pipe
    TimeoutError,
)


def is_transient(exc: BaseException) -> bool:
    """Whether a retry of what raised `exc` may succeed (see `TRANSIENT`)."""
    return isinstance(exc, TRANSIENT)


class QueueUnavailable(ValidateurError):
    """Redis cannot be reached: the caller answers 503 and leaves nothing behind."""


class QueueNotConfigured(QueueUnavailable):
    """REDIS_URL is not set: a configuration error, not an outage to wait out."""


#: Redis is down, whether the driver or our queue says so.
QUEUE_DOWN: tuple[type[Exception], ...] = (*REDIS_DOWN, QueueUnavailable)


class JobFailed(ValidateurError):
    """An attempt failed; `transient` says whether a retry may succeed.

    It keeps the cause's class name and its classification, never the cause itself nor its
    text (a driver may quote a cell, and this exception's traceback is stored in Redis).
    """

    def __init__(self, run_id: int, cause: BaseException) -> None:
        self.run_id = run_id
        self.cause = type(cause).__name__
        self.transient = is_transient(cause)
        super().__init__(f"run {run_id}: attempt failed ({self.cause})")
