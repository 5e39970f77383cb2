"""Request-level protections: rate limits and response headers.

- Uploads are limited per user (not per proxy address: every agency sits behind the same
  nginx), logins per client address and e-mail. Counters live in Redis; when Redis is down
  the limiter lets requests through rather than failing them (uploads then answer 503 anyway).
- Every response carries a Content-Security-Policy that our pages satisfy (no inline script,
  no inline style), no MIME sniffing, no referrer to other sites, no framing.
"""

from __future__ import annotations

from flask import Flask, Response, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_login import current_user

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
#: rq-dashboard's own pages use inline scripts and styles and CDN-free assets of its blueprint.
DASHBOARD_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; object-src 'none'; base-uri 'none'; frame-ancestors 'none'"
)


def _user_or_address() -> str:
    if current_user.is_authenticated:
        return f"user:{current_user.id}"
    return f"addr:{get_remote_address()}"


def login_key() -> str:
    email = (request.form.get("email") or "").strip().lower()[:320]
    return f"login:{get_remote_address()}:{email}"


limiter = Limiter(key_func=_user_or_address, strategy="fixed-window", swallow_errors=True,
                  key_prefix="validateur")


def upload_limit() -> str:
    from flask import current_app

    limit: str = current_app.config["VALIDATEUR_UPLOAD_RATE_LIMIT"]
    return limit


def login_limit() -> str:
    from flask import current_app

    limit: str = current_app.config["VALIDATEUR_LOGIN_RATE_LIMIT"]
    return limit


def _headers(response: Response) -> Response:
    dashboard = request.path.startswith("/admin/rq")
    response.headers.setdefault("Content-Security-Policy", DASHBOARD_CSP if dashboard else CSP)
    response.headers.setdefault("X-Content-Type-Options", "nosniff")
    response.headers.setdefault("Referrer-Policy", "same-origin")
    response.headers.setdefault("X-Frame-Options", "DENY")
    if request.path.startswith("/api/"):
        response.headers.setdefault("Cache-Control", "no-store")
    return response


def init_app(app: Flask) -> None:
    app.config.setdefault("RATELIMIT_STORAGE_URI", app.config["REDIS_URL"] or "memory://")
    app.config.setdefault("RATELIMIT_STORAGE_OPTIONS", {"socket_connect_timeout": 1,
                                                        "socket_timeout": 1})
    limiter.init_app(app)
    app.after_request(_headers)
