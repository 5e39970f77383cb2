"""Authentication, role and rate limit come before the body: nothing refused reaches the disk.

A chunked multipart body (no Content-Length, as the penetration test sent 250 MB) is fed to
the real app through a stream that watches the upload directory at every read: a refused
request may read at most the small body limit and must never create a file there.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from tests.support.api import Person, upload_csv
from tests.support.csvfiles import act, billing_csv
from validateur.security import SMALL_BODY_BYTES

BOUNDARY = "----validateur-gate"
BODY_BYTES = 8 * 1024 * 1024
LINE = b"1,F00001,30000000001,2025-03-10\r\n"


class WatchedBody(io.RawIOBase):
    """A multipart body generated as it is read, noting the upload directory each time."""

    def __init__(self, upload_dir: Path, size: int = BODY_BYTES) -> None:
        self.upload_dir = upload_dir
        head = (f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"file\"; "
                f"filename=\"f.csv\"\r\nContent-Type: text/csv\r\n\r\n").encode()
        self.head, self.tail = head, f"\r\n--{BOUNDARY}--\r\n".encode()
        self.size, self.sent = size, 0
        self.files_seen: set[str] = set()

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        self.files_seen |= {p.name for p in self.upload_dir.iterdir()}
        if self.sent >= self.size:
            return 0
        left = self.size - self.sent
        if left <= len(self.tail):
            chunk = self.tail[len(self.tail) - left:]
        else:
            lines = LINE * (len(buffer) // len(LINE) + 1)
            chunk = (self.head + lines if self.sent == 0 else lines)[:min(len(buffer),
                                                                          left - len(self.tail))]
        buffer[:len(chunk)] = chunk
        self.sent += len(chunk)
        return len(chunk)


def _post(app: Flask, path: str, *, headers: dict[str, str] | None = None,
          login: Person | None = None) -> tuple[Any, WatchedBody]:
    client = app.test_client()
    if login is not None:
        client.post("/login", data={"email": login.email, "password": login.password})
    body = WatchedBody(Path(app.config["VALIDATEUR_UPLOAD_DIR"]))
    response = client.post(
        path, headers={"Transfer-Encoding": "chunked", **(headers or {})},
        environ_overrides={"wsgi.input": body, "CONTENT_LENGTH": "",
                           "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
                           "wsgi.input_terminated": True})
    response.get_data()
    return response, body


@pytest.mark.parametrize(("path", "who", "expected"), [
    ("/login", None, 413), ("/logout", None, 302), ("/upload", None, 302),
    ("/api/validations", None, 401), ("/api/validations", "viewer-token", 403),
    ("/upload", "viewer-session", 403), ("/api/validations/1/cancel", "editor-token", 404),
])
def test_a_refused_multipart_never_touches_the_disk(app: Flask, make_person: Any, path: str,
                                                    who: str | None, expected: int) -> None:
    viewer, editor = make_person("viewer"), make_person("editor")
    headers = {"viewer-token": viewer.headers, "editor-token": editor.headers}.get(who or "")
    login = viewer if who == "viewer-session" else None
    response, body = _post(app, path, headers=headers, login=login)
    assert response.status_code == expected
    assert body.files_seen == set()
    assert body.sent <= SMALL_BODY_BYTES + 256 * 1024  # at most the limit and one read


def test_an_upload_over_the_rate_limit_is_refused_before_its_body(app: Flask,
                                                                  editor: Person) -> None:
    app.config["VALIDATEUR_UPLOAD_RATE_LIMIT"] = "1/minute"
    try:
        assert upload_csv(app.test_client(), editor, billing_csv([act(1)])).status_code == 202
        response, body = _post(app, "/api/validations", headers=editor.headers)
    finally:
        app.config["VALIDATEUR_UPLOAD_RATE_LIMIT"] = "30/minute"
    assert response.status_code == 429 and int(response.headers["Retry-After"]) >= 1
    assert body.sent == 0 and body.files_seen == set()


def test_an_admitted_upload_streams_to_disk(app: Flask, editor: Person) -> None:
    """The watch itself works: an editor's large upload does reach the upload directory."""
    response, body = _post(app, "/api/validations", headers=editor.headers)
    assert response.status_code == 400, response.get_data()  # not a billing file: read, refused
    assert any(name.endswith(".part") for name in body.files_seen)
    assert body.sent == BODY_BYTES
    assert list(Path(app.config["VALIDATEUR_UPLOAD_DIR"]).iterdir()) == []


def test_too_many_parts_is_said_as_such(app: Flask, editor: Person) -> None:
    fields = "".join(f"--{BOUNDARY}\r\nContent-Disposition: form-data; name=\"f{n}\"\r\n\r\n"
                     f"x\r\n" for n in range(1001))
    body = (fields + f"--{BOUNDARY}--\r\n").encode()
    response = app.test_client().post(
        "/api/validations", data=body, headers=editor.headers,
        content_type=f"multipart/form-data; boundary={BOUNDARY}")
    assert response.status_code == 413
    error = response.get_json()["error"]
    assert error["code"] == "too_many_parts"
    assert "trop de parties" in error["message"] and "Mo" not in error["message"]


def test_a_large_form_elsewhere_is_a_request_too_large(app: Flask) -> None:
    response = app.test_client().post("/login", data={"email": "x" * (SMALL_BODY_BYTES + 1)})
    assert response.status_code == 413
    page = response.get_data(as_text=True)
    assert "trop volumineuse" in page and "300 Mo" not in page
