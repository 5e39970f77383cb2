"""Sending several files as one batch, and zip archives built in code."""

from __future__ import annotations

import io
import zipfile
from typing import Any

from flask.testing import FlaskClient

from tests.support.api import Person


def upload_batch(client: FlaskClient, person: Person | None,
                 files: list[tuple[bytes, str]]) -> Any:
    """POST files (content, name) to /api/batches as `person` (None: anonymous)."""
    return client.post(
        "/api/batches",
        data={"files": [(io.BytesIO(content), name) for content, name in files]},
        headers=person.headers if person else {},
        content_type="multipart/form-data",
    )


def zip_of(members: dict[str, bytes], *, compression: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=compression) as archive:
        for name, content in members.items():
            archive.writestr(name, content)
    return buffer.getvalue()
