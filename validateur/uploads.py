"""Accepting a file for validation: the one path shared by the API, the page and the CLI.

Order matters and is the point of this module: the file is on disk under a random name,
sniffed (decodes, header has the required columns), the run row is committed, and only then
is the job enqueued. Any refusal removes what was created, so a rejected upload leaves no
file and no run behind.
"""

from __future__ import annotations

import logging
import unicodedata
from pathlib import Path
from typing import IO

from sqlalchemy.exc import SQLAlchemyError

from validateur import queue, runlog, runs, storage
from validateur.errors import QueueNotConfigured, QueueUnavailable, ValidateurError
from validateur.extensions import db
from validateur.models import ValidationRun
from validateur.validation.reader import UnusableFile, sniff_file

log = logging.getLogger(__name__)
RECEIVED = "Fichier reçu et mis en file d'attente"


class UploadRejected(ValidateurError):
    """The upload is refused; `status` and `code` go to the HTTP answer, the message is French."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


def display_name(name: str | None) -> str:
    """The user's file name as a label only (no directories, bounded length).

    Control and format characters are removed: NUL, line breaks, and the bidirectional
    overrides and isolates (U+202E RIGHT-TO-LEFT OVERRIDE makes `facture<RLO>vsc.exe`
    display as `factureexe.csv`), so the label shows what the name really is.
    """
    visible = "".join(c for c in (name or "") if unicodedata.category(c) not in _HIDDEN)
    base = visible.replace("\\", "/").rsplit("/", 1)[-1].strip()
    return base[:200] or "fichier.csv"


#: Unicode categories never kept in a label: controls, formats (bidi, zero-width),
#: surrogates, private use, unassigned, line and paragraph separators.
_HIDDEN = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


def accept_stream(stream: IO[bytes], file_name: str | None, user_id: int | None) -> ValidationRun:
    """Accept a file that Werkzeug streamed into the upload directory."""
    stored_name, size = storage.accept_part(stream)
    return _accept_stored(stored_name, size, file_name, user_id)


def accept_local_file(path: Path, user_id: int | None) -> ValidationRun:
    """Accept a local file (CLI): copied into the upload directory like an upload."""
    stored_name, size = storage.store_local_file(path)
    return _accept_stored(stored_name, size, path.name, user_id)


def _accept_stored(stored_name: str, size: int, file_name: str | None,
                   user_id: int | None) -> ValidationRun:
    if size == 0:
        storage.delete(stored_name)
        raise UploadRejected(400, "empty_file", "Le fichier est vide.")
    try:
        fmt = sniff_file(storage.path_of(stored_name))
    except UnusableFile as exc:
        storage.delete(stored_name)
        raise UploadRejected(400, "unusable_file", str(exc)) from None
    # The run and its first log line are committed before the enqueue (the worker must find
    # the run); if the enqueue fails, deleting the run removes both.
    try:
        run = runs.submit(user_id, display_name(file_name), stored_name, size, fmt.encoding,
                          fmt.delimiter, source="web", line=RECEIVED)
    except SQLAlchemyError:
        storage.delete(stored_name)  # no run refers to it: it would be an orphan
        db.session.rollback()
        raise  # the app's error handlers answer (503 when the database is unreachable)
    try:
        queue.enqueue_validation(run.id)
    except QueueUnavailable as exc:
        runs.delete_run(run.id)
        storage.delete(stored_name)
        raise _queue_refusal(exc) from None
    runlog.echo(run.id, "info", "web", RECEIVED)
    return run


def _queue_refusal(exc: QueueUnavailable) -> UploadRejected:
    """A missing REDIS_URL is a configuration error (waiting will not help); else an outage."""
    if isinstance(exc, QueueNotConfigured):
        return UploadRejected(
            503, "queue_not_configured",
            "La file d'attente n'est pas configurée (REDIS_URL) : erreur de configuration du "
            "service, à signaler à l'administrateur.",
        )
    return UploadRejected(
        503, "queue_unavailable",
        "Le service de file d'attente est indisponible ; réessayez dans quelques minutes.",
    )
