"""Request-level protections: the gate before any body is read, rate limits, headers.

- **The gate** runs before every other `before_request` hook (CSRF included). On an upload
  route it decides authentication, role and the upload rate limit from the headers alone;
  only a request it admits may have file parts streamed to the upload directory
  (`g.stream_uploads`, read by `storage.StreamingUploadRequest`). Every other route gets a
  small body limit and keeps file parts in memory, so no refused request touches the disk.
- **Limits**: uploads share one counter per user (`/upload` and `/api/validations` alike);
  logins are limited per client address (in the gate, before the body) and per account
  (in the view, once the small form is read). Counters live in Redis. When Redis cannot be
  reached, logins fail closed (503) and uploads go on (their enqueue answers 503 anyway).
- **Headers**: a Content-Security-Policy our pages satisfy (the dashboard sets its own),
  no MIME sniffing, no referrer to other sites, no framing, `no-store` on everything but
  static files, HSTS on HTTPS requests.
"""

from __future__ import annotations

import math
import time
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from flask import Flask, Response, abort, current_app, g, request
from flask_login import current_user
from limits import parse as parse_limit
from limits.errors import StorageError
from limits.storage import storage_from_string
from limits.strategies import FixedWindowRateLimiter
from werkzeug.exceptions import HTTPException, SecurityError, TooManyRequests

from validateur.config import ConfigError
from validateur.errors import REDIS_DOWN

#: The limiter's counters cannot be reached: Redis is down, or `limits` says so.
LIMITER_DOWN: tuple[type[Exception], ...] = (*REDIS_DOWN, StorageError)

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
HSTS = "max-age=31536000"
#: Routes whose file parts may be streamed to disk once the gate admits the request.
UPLOAD_ENDPOINTS = frozenset({"pages.upload_form", "api.create_validation", "api.create_batch"})
LOGIN_ENDPOINT = "pages.login"
#: Body limit of every other route: a login or action form is well under 1 KiB.
SMALL_BODY_BYTES = 64 * 1024
LIMIT_PREFIX = "validateur"
LIMITS_KEY = "validateur.limits"
LOGIN_UNAVAILABLE = ("La connexion est momentanément impossible (service de limitation "
                     "des tentatives injoignable) ; réessayez dans quelques minutes.")

class LimiterUnavailable(HTTPException):
    """The limiter's storage cannot be reached while a login must be counted: 503."""

    code = 503
    description = LOGIN_UNAVAILABLE


def _positive_int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit():
        raise ConfigError(f"{name} doit être un entier positif ou nul")
    return int(raw)


def settings(env: Mapping[str, str]) -> dict[str, Any]:
    """The settings of sessions, tokens, proxies and hosts (merged by `config.load`)."""
    hosts = [h.strip() for h in env.get("VALIDATEUR_TRUSTED_HOSTS", "").split(",") if h.strip()]
    max_hours = _positive_int(env, "VALIDATEUR_SESSION_MAX_HOURS", 7 * 24)
    # Every test logs in from 127.0.0.1: the tests of this limit set their own.
    address_limit = "10000/minute" if env.get("VALIDATEUR_TESTING") == "1" else "30/minute"
    return {
        "VALIDATEUR_TRUSTED_PROXIES": _positive_int(env, "VALIDATEUR_TRUSTED_PROXIES", 1),
        "TRUSTED_HOSTS": hosts or None,
        "VALIDATEUR_SESSION_IDLE_MINUTES": _positive_int(
            env, "VALIDATEUR_SESSION_IDLE_MINUTES", 8 * 60),
        "VALIDATEUR_SESSION_MAX_HOURS": max_hours,
        "PERMANENT_SESSION_LIFETIME": timedelta(hours=max_hours),
        "VALIDATEUR_TOKEN_LIFETIME_DAYS": _positive_int(env, "VALIDATEUR_TOKEN_LIFETIME_DAYS", 90),
        "VALIDATEUR_LOGIN_ADDRESS_RATE_LIMIT": env.get("VALIDATEUR_LOGIN_ADDRESS_RATE_LIMIT",
                                                       address_limit),
    }


def upload_limit() -> str:
    limit: str = current_app.config["VALIDATEUR_UPLOAD_RATE_LIMIT"]
    return limit


def login_limit() -> str:
    limit: str = current_app.config["VALIDATEUR_LOGIN_RATE_LIMIT"]
    return limit


def seconds_until_allowed(limit: str, *identity: str) -> int | None:
    """Count one request against `limit` for `identity`: None when allowed, else seconds to wait.

    Raises `LimiterUnavailable` when the counters cannot be reached.
    """
    item = parse_limit(limit)
    strategy: FixedWindowRateLimiter = current_app.extensions[LIMITS_KEY]
    try:
        if strategy.hit(item, LIMIT_PREFIX, *identity):
            return None
        reset_at = strategy.get_window_stats(item, LIMIT_PREFIX, *identity).reset_time
    except LIMITER_DOWN:
        raise LimiterUnavailable() from None
    return max(1, math.ceil(reset_at - time.time()))


def too_many(wait: int) -> TooManyRequests:
    return TooManyRequests(retry_after=wait)


def check_login_account(email: str) -> None:
    """Per-account login limit (fails closed); raises 429 or 503."""
    wait = seconds_until_allowed(login_limit(), "login-account", email.strip().lower()[:320])
    if wait is not None:
        raise too_many(wait)


def _admit_upload() -> Any:
    """Authenticated editor or admin within the shared upload limit, from headers only."""
    if not current_user.is_authenticated:
        from validateur.extensions import login_manager

        return login_manager.unauthorized()
    if not current_user.can_upload:
        abort(403)
    try:
        wait = seconds_until_allowed(upload_limit(), "upload", f"user:{current_user.id}")
    except LimiterUnavailable:
        wait = None  # uploads fail open: without Redis their enqueue answers 503 anyway
    if wait is not None:
        raise too_many(wait)
    g.stream_uploads = True
    return None


def _gate() -> Any:
    """Runs first: decide what a request may send before anything reads its body."""
    if request.method == "POST" and request.endpoint in UPLOAD_ENDPOINTS:
        return _admit_upload()
    request.max_content_length = SMALL_BODY_BYTES
    if request.method == "POST" and request.endpoint == LOGIN_ENDPOINT:
        limit = current_app.config["VALIDATEUR_LOGIN_ADDRESS_RATE_LIMIT"]
        wait = seconds_until_allowed(limit, "login-address", request.remote_addr or "-")
        if wait is not None:
            raise too_many(wait)
    return None


def _limiter_unavailable(_exc: LimiterUnavailable) -> Any:
    from validateur.web.errors import error_response

    return error_response(503, "login_unavailable", LOGIN_UNAVAILABLE)


def _untrusted_host(_exc: SecurityError) -> Response:
    """A Host outside TRUSTED_HOSTS: no URL can be built for it, so no page either."""
    return Response("Hôte non autorisé.\n", status=400, mimetype="text/plain")


def is_upload_request() -> bool:
    return bool(g.get("stream_uploads"))


def _is_static() -> bool:
    endpoint = request.endpoint or ""
    return endpoint == "static" or endpoint.endswith(".static") or endpoint.endswith(".favicon")


def _headers(response: Response) -> Response:
    response.headers.setdefault("Content-Security-Policy", CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if not _is_static():
        response.headers["Cache-Control"] = "no-store"
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or "memory://")
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1,
                                                        "socket_timeout": 1})
    # The counters (the gate's and the login's), per app, with `limits` directly: they must
    # say when their storage is down instead of swallowing it, and count once per request.
    app.extensions[LIMITS_KEY] = FixedWindowRateLimiter(storage_from_string(
        app.config["RATELIMIT_STORAGE_URI"], **app.config["RATELIMIT_STORAGE_OPTIONS"]))
    app.register_error_handler(LimiterUnavailable, _limiter_unavailable)
    app.register_error_handler(SecurityError, _untrusted_host)
    # First of all before_request hooks: CSRF and the rest may read the body.
    app.before_request_funcs.setdefault(None, []).insert(0, _gate)
    app.after_request(_headers)
