"""Configuration, read once from the environment by the app factory (12-factor).

Every default carries its unit in its name. Nothing here is read at import time: `load()`
is called by `create_app()` so tests and commands can pass their own mapping.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from validateur.validation.errors import ValidateurError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Default RQ queue the upload feeds and the workers listen to.
DEFAULT_QUEUE_NAME = "validation"
#: Largest upload accepted when VALIDATEUR_MAX_UPLOAD_MB is unset.
DEFAULT_MAX_UPLOAD_MB = 300
#: Rows and results of finished runs older than this are purged.
DEFAULT_RETENTION_DAYS = 30
#: Most files in one batch when VALIDATEUR_BATCH_MAX_FILES is unset.
DEFAULT_BATCH_MAX_FILES = 20
#: Hard limit of one validation job; RQ's silent 180 s default is far too short for 1M rows.
DEFAULT_JOB_TIMEOUT_SECONDS = 3600
#: How long RQ keeps a finished job's record (not its data: jobs return nothing).
DEFAULT_RESULT_TTL_SECONDS = 3600
#: How long RQ keeps a failed job's record for ops to inspect in rq-dashboard.
DEFAULT_FAILURE_TTL_SECONDS = 24 * 3600
#: Waits before RQ's retries of a transient failure (exponential: 3 retries).
DEFAULT_RETRY_SECONDS = [10, 40, 160]
#: A run without heartbeat for this long whose job is not waiting is recovered (≤ 2 min
#: detection with the sweep interval below).
DEFAULT_STALL_SECONDS = 60
#: How often each worker's maintenance thread sweeps.
DEFAULT_SWEEP_SECONDS = 15
#: After SIGTERM, how long a worker lets its current job run before handing it back.
DEFAULT_SHUTDOWN_GRACE_SECONDS = 30
#: Redis connect timeout and socket timeout of the web's general client (rq-dashboard, cancel,
#: maintenance); it retries, so a Redis restart is absorbed.
DEFAULT_REDIS_CONNECT_TIMEOUT_SECONDS = 2.0
DEFAULT_REDIS_SOCKET_TIMEOUT_SECONDS = 5.0
#: The whole enqueue of an upload (connect and every command), so a hung Redis answers 503
#: in seconds instead of socket timeout × retries × commands.
DEFAULT_ENQUEUE_TIMEOUT_SECONDS = 2.0
#: `/api/health` gives each dependency this long, once, no retry (it must answer within 3 s).
HEALTH_TIMEOUT_SECONDS = 1.0
#: A web request's database wait that hears nothing for this long checks that the server is
#: alive; a hung server then answers 503, a busy one is left to finish (see validateur.database).
DEFAULT_DB_TIMEOUT_SECONDS = 2.0
#: Waits between webhook and e-mail delivery attempts (Standard Webhooks: growing, for hours).
DEFAULT_WEBHOOK_RETRY_SECONDS = [5, 300, 1800, 7200, 18000, 36000]
#: Base of the links in e-mails and webhook bodies.
DEFAULT_PUBLIC_URL = "http://127.0.0.1:5000"
DEFAULT_MAIL_FROM = "validateur@localhost"
#: The notification queue's name is the validation queue's with this suffix.
NOTIFICATIONS_QUEUE_SUFFIX = "-notifications"


class ConfigError(ValidateurError):
    """A required setting is missing or malformed (message names the variable)."""


def _int(env: Mapping[str, str], name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} doit être un entier") from exc


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if value <= 0:
        raise ConfigError(f"{name} doit être un nombre de secondes positif")
    return value


def database_uri(url: str) -> str:
    """Make any PostgreSQL URL use psycopg 3 (`postgresql+psycopg://`)."""
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def _seconds_list(env: Mapping[str, str], name: str, default: list[int]) -> list[int]:
    raw = env.get(name, "").strip()
    if not raw:
        return default
    try:
        return [int(part) for part in raw.split(",")]
    except ValueError as exc:
        raise ConfigError(f"{name} doit être une liste d'entiers séparés par des virgules") from exc


def _rules(env: Mapping[str, str]) -> list[str] | None:
    """VALIDATEUR_RULES: comma-separated rule slugs to run (all when unset)."""
    from validateur.validation.rules import RULES

    raw = env.get("VALIDATEUR_RULES", "").strip()
    if not raw:
        return None
    slugs = [slug.strip() for slug in raw.split(",") if slug.strip()]
    unknown = sorted(set(slugs) - set(RULES))
    if unknown:
        raise ConfigError(f"VALIDATEUR_RULES : règles inconnues {', '.join(unknown)}")
    return slugs


def load(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """Build the Flask config mapping from environment variables."""
    from validateur import security

    env = os.environ if env is None else env
    testing = env.get("VALIDATEUR_TESTING") == "1"
    dev = env.get("VALIDATEUR_DEV") == "1"
    secret = env.get("SECRET_KEY", "")
    if not secret and not (testing or dev):
        raise ConfigError("SECRET_KEY est obligatoire hors développement et tests")
    database_url = env.get("DATABASE_URL", "")
    if not database_url:
        raise ConfigError("DATABASE_URL est obligatoire (validateur dev en démarre un)")
    upload_dir = Path(env.get("VALIDATEUR_UPLOAD_DIR") or PROJECT_ROOT / "instance" / "uploads")
    max_mb = _int(env, "VALIDATEUR_MAX_UPLOAD_MB", DEFAULT_MAX_UPLOAD_MB)
    return {
        "SECRET_KEY": secret or os.urandom(32).hex(),
        "TESTING": testing,
        "SQLALCHEMY_DATABASE_URI": database_uri(database_url),
        "SQLALCHEMY_ENGINE_OPTIONS": {"pool_pre_ping": True},
        "REDIS_URL": env.get("REDIS_URL", ""),
        "VALIDATEUR_QUEUE": env.get("VALIDATEUR_QUEUE", DEFAULT_QUEUE_NAME),
        #: Bearer token of `/metrics`; unset, there is no `/metrics` (404).
        "VALIDATEUR_METRICS_TOKEN": env.get("VALIDATEUR_METRICS_TOKEN", ""),
        "VALIDATEUR_UPLOAD_DIR": upload_dir.resolve(),
        "VALIDATEUR_MAX_UPLOAD_MB": max_mb,
        "MAX_CONTENT_LENGTH": max_mb * 1024 * 1024 + 64 * 1024,
        "VALIDATEUR_BATCH_MAX_FILES": _int(env, "VALIDATEUR_BATCH_MAX_FILES",
                                           DEFAULT_BATCH_MAX_FILES),
        "VALIDATEUR_RETENTION_DAYS": _int(env, "VALIDATEUR_RETENTION_DAYS", DEFAULT_RETENTION_DAYS),
        "VALIDATEUR_JOB_TIMEOUT": _int(env, "VALIDATEUR_JOB_TIMEOUT", DEFAULT_JOB_TIMEOUT_SECONDS),
        "VALIDATEUR_RULES": _rules(env),
        "VALIDATEUR_UPLOAD_RATE_LIMIT": env.get("VALIDATEUR_UPLOAD_RATE_LIMIT", "30/minute"),
        "VALIDATEUR_LOGIN_RATE_LIMIT": env.get("VALIDATEUR_LOGIN_RATE_LIMIT", "10/minute"),
        "VALIDATEUR_RETRY_SECONDS": _seconds_list(
            env, "VALIDATEUR_RETRY_SECONDS", DEFAULT_RETRY_SECONDS
        ),
        "VALIDATEUR_STALL_SECONDS": _int(env, "VALIDATEUR_STALL_SECONDS", DEFAULT_STALL_SECONDS),
        "VALIDATEUR_SWEEP_SECONDS": _int(env, "VALIDATEUR_SWEEP_SECONDS", DEFAULT_SWEEP_SECONDS),
        "VALIDATEUR_SHUTDOWN_GRACE_SECONDS": _int(
            env, "VALIDATEUR_SHUTDOWN_GRACE_SECONDS", DEFAULT_SHUTDOWN_GRACE_SECONDS
        ),
        "VALIDATEUR_DB_TIMEOUT_SECONDS": _seconds(
            env, "VALIDATEUR_DB_TIMEOUT_SECONDS", DEFAULT_DB_TIMEOUT_SECONDS
        ),
        "VALIDATEUR_ENQUEUE_TIMEOUT_SECONDS": _seconds(
            env, "VALIDATEUR_ENQUEUE_TIMEOUT_SECONDS", DEFAULT_ENQUEUE_TIMEOUT_SECONDS
        ),
        **_notification_settings(env),
        "SESSION_COOKIE_HTTPONLY": True,
        "SESSION_COOKIE_SAMESITE": "Lax",
        "SESSION_COOKIE_SECURE": not (testing or dev),
        "REMEMBER_COOKIE_HTTPONLY": True,
        "WTF_CSRF_TIME_LIMIT": None,
        **security.settings(env),
    }


def _notification_settings(env: Mapping[str, str]) -> dict[str, Any]:
    """Where links point, how mail leaves (`SMTP_URL` unset: no e-mail) and how webhooks
    are retried; the notifications get their own queue, named after the validations'."""
    queue = env.get("VALIDATEUR_QUEUE", DEFAULT_QUEUE_NAME)
    smtp_url = env.get("SMTP_URL", "").strip()
    if smtp_url and not smtp_url.startswith(("smtp://", "smtps://")):
        raise ConfigError("SMTP_URL doit commencer par smtp:// ou smtps://")
    retries = _seconds_list(env, "VALIDATEUR_WEBHOOK_RETRY_SECONDS",
                            DEFAULT_WEBHOOK_RETRY_SECONDS)
    if any(wait < 0 for wait in retries):
        raise ConfigError("VALIDATEUR_WEBHOOK_RETRY_SECONDS : attentes négatives refusées")
    return {
        "VALIDATEUR_PUBLIC_URL": (env.get("VALIDATEUR_PUBLIC_URL", "").strip()
                                  or DEFAULT_PUBLIC_URL).rstrip("/"),
        "SMTP_URL": smtp_url,
        "VALIDATEUR_MAIL_FROM": env.get("VALIDATEUR_MAIL_FROM", "").strip() or DEFAULT_MAIL_FROM,
        "VALIDATEUR_WEBHOOK_RETRY_SECONDS": retries,
        "VALIDATEUR_WEBHOOK_ALLOW_PRIVATE": env.get("VALIDATEUR_WEBHOOK_ALLOW_PRIVATE") == "1",
        "VALIDATEUR_NOTIFICATIONS_QUEUE": queue + NOTIFICATIONS_QUEUE_SUFFIX,
    }
