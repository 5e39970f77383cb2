"""People in organizations: members of one clinic, a manager, someone of another agency."""

from __future__ import annotations

import os

from flask import Flask

from tests.support.api import Person
from validateur import auth, organizations
from validateur.extensions import db
from validateur.models import Role, User


def member(app: Flask, role: str, organization: str | None, email: str | None = None
           ) -> Person:
    """A user of `organization` (created when missing; None: an admin) with a token."""
    with app.app_context():
        found = None
        if organization is not None:
            found = organizations.find(organization) or organizations.create(organization)
            db.session.commit()
        address = email or f"{role}-{os.urandom(3).hex()}@exemple.test"
        user, password = auth.create_user(address, Role(role), organization=found)
        return Person(address, role, auth.create_token(user), password)


def user_of(app: Flask, person: Person) -> tuple[int, int | None]:
    """(user id, organization id) of `person`."""
    with app.app_context():
        user = auth.find_user(person.email)
        assert user is not None
        return int(user.id), user.organization_id


def account(app: Flask, email: str) -> User:
    """The user row as stored now (detached; read its columns only)."""
    with app.app_context():
        user = auth.find_user(email)
        assert user is not None
        db.session.expunge(user)
        return user
