"""A value PostgreSQL refuses fails the run at once as an unreadable file, never retried.

The reader keeps such values out (NULs removed, amounts of 10⁹ $ or more refused), so the
guard in the job is reached here by raising the reader's amount bound past what
`billing_records` holds: the database then refuses the COPY with a real `DataError`.
"""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient
from sqlalchemy import func, select

from jobs.validation import REFUSED_VALUE_MESSAGE, validate_run
from tests.support.api import Person, upload_csv
from tests.support.csvfiles import act, billing_csv
from validateur.extensions import db
from validateur.models import BillingRecord, ValidationRun
from validateur.validation import cells

pytestmark = pytest.mark.e2e


def test_a_value_the_database_refuses_is_an_input_failure(
    app: Flask, client: FlaskClient, editor: Person, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(cells, "MAX_AMOUNT", Decimal(10) ** 30)
    content = billing_csv([act(1), act(2, **{"Montant payé": "1" + "0" * 15})])
    run_id = upload_csv(client, editor, content).get_json()["validationId"]
    validate_run(run_id)  # the job, in this process (no worker listens in this module)
    with app.app_context():
        run = db.session.get(ValidationRun, run_id)
        assert run is not None
        assert (run.status, run.attempts, run.error_category) == ("failed", 1, "unreadable-file")
        assert run.error_message == REFUSED_VALUE_MESSAGE
        assert db.session.execute(select(func.count()).select_from(BillingRecord).where(
            BillingRecord.validation_run_id == run_id)).scalar_one() == 0
    assert not any(Path(app.config["VALIDATEUR_UPLOAD_DIR"]).iterdir())
