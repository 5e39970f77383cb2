"""Browser sessions: opened at login, checked on every request, ended on the server's side.

Flask keeps a session in a signed cookie, so a copy taken before logout would stay valid
until it expires. Each session therefore carries the user's `session_version`; bumping the
version (logout, a new password, a disabled account) ends every session of that user at
its next request. A session also stops after `VALIDATEUR_SESSION_IDLE_MINUTES` without a
request and `VALIDATEUR_SESSION_MAX_HOURS` after login, whatever happens meanwhile.

Login starts from an empty session, so nothing planted before it (a CSRF token chosen by
someone else, for instance) survives into the authenticated session.
"""

from __future__ import annotations

import hashlib
import time

from flask import current_app, g, request, session
from flask_login import login_user, logout_user

from validateur.extensions import db
from validateur.models import User

VERSION_KEY = "_ver"
LOGIN_AT_KEY = "_login_at"
SEEN_AT_KEY = "_seen_at"
#: The idle clock is written back to the cookie at most this often (not on every request).
SEEN_WRITE_SECONDS = 60


def client_identifier() -> str:
    """Flask-Login's "strong" binding, on the address ProxyFix took from the trusted hop.

    Flask-Login's own identifier reads the first `X-Forwarded-For` entry, which the client
    writes itself; `request.remote_addr` is the one our proxy vouches for.
    """
    agent = request.headers.get("User-Agent", "")
    return hashlib.sha512(f"{request.remote_addr}|{agent}".encode()).hexdigest()


def _fresh_session() -> None:
    session.clear()
    g.pop("csrf_token", None)  # Flask-WTF caches the token of this request here


def start(user: User) -> None:
    """Log `user` in on a new, empty session (and so a new CSRF token)."""
    _fresh_session()
    login_user(user)
    now = int(time.time())
    session[VERSION_KEY] = user.session_version
    session[LOGIN_AT_KEY] = now
    session[SEEN_AT_KEY] = now
    # Not `session.permanent`: the cookie ends with the browser, and Flask-Login's "strong"
    # protection only drops a session whose address changed when it is not permanent.


def end_all(user: User) -> None:
    """Logout: this session and every other one of the user stop now."""
    user.end_sessions()
    db.session.commit()
    logout_user()
    _fresh_session()


def is_current(user: User) -> bool:
    """Whether this request's session may still act as `user` (version, idle, absolute)."""
    now = int(time.time())
    config = current_app.config
    login_at = session.get(LOGIN_AT_KEY, 0)
    seen_at = session.get(SEEN_AT_KEY, 0)
    if session.get(VERSION_KEY) != user.session_version:
        return False
    if now - login_at > config["VALIDATEUR_SESSION_MAX_HOURS"] * 3600:
        return False
    if now - seen_at > config["VALIDATEUR_SESSION_IDLE_MINUTES"] * 60:
        return False
    if now - seen_at >= SEEN_WRITE_SECONDS:
        session[SEEN_AT_KEY] = now
    return True


def drop() -> None:
    """Forget a session that is no longer current (the cookie is cleared in the answer)."""
    _fresh_session()
