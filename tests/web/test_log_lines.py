"""Our own log lines: one line each whatever they quote, exceptions as class and frames."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest
from flask import Flask

from validateur import create_app
from validateur.logsafe import SafeFormatter, escape_controls
from validateur.uploads import display_name

CANARY = "ZQXWCANARYLAST"


@pytest.fixture()
def captured() -> Iterator[io.StringIO]:
    """A handler with our formatter on the root logger, as `logsafe.configure` installs it."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(SafeFormatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def test_control_characters_are_escaped_in_every_line(captured: io.StringIO) -> None:
    logging.getLogger("validateur.test").warning("path %s", "/x\nINFO forged line\r\0\u202e")
    text = captured.getvalue()
    assert text.count("\n") == 1 and "\0" not in text and "\r" not in text
    assert "/x\\nINFO forged line\\r\\x00\\u202e" in text


def test_an_exception_is_logged_as_its_class_and_frames(captured: io.StringIO) -> None:
    def quote_a_cell() -> None:
        raise ValueError(f"invalid input value for column patient: {CANARY}")

    try:
        quote_a_cell()
    except ValueError:
        logging.getLogger("validateur.test").exception("failed")
    text = captured.getvalue()
    assert CANARY not in text
    assert "builtins.ValueError" in text and "in quote_a_cell" in text


def test_the_500_handler_logs_frames_without_the_exception_text(
        service_env: dict[str, str], captured: io.StringIO) -> None:
    broken: Flask = create_app({"WTF_CSRF_ENABLED": False})
    # Alembic's fileConfig (run by the migration tests) disables the loggers existing then.
    logging.getLogger("validateur.web.errors").disabled = False

    def explode() -> str:
        raise RuntimeError(f"driver says: {CANARY}")

    broken.add_url_rule("/explode", "explode", explode)
    response = broken.test_client().get("/explode")
    assert response.status_code == 500
    text = captured.getvalue()
    assert "unhandled RuntimeError on GET /explode" in text and "in explode" in text
    assert CANARY not in text and CANARY not in response.get_data(as_text=True)


@pytest.fixture()
def plain_log() -> Iterator[io.StringIO]:
    """A root handler with logging's own formatter: it would print any exception it is given."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield stream
    finally:
        root.removeHandler(handler)


def test_a_500_from_a_driver_quoting_a_cell_never_logs_the_cell(
        service_env: dict[str, str], plain_log: io.StringIO) -> None:
    """PostgreSQL quotes the refused value and SQLAlchemy adds the parameters to its text:
    the handler logs frames only, whatever formatter the process runs with."""
    from sqlalchemy import text

    from validateur.extensions import db

    broken: Flask = create_app({"WTF_CSRF_ENABLED": False})
    logging.getLogger("validateur.web.errors").disabled = False

    def refuse_a_cell() -> str:
        db.session.execute(text("SELECT CAST(:patient AS integer)"), {"patient": CANARY})
        return "unreachable"

    broken.add_url_rule("/refuse", "refuse", refuse_a_cell)
    response = broken.test_client().get("/refuse")
    assert response.status_code == 500
    text_logged = plain_log.getvalue()
    assert "unhandled DataError on GET /refuse" in text_logged
    assert "in refuse_a_cell" in text_logged and "exception text omitted" in text_logged
    assert CANARY not in text_logged and CANARY not in response.get_data(as_text=True)


def test_escape_leaves_ordinary_french_text_alone() -> None:
    assert escape_controls("Réclamation 30000000001 : 1 234,56 $") == (
        "Réclamation 30000000001 : 1 234,56 $")


@pytest.mark.parametrize(("name", "label"), [
    ("facture\u202evsc.exe", "facturevsc.exe"), ("mars\u2066.csv\u2069", "mars.csv"),
    ("a\0b.csv", "ab.csv"), ("ligne\nbrisée.csv", "lignebrisée.csv"),
    ("C:\\dossier\\mars.csv", "mars.csv"), ("\u200f\u200e", "fichier.csv"),
    ("Facturation journalière – mars.csv", "Facturation journalière – mars.csv"),
])
def test_file_name_labels_lose_bidi_and_control_characters(name: str, label: str) -> None:
    assert display_name(name) == label
