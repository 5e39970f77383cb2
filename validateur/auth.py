"""People: users, roles, passwords and API tokens.

Browsers authenticate with a Flask-Login session; API clients with `Authorization: Bearer`.
Tokens are shown once and stored as SHA-256 hashes (they are long random strings, so a
fast hash is enough); passwords are hashed with scrypt by Werkzeug.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Flask, Request, abort, g, request
from flask_login import current_user
from sqlalchemy import func, select
from werkzeug.security import check_password_hash, generate_password_hash

from validateur.extensions import db, login_manager
from validateur.models import ApiToken, Role, User

F = TypeVar("F", bound=Callable[..., Any])
TOKEN_PREFIX = "vld_"


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_user(email: str, role: Role, password: str | None = None) -> tuple[User, str]:
    """Create a user; returns it and its password (generated when none is given)."""
    password = password or secrets.token_urlsafe(12)
    user = User(email=email.strip().lower(), role=role.value,
                password_hash=generate_password_hash(password))
    db.session.add(user)
    db.session.commit()
    return user, password


def find_user(email: str) -> User | None:
    return db.session.execute(
        select(User).where(User.email == email.strip().lower())
    ).scalar_one_or_none()


def check_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


def create_token(user: User) -> str:
    """A new API token for the user; only its hash is stored."""
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    db.session.add(ApiToken(user_id=user.id, token_hash=hash_token(token), prefix=token[:12]))
    db.session.commit()
    return token


def revoke_token(token: str) -> bool:
    """Revoke one token (given in full); False when no live token matches."""
    row = db.session.execute(
        select(ApiToken).where(ApiToken.token_hash == hash_token(token.strip()),
                               ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    if row is None:
        return False
    row.revoked_at = func.now()
    db.session.commit()
    return True


def revoke_user_tokens(user: User) -> int:
    """Revoke every live token of a user; returns how many."""
    rows = db.session.execute(
        select(ApiToken).where(ApiToken.user_id == user.id, ApiToken.revoked_at.is_(None))
    ).scalars().all()
    for row in rows:
        row.revoked_at = func.now()
    db.session.commit()
    return len(rows)


def user_for_token(token: str) -> User | None:
    """The active user owning a live token, in one query (every API request asks)."""
    user = db.session.execute(
        select(User).join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None))
    ).scalar_one_or_none()
    return user if user is not None and user.is_active else None


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    user = db.session.get(User, int(user_id))
    return user if user is not None and user.is_active else None


@login_manager.request_loader
def _load_user_from_request(req: Request) -> User | None:
    header = req.headers.get("Authorization", "")
    if not header.startswith("Bearer "):
        return None
    user = user_for_token(header.removeprefix("Bearer ").strip())
    if user is not None:
        g.token_auth = True
    return user


def is_token_request() -> bool:
    return bool(g.get("token_auth"))


def require_upload_right(view: F) -> F:
    """Editors and admins may upload and change runs; viewers get 403."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user.can_upload:
            abort(403)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def require_admin(view: F) -> F:
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user.is_admin:
            abort(403)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _unauthorized() -> Any:
    if request.path.startswith("/api/"):
        abort(401)
    from flask import redirect, url_for

    return redirect(url_for("pages.login", next=request.path))


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.unauthorized_handler(_unauthorized)
    login_manager.session_protection = "strong"
