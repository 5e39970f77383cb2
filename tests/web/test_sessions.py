"""Sessions, logins and API tokens: what a stolen cookie, a planted token or a spray can do.

Each test replays one finding of the penetration test against the real app (PostgreSQL,
Redis): logout and password changes end sessions on the server's side, the session and CSRF
token rotate at login, lifetimes hold, the client address comes from the trusted hop,
logins are limited per account and per address and fail closed without Redis, unknown
e-mails cost the same time as known ones, and `next` never leads off-site.
"""

from __future__ import annotations

import statistics
import time
from datetime import timedelta
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import select, update
from werkzeug.security import generate_password_hash

from tests.support.api import Person, upload_csv
from tests.support.csvfiles import act, billing_csv
from validateur import auth, create_app
from validateur.extensions import db
from validateur.models import ApiToken, utcnow
from validateur.stack import free_port


def _login(client: FlaskClient, person: Person, **kwargs: Any) -> Any:
    return client.post("/login", data={"email": person.email, "password": person.password},
                       **kwargs)


def _copy_session(source: FlaskClient, target: FlaskClient) -> None:
    cookie = source.get_cookie("session")
    assert cookie is not None
    target.set_cookie("session", cookie.value)


def _api_status(client: FlaskClient, **kwargs: Any) -> int:
    return client.get("/api/validations", **kwargs).status_code


@pytest.mark.parametrize(("target", "expected"), [
    ("/\t/evil.example", "/"), ("/\n/x", "/"), ("/\r\n/x", "/"), ("//evil.example", "/"),
    ("/\\evil.example", "/"), ("\\\\evil.example", "/"), ("https://evil.example/", "/"),
    ("javascript:alert(1)", "/"), (" //evil.example", "/"), ("/\u202e/evil", "/"),
    ("/runs?page=2", "/runs?page=2"), ("/runs/12", "/runs/12"),
])
def test_next_only_leads_to_a_same_site_path(app: Flask, editor: Person, target: str,
                                              expected: str) -> None:
    response = app.test_client().post("/login", query_string={"next": target},
                                      data={"email": editor.email, "password": editor.password})
    assert response.status_code == 302
    assert response.headers["Location"] == expected


def test_logout_ends_the_session_a_copied_cookie_carries(app: Flask, editor: Person) -> None:
    browser, thief = app.test_client(), app.test_client()
    _login(browser, editor)
    _copy_session(browser, thief)
    assert _api_status(thief) == 200
    logged_out = browser.post("/logout")
    assert logged_out.headers["Location"] == "/login"
    assert "Vous êtes déconnecté." in browser.get("/login").get_data(as_text=True)
    assert _api_status(thief) == 401  # the copy taken before logout no longer reads the API
    assert _api_status(browser) == 401


@pytest.mark.parametrize("change", ["password", "disable"])
def test_a_new_password_or_a_disabled_account_ends_every_session(
        app: Flask, editor: Person, change: str) -> None:
    browser = app.test_client()
    _login(browser, editor)
    assert _api_status(browser) == 200
    with app.app_context():
        user = auth.find_user(editor.email)
        assert user is not None
        if change == "password":
            user.password_hash = generate_password_hash("un autre mot de passe")
        else:
            user.active = False
        db.session.commit()
    assert _api_status(browser) == 401
    expected_token = 200 if change == "password" else 401
    assert _api_status(app.test_client(), headers=editor.headers) == expected_token


def test_a_forged_first_forwarded_for_does_not_carry_a_stolen_session(
        app: Flask, editor: Person) -> None:
    """nginx appends the address it sees; Flask-Login used to read the first entry."""
    victim, thief = app.test_client(), app.test_client()
    _login(victim, editor, headers={"X-Forwarded-For": "203.0.113.5"})
    assert _api_status(victim, headers={"X-Forwarded-For": "203.0.113.5"}) == 200
    _copy_session(victim, thief)
    forged = {"X-Forwarded-For": "203.0.113.5, 198.51.100.7"}  # thief's own address last
    assert _api_status(thief, headers=forged) == 401


def test_login_rotates_the_session_and_its_csrf_token(service_env: dict[str, str],
                                                       app: Flask, editor: Person) -> None:
    strict = create_app()  # CSRF on, as in production
    client = strict.test_client()
    planted = client.get("/login").get_data(as_text=True)
    before = planted.split('name="csrf-token" content="')[1].split('"')[0]
    client.post("/login", data={"email": editor.email, "password": editor.password,
                                "csrf_token": before})
    refused = client.post("/api/validations/1/cancel", headers={"X-CSRFToken": before})
    assert refused.status_code == 400  # the pre-login token no longer passes
    assert refused.get_json()["error"]["code"] == "csrf"
    after = client.get("/").get_data(as_text=True).split(
        'name="csrf-token" content="')[1].split('"')[0]
    assert after != before
    assert client.post("/api/validations/1/cancel", headers={"X-CSRFToken": after}
                       ).status_code == 404  # past CSRF: the run does not exist
    with strict.app_context():
        db.session.remove()
        db.engine.dispose()


def _rewrite_session(app: Flask, client: FlaskClient, **changes: int) -> None:
    """Re-sign the client's session cookie with some timestamps moved (the server's key)."""
    serializer = app.session_interface.get_signing_serializer(app)  # type: ignore[attr-defined]
    cookie = client.get_cookie("session")
    assert cookie is not None and serializer is not None
    data = serializer.loads(cookie.value)
    data.update(changes)
    client.set_cookie("session", serializer.dumps(data))


@pytest.mark.parametrize(("moved", "expected"), [
    ({}, 200),
    ({"_seen_at": -(8 * 3600 + 120)}, 401),  # idle past 8 h
    ({"_seen_at": -(7 * 3600)}, 200),
    ({"_login_at": -(7 * 24 * 3600 + 60)}, 401),  # past the 7-day absolute lifetime
])
def test_sessions_end_when_idle_or_too_old(app: Flask, editor: Person, moved: dict[str, int],
                                           expected: int) -> None:
    client = app.test_client()
    _login(client, editor)
    now = int(time.time())
    _rewrite_session(app, client, **{key: now + delta for key, delta in moved.items()})
    assert _api_status(client) == expected


def test_the_session_cookie_ends_with_the_browser_and_the_absolute_lifetime(
        app: Flask, editor: Person) -> None:
    response = _login(app.test_client(), editor)
    cookie = response.headers["Set-Cookie"]
    assert "Expires=" not in cookie and "HttpOnly" in cookie
    # Flask refuses a signed session older than this, whatever its content says.
    assert app.config["PERMANENT_SESSION_LIFETIME"] == timedelta(days=7)


def test_tokens_expire_and_record_their_last_use_now_and_then(app: Flask, editor: Person) -> None:
    client = app.test_client()

    def token_row() -> ApiToken:
        with app.app_context():
            row = db.session.execute(select(ApiToken)).scalar_one()
            db.session.expunge(row)
            return row

    def move(**values: Any) -> None:
        with app.app_context():
            db.session.execute(update(ApiToken).values(**values))
            db.session.commit()

    assert token_row().last_used_at is None
    assert _api_status(client, headers=editor.headers) == 200
    first = token_row().last_used_at
    assert first is not None
    assert _api_status(client, headers=editor.headers) == 200
    assert token_row().last_used_at == first  # not a write per request
    move(last_used_at=utcnow() - timedelta(minutes=10))
    assert _api_status(client, headers=editor.headers) == 200
    assert token_row().last_used_at > first  # type: ignore[operator]
    move(created_at=utcnow() - timedelta(days=91))
    assert _api_status(client, headers=editor.headers) == 401  # 90-day lifetime


def test_login_is_limited_per_account_whatever_the_address(app: Flask, editor: Person) -> None:
    app.config["VALIDATEUR_LOGIN_RATE_LIMIT"] = "3/minute"
    try:
        codes = [app.test_client().post(
            "/login", data={"email": editor.email.upper(), "password": "faux"},
            headers={"X-Forwarded-For": f"198.51.100.{n}"}).status_code for n in range(4)]
    finally:
        app.config["VALIDATEUR_LOGIN_RATE_LIMIT"] = "10/minute"
    assert codes == [401, 401, 401, 429]


def test_login_is_limited_per_address_whatever_the_account(app: Flask) -> None:
    """Spraying e-mails, with a forged X-Forwarded-For each time: nginx appends the real one."""
    app.config["VALIDATEUR_LOGIN_ADDRESS_RATE_LIMIT"] = "3/minute"
    try:
        responses = [app.test_client().post(
            "/login", data={"email": f"personne{n}@exemple.test", "password": "faux"},
            headers={"X-Forwarded-For": f"10.9.9.{n}, 203.0.113.77"}) for n in range(4)]
    finally:
        app.config["VALIDATEUR_LOGIN_ADDRESS_RATE_LIMIT"] = "10000/minute"
    assert [r.status_code for r in responses] == [401, 401, 401, 429]
    assert 1 <= int(responses[-1].headers["Retry-After"]) <= 60
    assert "Trop de requêtes" in responses[-1].get_data(as_text=True)


def test_an_unknown_email_answers_in_the_time_of_a_known_one(app: Flask, editor: Person) -> None:
    """Both take a password hash (80 ms against 4 ms before the dummy hash). The two kinds
    alternate, so a load that comes and goes on the machine weighs on both alike."""
    times: dict[str, list[float]] = {editor.email: [], "personne-inconnue@exemple.test": []}
    for _ in range(7):
        for email, seen in times.items():
            started = time.perf_counter()
            app.test_client().post("/login", data={"email": email, "password": "faux"})
            seen.append(time.perf_counter() - started)
    known, unknown = (statistics.median(seen) for seen in times.values())
    print(f"login known {known * 1000:.1f} ms, unknown {unknown * 1000:.1f} ms")
    assert 0.5 < unknown / known < 2.0


def test_logins_fail_closed_and_uploads_go_on_when_the_limiter_is_down(
        service_env: dict[str, str], editor: Person) -> None:
    down = create_app({"WTF_CSRF_ENABLED": False,
                       "RATELIMIT_STORAGE_URI": f"redis://127.0.0.1:{free_port()}/0"})
    client = down.test_client()
    refused = _login(client, editor)
    assert refused.status_code == 503
    assert "réessayez dans quelques minutes" in refused.get_data(as_text=True)
    assert upload_csv(client, editor, billing_csv([act(1)])).status_code == 202
    with down.app_context():
        db.session.remove()
        db.engine.dispose()


def test_the_login_page_speaks_french_and_knows_who_is_there(app: Flask, editor: Person) -> None:
    client = app.test_client()
    empty = client.post("/login", data={"email": "", "password": ""})
    assert empty.status_code == 400
    assert "Saisissez votre courriel et votre mot de passe." in empty.get_data(as_text=True)
    wrong = client.post("/login", data={"email": editor.email, "password": "faux"})
    assert wrong.status_code == 401
    assert "Courriel ou mot de passe invalide." in wrong.get_data(as_text=True)
    _login(client, editor)
    again = client.get("/login")
    assert again.status_code == 302 and again.headers["Location"] == "/"
