"""People: users, roles, passwords and API tokens.

Browsers authenticate with a Flask-Login session (checked on every request by `sessions`);
API clients with `Authorization: Bearer`. Tokens are shown once and stored as SHA-256
hashes (they are long random strings, so a fast hash is enough); they expire
`VALIDATEUR_TOKEN_LIFETIME_DAYS` after creation and record their last use at most every
`TOKEN_TOUCH_SECONDS`. Passwords are hashed with scrypt by Werkzeug; an unknown e-mail is
checked against a dummy hash so that it answers in the same time as a known one.
"""

from __future__ import annotations

import hashlib
import secrets
from collections.abc import Callable
from datetime import timedelta
from functools import cache, wraps
from typing import Any, TypeVar

from flask import Flask, Request, abort, current_app, flash, g, redirect, request, url_for
from flask_login import current_user
from sqlalchemy import func, or_, select, update
from werkzeug.security import check_password_hash, generate_password_hash

from validateur import organizations, sessions
from validateur.extensions import db, login_manager
from validateur.models import ApiToken, Organization, Role, User, utcnow

F = TypeVar("F", bound=Callable[..., Any])
TOKEN_PREFIX = "vld_"
#: A token's `last_used_at` is written at most this often (not once per API request).
TOKEN_TOUCH_SECONDS = 300
SESSION_ENDED = "Votre session a pris fin ; veuillez vous reconnecter."


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_password() -> str:
    """A generated password, shown once to whoever creates or resets the account."""
    return secrets.token_urlsafe(12)


def create_user(email: str, role: Role, password: str | None = None,
                organization: Organization | None = None) -> tuple[User, str]:
    """Create a user; returns it and its password (generated when none is given).

    A user other than an admin without `organization` gets one of their own, named after
    their e-mail (`organizations.organization_for_new_user`).
    """
    email = email.strip().lower()
    password = password or new_password()
    user = User(email=email, role=role, password_hash=generate_password_hash(password),
                organization=organizations.organization_for_new_user(email, role,
                                                                     organization))
    db.session.add(user)
    db.session.commit()
    return user, password


def set_password(user: User, password: str) -> None:
    """A new password (not committed); it ends the user's sessions (`models`' listener)."""
    user.password_hash = generate_password_hash(password)


def reset_password(user: User) -> str:
    """Give `user` a generated password, committed; returns it to be shown once."""
    password = new_password()
    set_password(user, password)
    db.session.commit()
    return password


def find_user(email: str) -> User | None:
    return db.session.execute(
        select(User).where(User.email == email.strip().lower())
    ).scalar_one_or_none()


def check_password(user: User, password: str) -> bool:
    return check_password_hash(user.password_hash, password)


@cache
def _dummy_hash() -> str:
    """A hash made like real ones, to spend the same time on an unknown e-mail."""
    return generate_password_hash(secrets.token_urlsafe(16))


def authenticate(email: str, password: str) -> User | None:
    """The active user with that e-mail and password; the same work whether it exists or not."""
    user = find_user(email)
    if user is None or not user.is_active:
        check_password_hash(_dummy_hash(), password)
        return None
    return user if check_password(user, password) else None


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
    """The active user owning a live, unexpired token, in one query (every API request asks)."""
    now = utcnow()
    lifetime = timedelta(days=current_app.config["VALIDATEUR_TOKEN_LIFETIME_DAYS"])
    row = db.session.execute(
        select(User, ApiToken.id, ApiToken.last_used_at)
        .join(ApiToken, ApiToken.user_id == User.id)
        .where(ApiToken.token_hash == hash_token(token), ApiToken.revoked_at.is_(None),
               ApiToken.created_at > now - lifetime)
    ).one_or_none()
    if row is None or not row[0].is_active:
        return None
    user, token_id, last_used = row
    if last_used is None or now - last_used > timedelta(seconds=TOKEN_TOUCH_SECONDS):
        _touch_token(token_id, now)
    return user


def _touch_token(token_id: int, now: Any) -> None:
    """Record a use; the condition keeps concurrent requests from writing it twice."""
    db.session.execute(
        update(ApiToken).where(ApiToken.id == token_id, or_(
            ApiToken.last_used_at.is_(None),
            ApiToken.last_used_at < now - timedelta(seconds=TOKEN_TOUCH_SECONDS)))
        .values(last_used_at=now))
    db.session.commit()


@login_manager.user_loader
def _load_user(user_id: str) -> User | None:
    """The session's user while the session is current; otherwise the session is dropped."""
    user = db.session.get(User, int(user_id))
    if user is not None and user.is_active and sessions.is_current(user):
        return user
    sessions.drop()
    if not request.path.startswith("/api/"):
        flash(SESSION_ENDED, "info")
    return None


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
    """Editors, managers and admins may upload and change runs; viewers get 403."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not current_user.can_upload:
            abort(403)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def require_manager(view: F) -> F:
    """Managers only (« Mon organisation »); an admin, who has none, is sent to the admin
    pages; anyone else gets 403."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if current_user.is_admin:
            return redirect(url_for("admin.index"))
        if not current_user.is_manager:
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
    return redirect(url_for("pages.login", next=request.path))


def init_app(app: Flask) -> None:
    login_manager.init_app(app)
    login_manager.unauthorized_handler(_unauthorized)
    login_manager.session_protection = "strong"
    # Flask-Login's default reads the client-written first X-Forwarded-For entry.
    login_manager._session_identifier_generator = sessions.client_identifier
