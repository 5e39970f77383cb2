"""Accepting a file for validation: the one path shared by the API, the page and the CLI.

Order matters and is the point of this module: the file is on disk under a random name,
sniffed (decodes, header has the required columns), the run row is committed, and only then
is the job enqueued. Any refusal removes what was created, so a rejected upload leaves no
file and no run behind.
"""

from __future__ import annotations

import logging
import unicodedata
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from flask import current_app
from sqlalchemy import delete
from sqlalchemy.exc import SQLAlchemyError

from validateur import archives, batches, queue, runlog, runs, storage
from validateur.errors import QueueNotConfigured, QueueUnavailable, ValidateurError
from validateur.extensions import db
from validateur.models import Batch, ValidationRun
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


@dataclass(frozen=True)
class Checked:
    """A stored file that passed the checks every upload gets, ready to become a run."""

    stored_name: str
    size: int
    file_name: str
    encoding: str
    delimiter: str


def check_stored(stored_name: str, size: int, file_name: str | None) -> Checked:
    """Not empty, decodes, header has the required columns; else the file is deleted and
    `UploadRejected` says why (400)."""
    if size == 0:
        storage.delete(stored_name)
        raise UploadRejected(400, "empty_file", "Le fichier est vide.")
    try:
        fmt = sniff_file(storage.path_of(stored_name))
    except UnusableFile as exc:
        storage.delete(stored_name)
        raise UploadRejected(400, "unusable_file", str(exc)) from None
    return Checked(stored_name, size, display_name(file_name), fmt.encoding, fmt.delimiter)


def _accept_stored(stored_name: str, size: int, file_name: str | None,
                   user_id: int | None) -> ValidationRun:
    checked = check_stored(stored_name, size, file_name)
    # The run and its first log line are committed before the enqueue (the worker must find
    # the run); if the enqueue fails, deleting the run removes both.
    try:
        run = runs.submit(user_id, checked.file_name, stored_name, size, checked.encoding,
                          checked.delimiter, source="web", line=RECEIVED)
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


# -- several files at once: a batch ----------------------------------------------------------

@dataclass(frozen=True)
class Rejection:
    """A file of a batch refused at upload: its label and why, in French."""

    file_name: str
    code: str
    message: str


@dataclass(frozen=True)
class BatchAccepted:
    batch_id: int
    runs: list[ValidationRun]
    rejected: list[Rejection]


@dataclass(frozen=True)
class _Part:
    """An uploaded part that is a file of the batch itself (not an archive)."""

    stream: IO[bytes]
    file_name: str | None


@dataclass(frozen=True)
class _InArchive:
    """A member of an uploaded `.zip`, not extracted yet."""

    archive: Path
    member: archives.Member


_Source = _Part | _InArchive | Rejection


def accept_batch(parts: Sequence[tuple[IO[bytes], str | None]], user_id: int | None,
                 ) -> BatchAccepted:
    """Accept several uploaded files (and the CSV files of uploaded `.zip` archives) as one
    batch: each file goes through the single upload's checks (`check_stored`) and becomes
    an ordinary run with `batch_id`; a refused file is listed in `rejected`.

    The whole request is refused, leaving nothing behind, when it holds more than
    `VALIDATEUR_BATCH_MAX_FILES` files (400), more than `VALIDATEUR_MAX_UPLOAD_MB`
    uncompressed (413), no acceptable file (400), or when the database or the queue is down
    (503). The batch and its runs are committed in one transaction, before any enqueue, so
    no run of the batch can end before all of them exist.
    """
    max_bytes = int(current_app.config["VALIDATEUR_MAX_UPLOAD_MB"]) * 1024 * 1024
    created: list[str] = []  # stored names made here: deleted on any refusal
    try:
        sources = _sources(parts, max_bytes)
        _check_count(sources)
        _check_total(sources, max_bytes)
        checked, rejected = _store_all(sources, max_bytes, created)
        if not checked:
            raise UploadRejected(400, "nothing_accepted", _nothing_accepted(rejected))
        batch_id, batch_runs = _submit_batch(user_id, checked)
    except BaseException:
        for stored_name in created:
            storage.delete(stored_name)
        db.session.rollback()
        raise
    _enqueue_batch(batch_id, batch_runs)
    return BatchAccepted(batch_id, batch_runs, rejected)


def _sources(parts: Sequence[tuple[IO[bytes], str | None]], max_bytes: int) -> list[_Source]:
    """The batch's files in the order sent: parts, archives opened into their members."""
    sources: list[_Source] = []
    for stream, file_name in parts:
        path = Path(getattr(stream, "name", ""))
        stream.close()  # fully written by Werkzeug; read by path from here
        if not archives.is_zip(path, file_name):
            sources.append(_Part(stream, file_name))
            continue
        label = display_name(file_name)
        try:
            found = archives.members(path, max_bytes)
        except archives.ArchiveRefused as exc:
            sources.append(Rejection(label, "unusable_archive", exc.message))
            continue
        if not found:
            sources.append(Rejection(label, "empty_archive",
                                     "L'archive ne contient aucun fichier."))
        for member in found:
            sources.append(_InArchive(path, member) if member.refusal is None else
                           Rejection(display_name(member.file_name), "refused_member",
                                     member.refusal))
    return sources


def _check_count(sources: list[_Source]) -> None:
    most = int(current_app.config["VALIDATEUR_BATCH_MAX_FILES"])
    if len(sources) > most:
        raise UploadRejected(
            400, "too_many_files",
            f"Un lot compte au plus {_files(most)} ; celui-ci en compte {len(sources)} "
            "(les fichiers des archives ZIP comptent chacun). Répartissez-les en plusieurs "
            "lots.")


def _files(count: int) -> str:
    return f"{count} fichier" + ("s" if count >= 2 else "")


def _check_total(sources: list[_Source], max_bytes: int) -> None:
    """Parts as received plus archive members as declared: at most the upload limit."""
    total = sum(_size_of(source) for source in sources)
    if total > max_bytes:
        raise UploadRejected(
            413, "too_large",
            f"Le lot dépasse la taille maximale ({max_bytes // (1024 * 1024)} Mo) une fois les "
            "archives décompressées.")


def _size_of(source: _Source) -> int:
    if isinstance(source, _Part):
        return Path(getattr(source.stream, "name", "")).stat().st_size
    if isinstance(source, _InArchive):
        return int(source.member.info.file_size)
    return 0


def _store_all(sources: list[_Source], max_bytes: int, created: list[str],
               ) -> tuple[list[Checked], list[Rejection]]:
    """Each file stored and checked like a single upload; `created` lists what is on disk."""
    checked: list[Checked] = []
    rejected: list[Rejection] = []
    budget = max_bytes  # what archive members may still inflate to, all together
    for source in sources:
        if isinstance(source, Rejection):
            rejected.append(source)
            continue
        try:
            stored_name, size, label = _store(source, budget)
        except UploadRejected as exc:
            rejected.append(Rejection(_label(source), exc.code, exc.message))
            continue
        created.append(stored_name)
        budget -= size if isinstance(source, _InArchive) else 0
        try:
            checked.append(check_stored(stored_name, size, label))
        except UploadRejected as exc:
            rejected.append(Rejection(display_name(label), exc.code, exc.message))
    return checked, rejected


def _label(source: _Part | _InArchive) -> str:
    return display_name(source.file_name if isinstance(source, _Part)
                        else source.member.file_name)


def _store(source: _Part | _InArchive, budget: int) -> tuple[str, int, str | None]:
    if isinstance(source, _Part):
        stored_name, size = storage.accept_part(source.stream)
        return stored_name, size, source.file_name
    try:
        with zipfile.ZipFile(source.archive) as archive, \
                archive.open(source.member.info) as member:
            stored_name, size = storage.store_stream(member, budget)
    except storage.StreamTooLarge:
        raise UploadRejected(413, "too_large",
                             "Ce fichier de l'archive dépasse la taille maximale une fois "
                             "décompressé.") from None
    except archives.MEMBER_UNREADABLE:
        raise UploadRejected(400, "unusable_member",
                             "Ce fichier de l'archive est illisible (archive endommagée ou "
                             "compression non prise en charge).") from None
    return stored_name, size, source.member.file_name


def _nothing_accepted(rejected: list[Rejection]) -> str:
    reasons = " ".join(f"« {r.file_name} » : {r.message}" for r in rejected[:5])
    more = f" (et {len(rejected) - 5} autres)" if len(rejected) > 5 else ""
    return f"Aucun fichier du lot n'a été accepté. {reasons}{more}"[:2000]


def _submit_batch(user_id: int | None, checked: list[Checked],
                  ) -> tuple[int, list[ValidationRun]]:
    """The batch and its runs (each with its first log line), in one commit."""
    organization_id = runs.organization_of(user_id)
    batch = batches.create(user_id, organization_id)
    batch_runs = [
        runs.add_queued(user_id, item.file_name, item.stored_name, item.size, item.encoding,
                        item.delimiter, source="web", line=RECEIVED, batch_id=batch.id,
                        organization_id=organization_id)
        for item in checked
    ]
    batch_id = batch.id
    db.session.commit()
    return batch_id, batch_runs


def _enqueue_batch(batch_id: int, batch_runs: list[ValidationRun]) -> None:
    """Enqueue every run; if the queue fails, remove the runs, their files and the batch
    (a job already enqueued then finds no run and does nothing)."""
    try:
        for run in batch_runs:
            queue.enqueue_validation(run.id)
    except QueueUnavailable as exc:
        for run in batch_runs:
            runs.delete_run(run.id)
            storage.delete(run.stored_name)
        db.session.execute(delete(Batch).where(Batch.id == batch_id))
        db.session.commit()
        raise _queue_refusal(exc) from None
    for run in batch_runs:
        runlog.echo(run.id, "info", "web", RECEIVED)
