"""The upload directory: the only code that creates, names or deletes uploaded files.

Uploads are streamed by Werkzeug straight into a `.part` file in the upload directory (never
read whole into memory, never written twice), then renamed to a random name once accepted.
Only a request the security gate admitted (an authenticated editor or admin within the
upload limit, on an upload route) may write there: any other request's file parts stay in
memory, bounded by that request's small body limit.
No path ever comes from user input: the user's file name is only a label in the database.
"""

from __future__ import annotations

import io
import logging
import os
import secrets
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from flask import Flask, current_app, g
from flask import Request as FlaskRequest
from werkzeug.datastructures import Headers
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.formparser import FormDataParser, MultiPartParser
from werkzeug.sansio.multipart import File

log = logging.getLogger(__name__)

PART_SUFFIX = ".part"
STORED_SUFFIX = ".csv"
#: Bytes per read while parsing a multipart body (Werkzeug's default is 64 KiB). Werkzeug's
#: decoder refuses (413) a buffer over MAX_FORM_MEMORY_SIZE (Flask: 500 kB): stay under it.
UPLOAD_READ_BYTES = 256 * 1024


def upload_dir() -> Path:
    path: Path = current_app.config["VALIDATEUR_UPLOAD_DIR"]
    return path


def path_of(stored_name: str) -> Path:
    """Where a stored upload lives; the name is ours (random hex), never the user's."""
    if not stored_name or "/" in stored_name or stored_name.startswith("."):
        raise ValueError("nom de fichier stocké invalide")
    return upload_dir() / stored_name


class TooManyParts(RequestEntityTooLarge):
    """More multipart parts than `MAX_FORM_PARTS`: said as such, not as a size problem."""


class _CountingMultiPartParser(MultiPartParser):
    """Counts the parts it has finished or started, to tell why Werkzeug refused a body.

    Werkzeug raises the same 413 for a body too large, a field too large and too many
    parts; only the last leaves the count at the limit.
    """

    parts_seen = 0

    def get_part_charset(self, headers: Headers) -> str:
        self.parts_seen += 1  # called once per completed form field
        return super().get_part_charset(headers)

    def start_file_streaming(self, event: File, total_content_length: int | None) -> IO[bytes]:
        self.parts_seen += 1
        return super().start_file_streaming(event, total_content_length)


class LargeReadsFormParser(FormDataParser):
    """Multipart parsing in 256 KiB reads instead of Werkzeug's 64 KiB.

    gunicorn reads a request body ahead up to 1 MiB per `recv`; every smaller read then
    copies what remains of that buffer, so 64 KiB reads copied each byte about 16 times
    (a 236 MB upload took 1.3 s, mostly in those copies). Memory stays at a few MiB.
    """

    def _parse_multipart(self, stream: IO[bytes], mimetype: str, content_length: int | None,
                         options: dict[str, str]) -> Any:
        parser = _CountingMultiPartParser(
            stream_factory=self.stream_factory,
            max_form_memory_size=self.max_form_memory_size,
            max_form_parts=self.max_form_parts,
            cls=self.cls,
            buffer_size=UPLOAD_READ_BYTES,
        )
        boundary = options.get("boundary", "").encode("ascii")
        if not boundary:
            raise ValueError("Missing boundary")
        try:
            form, files = parser.parse(stream, boundary, content_length)
        except RequestEntityTooLarge:
            if self.max_form_parts is not None and parser.parts_seen >= self.max_form_parts:
                raise TooManyParts() from None
            raise
        return stream, form, files


class StreamingUploadRequest(FlaskRequest):
    """A request whose file parts go straight to `.part` files in the upload directory."""

    form_data_parser_class = LargeReadsFormParser

    def _get_file_stream(
        self,
        total_content_length: int | None,
        content_type: str | None,
        filename: str | None = None,
        content_length: int | None = None,
    ) -> IO[bytes]:
        if not g.get("stream_uploads"):
            return io.BytesIO()  # not admitted to disk; the small body limit bounds it
        directory = upload_dir()
        directory.mkdir(parents=True, exist_ok=True)
        part = tempfile.NamedTemporaryFile(  # noqa: SIM115 - closed by accept_part/teardown
            dir=directory, prefix="upload-", suffix=PART_SUFFIX, delete=False
        )
        g.setdefault("upload_parts", []).append(part.name)
        return part


def accept_part(stream: IO[bytes]) -> tuple[str, int]:
    """Close a streamed `.part` file and give it its final random name; returns (name, size)."""
    part_path = Path(getattr(stream, "name", ""))
    if part_path.parent != upload_dir() or part_path.suffix != PART_SUFFIX:
        raise ValueError("flux de téléversement inattendu")
    stream.close()
    stored_name = secrets.token_hex(16) + STORED_SUFFIX
    os.replace(part_path, path_of(stored_name))
    return stored_name, path_of(stored_name).stat().st_size


def store_local_file(source: Path) -> tuple[str, int]:
    """Copy a local file (CLI `validate`) into the upload directory under a random name."""
    upload_dir().mkdir(parents=True, exist_ok=True)
    stored_name = secrets.token_hex(16) + STORED_SUFFIX
    target = path_of(stored_name)
    with source.open("rb") as src, target.open("wb") as dst:
        while chunk := src.read(1024 * 1024):
            dst.write(chunk)
    return stored_name, target.stat().st_size


class StreamTooLarge(ValueError):
    """`store_stream` read more than its limit: nothing is kept."""


def store_stream(source: IO[bytes], limit: int) -> tuple[str, int]:
    """Copy a stream (a member of an uploaded archive) into the upload directory under a
    random name, read by chunks and never more than `limit` bytes: past it the copy is
    deleted and `StreamTooLarge` raised (an archive may lie about its sizes)."""
    upload_dir().mkdir(parents=True, exist_ok=True)
    stored_name = secrets.token_hex(16) + STORED_SUFFIX
    target = path_of(stored_name)
    size = 0
    try:
        with target.open("wb") as dst:
            while chunk := source.read(1024 * 1024):
                size += len(chunk)
                if size > limit:
                    raise StreamTooLarge(f"more than {limit} bytes")
                dst.write(chunk)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return stored_name, size


def delete(stored_name: str | None) -> None:
    """Delete a stored upload; a file already gone is fine (idempotent)."""
    if stored_name:
        path_of(stored_name).unlink(missing_ok=True)


def remove_request_parts(_exc: BaseException | None = None) -> None:
    """Teardown: any `.part` file this request created and did not accept is removed."""
    for name in g.pop("upload_parts", []):
        Path(name).unlink(missing_ok=True)


def orphan_files(known: set[str], older_than_seconds: float) -> Iterator[Path]:
    """Files in the upload directory that no live run owns and that are old enough."""
    directory = upload_dir()
    if not directory.is_dir():
        return
    cutoff = time.time() - older_than_seconds
    for entry in directory.iterdir():
        if entry.is_file() and entry.name not in known and entry.stat().st_mtime < cutoff:
            yield entry


def init_app(app: Flask, **_: Any) -> None:
    app.request_class = StreamingUploadRequest
    app.teardown_request(remove_request_parts)
