"""Bad input never hurts: 30+ malformed files, each a clean 4xx or a final run, nothing left.

Every file goes through the real upload and a real worker. Allowed outcomes: a 4xx with a
French message at upload (nothing stored), or a run that ends `failed` with a message or
`completed` (with `structure` findings when rows are bad). Never a 500, never a run left
open, never a file left in the upload directory.
"""

from __future__ import annotations

import gzip
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.api import Person, upload_csv
from tests.support.csvfiles import HEADER, act, billing_csv
from tests.workers import wait_final

pytestmark = pytest.mark.e2e
GOOD = billing_csv([act(1), act(2)])
HEADER_LINE = ",".join(HEADER).encode() + b"\r\n"
ROW = ",".join(f'"{v}"' for v in act(1).values()).encode()


def _many_columns() -> bytes:
    names = HEADER + [f"Extra {n}" for n in range(10_000)]
    return billing_csv([act(1)], header=names)


CORPUS: dict[str, Callable[[], bytes]] = {
    "empty": lambda: b"",
    "whitespace only": lambda: b"   \r\n\r\n  \n",
    "header only": lambda: HEADER_LINE,
    "binary png": lambda: b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40,
    "gzip of a good file": lambda: gzip.compress(GOOD),
    "utf-16 with bom": lambda: GOOD.decode().encode("utf-16"),
    "utf-16 without bom": lambda: GOOD.decode().encode("utf-16-le"),
    "nul bytes in header": lambda: GOOD.replace(b"Facture", b"Fac\x00ture"),
    "nul bytes deep in data": lambda: GOOD + b"\x00" * 10 + b"\r\n" + GOOD.split(b"\r\n", 1)[1],
    "5 MB single line": lambda: b"a" * (5 * 1024 * 1024),
    "10,000 columns": _many_columns,
    "unterminated quote": lambda: GOOD + b'3,"F3,' + b"x" * 200_000,
    "mixed delimiters": lambda: HEADER_LINE + ROW.replace(b'","', b'";"', 5) + b"\r\n",
    "duplicated headers": lambda: billing_csv([act(1)], header=[*HEADER, "Code", "Patient"]),
    "wrong columns": lambda: b"nom,prenom,age\r\nDoe,Jane,42\r\n",
    "every cell empty": lambda: HEADER_LINE + b"," * 22 + b"\r\n" + b"," * 22 + b"\r\n",
    "impossible date": lambda: billing_csv([act(1, **{"Date de Service": "2025-13-45"})]),
    "amount abc": lambda: billing_csv([act(1, **{"Montant payé": "abc"})]),
    "amount NaN": lambda: billing_csv([act(1, **{"Montant Preliminaire": "NaN"})]),
    "time 25:99": lambda: billing_csv([act(1, Début="25:99", Fin="xx")]),
    "units garbage": lambda: billing_csv([act(1, Code="8859", Unités="beaucoup")]),
    "more cells than headers": lambda: GOOD.rstrip(b"\r\n") + b",surplus,encore\r\n",
    "short rows": lambda: billing_csv([act(1)], drop_last_cell=True),
    "only 17 columns plus patient": lambda: billing_csv([act(1)], header=[*HEADER[:17], "Patient"]),
    "missing required columns": lambda: billing_csv([act(1)], header=HEADER[:10]),
    "lone CR line endings": lambda: GOOD.replace(b"\r\n", b"\r"),
    "cp1252 accents after 100 KB of ascii": lambda: billing_csv(
        [act(n) for n in range(1, 600)] + [act(600, Patient="TEST00000600 - CÔTÉ, ÈVE")],
        encoding="cp1252"),
    "invalid utf-8 sequence": lambda: GOOD.replace(b"Montant", b"Mont\xc3\x28nt", 1),
    "damaged accents U+FFFD": lambda: GOOD.decode().replace("é", "\ufffd").encode(),
    "formula injection cells": lambda: billing_csv([act(1, Facture="=cmd|'/c calc'!A1",
                                                         Code="+8857")]),
    "html in cells": lambda: billing_csv([act(1, Patient="<script>alert(1)</script>")]),
    "blank lines everywhere": lambda: GOOD.replace(b"\r\n", b"\r\n\r\n,,,\r\n"),
    "huge field 2 MB": lambda: billing_csv([act(1, Diagnostic="D" * 2_000_000)]),
    "pdf": lambda: b"%PDF-1.7\n" + bytes(range(256)) * 20,
    "xlsx zip": lambda: b"PK\x03\x04" + bytes(200),
}


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_malformed_file_gets_a_clear_answer_and_leaves_nothing(
    name: str, app: Flask, client: FlaskClient, editor: Person, rq_worker: subprocess.Popen[bytes]
) -> None:
    response = upload_csv(client, editor, CORPUS[name](), f"{name}.csv")
    assert response.status_code in (202, 400, 413), (name, response.status_code)
    body = response.get_json()
    if response.status_code != 202:
        message = body["error"]["message"]
        assert message and message[0].isupper() and "Traceback" not in message
        assert not any(Path(app.config["VALIDATEUR_UPLOAD_DIR"]).iterdir())
        return
    run = wait_final(app, body["validationId"], timeout=60)
    assert run.status in ("completed", "failed"), name
    if run.status == "failed":
        assert run.error_message and "Traceback" not in run.error_message
        assert run.attempts == 1, "an input error is not retried"
    assert not any(Path(app.config["VALIDATEUR_UPLOAD_DIR"]).iterdir())


def test_the_corpus_is_big_enough() -> None:
    assert len(CORPUS) >= 30
