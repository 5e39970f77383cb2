"""Driving the API as a user: a person with a token, and the upload every flow starts with."""

from __future__ import annotations

import io
from typing import Any

from flask.testing import FlaskClient


class Person:
    """A user with an API token, for driving the API as that user."""

    def __init__(self, email: str, role: str, token: str, password: str) -> None:
        self.email, self.role, self.token, self.password = email, role, token, password

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def upload_csv(client: FlaskClient, person: Person, content: bytes,
               name: str = "facturation.csv") -> Any:
    """POST a file to the API as `person`; returns the response."""
    return client.post(
        "/api/validations",
        data={"file": (io.BytesIO(content), name)},
        headers=person.headers,
        content_type="multipart/form-data",
    )
