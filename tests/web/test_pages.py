"""The French pages: login, upload (plain form), runs list, run page."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from flask.testing import FlaskClient

from tests.support.api import Person, upload_csv
from tests.support.csvfiles import act, billing_csv
from tests.workers import start_rq_worker, stop, wait_final


def login(client: FlaskClient, person: Person) -> Any:
    return client.post("/login", data={"email": person.email, "password": person.password})


def test_pages_require_login(client: FlaskClient) -> None:
    for path in ("/", "/runs", "/runs/1", "/admin/"):
        response = client.get(path)
        assert response.status_code == 302
        assert "/login" in response.headers["Location"]


def test_login_page_is_french_and_rejects_bad_password(client: FlaskClient,
                                                      editor: Person) -> None:
    assert "Connexion" in client.get("/login").get_data(as_text=True)
    response = client.post("/login", data={"email": editor.email, "password": "faux"})
    assert "Courriel ou mot de passe invalide" in response.get_data(as_text=True)


def test_login_then_upload_with_the_plain_form(app: Flask, client: FlaskClient,
                                               editor: Person) -> None:
    assert login(client, editor).status_code == 302
    page = client.get("/").get_data(as_text=True)
    assert "Glissez-déposez" in page and 'type="file"' in page
    response = client.post(
        "/upload",
        data={"file": (io.BytesIO(billing_csv([act(1)])), "<img src=x onerror=alert(1)>.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 302
    run_page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert 'class="status queued"' in run_page
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in run_page and "<img" not in run_page
    runs = client.get("/runs").get_data(as_text=True)
    assert "&lt;img src=x onerror=alert(1)&gt;.csv" in runs


def test_plain_form_rejects_a_bad_file_in_french(client: FlaskClient, editor: Person) -> None:
    login(client, editor)
    response = client.post(
        "/upload", data={"file": (io.BytesIO(b"a,b\r\n1,2\r\n"), "x.csv")},
        content_type="multipart/form-data",
    )
    assert response.status_code == 400
    assert "colonnes attendues" in response.get_data(as_text=True)


def test_viewer_sees_no_upload_form(client: FlaskClient, make_person: Any) -> None:
    viewer = make_person("viewer")
    login(client, viewer)
    assert 'type="file"' not in client.get("/").get_data(as_text=True)


def test_run_page_of_another_user_is_404(client: FlaskClient, editor: Person,
                                        make_person: Any) -> None:
    run_id = upload_csv(client, editor, billing_csv([act(1)])).get_json()["validationId"]
    other = make_person("editor")
    login(client, other)
    assert client.get(f"/runs/{run_id}").status_code == 404


def test_admin_page_is_for_admins(client: FlaskClient, editor: Person, make_person: Any) -> None:
    login(client, editor)
    assert client.get("/admin/").status_code == 403
    assert client.get("/admin/rq/").status_code == 403
    client.post("/logout")
    admin = make_person("admin")
    login(client, admin)
    assert "Administration" in client.get("/admin/").get_data(as_text=True)
    assert client.get("/admin/rq/").status_code == 200


def test_session_upload_through_the_api_needs_csrf(app: Flask, editor: Person) -> None:
    app.config["WTF_CSRF_ENABLED"] = True
    try:
        client = app.test_client()
        page = client.get("/login").get_data(as_text=True)
        token = page.split('name="csrf-token" content="')[1].split('"')[0]
        client.post("/login", data={"email": editor.email, "password": editor.password,
                                    "csrf_token": token})
        data = {"file": (io.BytesIO(billing_csv([act(1)])), "f.csv")}
        refused = client.post("/api/validations", data=data, content_type="multipart/form-data")
        assert refused.status_code == 400
        assert refused.get_json()["error"]["code"] == "csrf"
        # Login rotated the session's CSRF token: the page after login carries the new one.
        page = client.get("/").get_data(as_text=True)
        fresh = page.split('name="csrf-token" content="')[1].split('"')[0]
        assert fresh != token
        data = {"file": (io.BytesIO(billing_csv([act(1)])), "f.csv")}
        accepted = client.post("/api/validations", data=data, headers={"X-CSRFToken": fresh},
                               content_type="multipart/form-data")
        assert accepted.status_code == 202
    finally:
        app.config["WTF_CSRF_ENABLED"] = False


# --- French, formatted, role-aware pages -------------------------------------------------

NNBSP, NBSP = "\u202f", "\u00a0"


def _text(response: Any) -> str:
    """The page with its runs of white space as single spaces (templates wrap lines)."""
    return re.sub(r"[ \t\r\n]+", " ", response.get_data(as_text=True))  # keeps no-break spaces


def _queued_run(client: FlaskClient, person: Person, name: str = "facturation.csv") -> int:
    response = upload_csv(client, person, billing_csv([act(1)]), name)
    assert response.status_code == 202
    return int(response.get_json()["validationId"])


def _complete(app: Flask, run_id: int, findings: list[tuple[str, str, str, str]],
              total_rows: int = 100_000) -> None:
    """Write findings and complete the run through `runs` (the one writer of statuses)."""
    from decimal import Decimal

    from validateur import runs
    from validateur.extensions import db
    from validateur.models import ValidationResult

    with app.app_context():
        assert runs.start_attempt(run_id)
        for rule, scenario, severity, amount in findings:
            db.session.add(ValidationResult(
                validation_run_id=run_id, rule=rule, scenario=scenario, severity=severity,
                message=f"Message {scenario}", solution="Corrigez", rows=[2], id_ramq=[],
                monetary_impact=Decimal(amount), data={}))
        db.session.commit()
        counts: dict[str, int] = {}
        for _rule, _scenario, severity, _amount in findings:
            counts[severity] = counts.get(severity, 0) + 1
        completed = runs.Completed(total_rows=total_rows, counts=counts,
                                   potential_gain=Decimal("1234.56"),
                                   money_at_risk=Decimal("32.40"))
        assert runs.finish(run_id, completed, source="worker", line="Traitement terminé")


def test_the_header_names_the_role_in_french(client: FlaskClient, editor: Person,
                                             make_person: Any) -> None:
    login(client, editor)
    page = _text(client.get("/"))
    assert "(éditeur)" in page and "(editor)" not in page
    client.post("/logout")
    viewer = make_person("viewer")
    login(client, viewer)
    page = _text(client.get("/"))
    assert "(lecteur)" in page and "Votre rôle (lecteur)" in page and "(viewer)" not in page


def test_a_viewer_sees_no_upload_link_or_button_anywhere(client: FlaskClient,
                                                        make_person: Any) -> None:
    viewer = make_person("viewer")
    login(client, viewer)
    for path in ("/", "/runs"):
        page = _text(client.get(path))
        assert "Téléverser" not in page and 'type="file"' not in page, path
        assert "Lancer la validation" not in page
    assert "Aucune validation pour l'instant." in _text(client.get("/runs"))


def test_the_upload_form_is_french_and_leaves_the_empty_case_to_the_app(
    client: FlaskClient, editor: Person
) -> None:
    login(client, editor)
    page = _text(client.get("/"))
    form = page.split('<form id="upload-form"')[1].split("</form>")[0]
    assert "novalidate" in form and "required" not in form
    assert 'class="visually-hidden"' in form and '<label for="file-input"' in form
    assert "Choisir un fichier" in form and "Aucun fichier choisi." in form
    empty = client.post("/upload", data={}, content_type="multipart/form-data")
    assert empty.status_code == 400
    assert "Choisissez un fichier CSV à téléverser." in _text(empty)


def test_run_routes_with_ids_outside_bigint_are_french_404_pages(
    client: FlaskClient, editor: Person
) -> None:
    login(client, editor)
    for raw in ("0", "-1", "007", str(2**63), "9" * 25, str(2**63 - 1)):
        for method, tail in (("GET", ""), ("GET", "/cancel"), ("POST", "/cancel"),
                             ("GET", "/delete"), ("POST", "/delete")):
            response = client.open(f"/runs/{raw}{tail}", method=method)
            assert response.status_code == 404, (raw, method, tail)
            assert "Page introuvable" in _text(response)


def test_bad_arguments_on_pages_are_a_friendly_400(client: FlaskClient,
                                                   editor: Person) -> None:
    run_id = _queued_run(client, editor)
    login(client, editor)
    for path in ("/runs?page=9223372036854775807", "/runs?page=0", "/runs?page=x",
                 "/runs?q=a%00b", "/runs?status=%00", "/runs?status=fini",
                 f"/runs/{run_id}?page=-1", f"/runs/{run_id}?rule=office-fee%00",
                 f"/runs/{run_id}?severity=error%00", f"/runs/{run_id}?severity=grave"):
        response = client.get(path)
        assert response.status_code == 400, path
        page = _text(response)
        assert "Adresse invalide" in page and "Paramètre invalide : « " in page, path
        assert f'href="{path.split("?")[0]}"' in page  # back to the page without them


def test_runs_list_past_its_last_page_says_so_with_a_link_back(
    client: FlaskClient, editor: Person
) -> None:
    _queued_run(client, editor)
    login(client, editor)
    response = client.get("/runs?page=99")
    assert response.status_code == 404
    page = _text(response)
    assert "La page 99 n'existe pas : la dernière est la page 1." in page
    assert "Aucune validation pour l'instant" not in page
    assert 'href="/runs?page=1"' in page
    filtered = _text(client.get("/runs?page=3&q=facturation"))
    assert 'href="/runs?page=1&amp;q=facturation"' in filtered


def test_runs_list_filters_and_shows_owners_to_admins(app: Flask, client: FlaskClient,
                                                      editor: Person,
                                                      make_person: Any) -> None:
    from validateur import runs
    from validateur.models import FailureCategory

    march = _queued_run(client, editor, "facturation-mars.csv")
    april = _queued_run(client, editor, "facturation-avril.csv")
    with app.app_context():
        runs.finish(april, runs.Failed("Fichier illisible.", FailureCategory.UNREADABLE_FILE),
                    source="reader", line="Fichier inutilisable")
    login(client, editor)
    assert "facturation-mars.csv" in _text(client.get("/runs?q=MARS"))
    assert "facturation-avril.csv" not in _text(client.get("/runs?q=MARS"))
    failed = _text(client.get("/runs?status=failed"))
    assert "facturation-avril.csv" in failed and "facturation-mars.csv" not in failed
    assert '<option value="failed" selected>Échouée</option>' in failed
    nothing = _text(client.get("/runs?status=completed"))
    assert "Aucune validation ne correspond à ces filtres." in nothing
    assert "Propriétaire" not in _text(client.get("/runs"))
    client.post("/logout")
    admin = make_person("admin")
    login(client, admin)
    page = _text(client.get("/runs"))
    assert "Propriétaire" in page and page.count(editor.email) == 2
    assert f'data-run-id="{march}"' in page


def test_a_completed_run_page_is_french_and_formatted(app: Flask, client: FlaskClient,
                                                     editor: Person) -> None:
    run_id = _queued_run(client, editor)
    _complete(app, run_id, [("office-fee", "MISSED", "optimization", "64.80"),
                            ("office-fee", "SUMMARY", "info", "0"),
                            ("structure", "invalid-date", "error", "0"),
                            ("structure", "invalid-date", "error", "-1234.50")])
    login(client, editor)
    page = _text(client.get(f"/runs/{run_id}"))
    assert f"<dd id=\"run-rows\">100{NNBSP}000</dd>" in page
    assert f"1{NNBSP}234,56{NBSP}$" in page and f"à risque 1{NNBSP}234,50{NBSP}$" in page
    assert "Erreurs : 2" in page and "Optimisations : 1" in page
    assert "Frais de cabinet non facturés" in page and "Sommaire des frais de cabinet" in page
    assert "<h4>Frais de cabinet (19928 et 19929) <code class=\"code\">office-fee</code>" in page
    codes = re.sub(r'<code class="code">[^<]*</code>', "", page)
    assert ">office-fee<" not in codes and ">MISSED<" not in codes and ">SUMMARY<" not in codes
    assert "4 constats ; ouvrez un groupe" in page and "Terminée" in page
    assert 'id="results"' not in page  # no flat list until a filter asks for one
    assert 'id="run-phase"' not in page  # no phase once it is over
    errors = _text(client.get(f"/runs/{run_id}?severity=error"))
    assert f"-1{NNBSP}234,50{NBSP}$" in errors and "Constats 1 à 2 sur 2 (filtrés)" in errors
    one = _text(client.get(f"/runs/{run_id}?severity=optimization"))
    assert "1 constat" in one and "1 constats" not in one


@pytest.fixture()
def rq_worker(service_env: dict[str, str], tmp_path: Path) -> Iterator[None]:
    """A real `rq worker` on the session's queue, for the tests that need a completed run."""
    worker = start_rq_worker(service_env, tmp_path / "worker.log")
    try:
        yield
    finally:
        stop(worker)


def _findings_run(app: Flask, client: FlaskClient, person: Person) -> int:
    """A completed run whose findings name doctors, dates, claims and rows (real worker)."""

    doctor_b = "7654321-54321 | Gagnon, Luc - Omnipraticien"
    rows = [act(n, **{"Date de Service": "2025-08-01"}) for n in range(1, 8)]
    rows += [act(n, **{"Date de Service": "2025-08-02", "Doctor Info": doctor_b})
             for n in range(8, 15)]
    rows.append(act(15, Code="19928", Facture="F-ERREUR", **{"ID RAMQ": "30000000777",
                                                               "Date de Service": "2025-08-04",
                                                               "Montant Preliminaire": "32,40"}))
    run_id = int(upload_csv(client, person, billing_csv(rows), "aout.csv")
                 .get_json()["validationId"])
    assert wait_final(app, run_id).status == "completed"
    return run_id


def test_the_run_page_finds_a_claim_or_an_invoice_in_one_search(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: None
) -> None:
    run_id = _findings_run(app, client, editor)
    login(client, editor)
    claim = _text(client.get(f"/runs/{run_id}?q=30000000777"))
    assert "Réclamation 30000000777 : 1 constat." in claim
    assert "Constats 1 à 1 sur 1 (filtrés)" in claim and "2025-08-04" in claim
    assert f'/api/validations/{run_id}/results.csv?claim=30000000777"' in claim
    invoice = _text(client.get(f"/runs/{run_id}?q=F-ERREUR"))
    assert "Facture F-ERREUR (1 ligne) : 1 constat." in invoice and "30000000777" in invoice
    nothing = _text(client.get(f"/runs/{run_id}?q=99999999999"))
    assert "Aucun constat ne nomme la réclamation ou la facture « 99999999999 »." in nothing
    assert client.get(f"/runs/{run_id}?q=a%00b").status_code == 400


def test_the_run_page_filters_combine_and_the_exports_follow_them(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: None
) -> None:
    run_id = _findings_run(app, client, editor)
    login(client, editor)
    page = _text(client.get(f"/runs/{run_id}"))
    assert '<option value="1234567" >Dr. C*** · 1234567</option>' in page
    assert '<option value="7654321" >Dr. G*** · 7654321</option>' in page
    both = _text(client.get(f"/runs/{run_id}?doctor=7654321&severity=optimization"))
    assert "Constats 1 à 1 sur 1 (filtrés)" in both and "2025-08-02" in both
    assert '<option value="7654321" selected>' in both
    for export in ("csv", "xlsx"):
        assert (f"/api/validations/{run_id}/results.{export}"
                "?severity=optimization&amp;doctor=7654321\"") in both
    day = _text(client.get(f"/runs/{run_id}?doctor=1234567&date=2025-08-02"))
    assert "Aucun constat pour ces filtres" in day
    assert 'value="2025-08-02"' in day
    assert client.get(f"/runs/{run_id}?date=2025-02-30").status_code == 400


def test_the_calendar_page_is_one_doctor_month_sunday_first_in_french(
    app: Flask, client: FlaskClient, editor: Person, rq_worker: None
) -> None:
    run_id = _findings_run(app, client, editor)
    login(client, editor)
    page = _text(client.get(f"/runs/{run_id}/calendar"))
    assert "Dr. C*** <span class=\"licence\">licence 1234567</span>" in page
    assert '<h3 id="month-title" aria-live="polite">août 2025</h3>' in page
    assert "« Mois précédent" in page and "Mois suivant »" in page
    assert "month=2025-07" in page and "month=2025-09" in page
    assert "<li>dim.</li><li>lun.</li>" in page
    # 2025-08-01 is a Friday: five blanks before it, and the link opens that doctor-day.
    grid = page.split('<ol class="days" id="days">')[1]
    assert grid.count('class="blank"') >= 5
    assert grid.split('data-date="2025-08-01"')[0].count('class="blank"') == 5
    assert "vendredi 1er août 2025 : optimisation" in page
    assert f'href="/runs/{run_id}?doctor=1234567&amp;date=2025-08-01#results"' in page
    assert "Inscrits 7 / 0" in page and f"Facturé 344,05{NBSP}$" in page
    other = _text(client.get(f"/runs/{run_id}/calendar?doctor=7654321&month=2025-12"))
    assert "Aucune facturation de ce médecin en décembre 2025." in other
    assert client.get(f"/runs/{run_id}/calendar?month=2025-13").status_code == 400


def test_findings_past_their_last_page_say_so(app: Flask, client: FlaskClient,
                                              editor: Person) -> None:
    run_id = _queued_run(client, editor)
    _complete(app, run_id, [("structure", "invalid-date", "error", "0")])
    login(client, editor)
    response = client.get(f"/runs/{run_id}?page=5&severity=error")
    assert response.status_code == 404
    page = _text(response)
    assert "La page 5 n'existe pas : il y a 1 page de constats." in page
    assert f'href="/runs/{run_id}?page=1&amp;severity=error"' in page


def test_a_failed_run_shows_its_category_message_log_and_a_way_to_retry(
    app: Flask, client: FlaskClient, editor: Person
) -> None:
    from validateur import runlog, runs
    from validateur.models import FailureCategory, Phase

    run_id = _queued_run(client, editor)
    with app.app_context():
        assert runs.start_attempt(run_id)
        assert runs.record_progress(run_id, Phase.PARSING, 49, 120)
        runlog.record(run_id, "error", "job", "Colonnes manquantes : Patient")
        missing = runs.Failed("Le fichier n'a pas les colonnes attendues : Patient.",
                              FailureCategory.MISSING_COLUMNS)
        assert runs.finish(run_id, missing, source="reader", line="Fichier inutilisable")
    login(client, editor)
    page = _text(client.get(f"/runs/{run_id}"))
    assert "Échec : Colonnes manquantes" in page
    assert "Le fichier n&#39;a pas les colonnes attendues : Patient." in page
    assert "Journal de la validation" in page and "Colonnes manquantes : Patient" in page
    assert "Fichier reçu et mis en file d&#39;attente" in page
    assert ">Téléverser à nouveau</a>" in page
    assert f"49{NBSP}%" not in page and "49 %" not in page
    assert "lecture et enregistrement" not in page and "<progress" not in page


def test_a_cancelled_run_says_annulee_with_no_stale_phase_or_progress(
    app: Flask, client: FlaskClient, editor: Person
) -> None:
    from validateur import runs
    from validateur.models import Phase

    run_id = _queued_run(client, editor)
    with app.app_context():
        assert runs.start_attempt(run_id)
        assert runs.record_progress(run_id, Phase.PARSING, 49, 120)
    login(client, editor)
    assert "lecture et enregistrement" in _text(client.get(f"/runs/{run_id}"))
    confirm = client.get(f"/runs/{run_id}/cancel")
    assert confirm.status_code == 200
    assert f"Annuler la validation {run_id} ?" in _text(confirm)
    done = client.post(f"/runs/{run_id}/cancel")
    assert done.status_code == 302 and done.headers["Location"] == f"/runs/{run_id}"
    page = _text(client.get(f"/runs/{run_id}"))
    assert f"Validation {run_id} annulée." in page
    assert 'class="status cancelled">Annulée<' in page
    assert "lecture et enregistrement" not in page and f"49{NBSP}%" not in page
    assert "49 %" not in page
    assert "<progress" not in page and "Annuler la validation" not in page
    again = client.post(f"/runs/{run_id}/cancel", follow_redirects=True)
    assert "déjà terminée" in _text(again)


def test_delete_asks_first_then_says_it_is_done(app: Flask, client: FlaskClient,
                                               editor: Person, make_person: Any) -> None:
    from validateur.extensions import db
    from validateur.models import ValidationRun

    run_id = _queued_run(client, editor)
    viewer = make_person("viewer")
    login(client, viewer)
    assert client.get(f"/runs/{run_id}/delete").status_code == 403
    assert client.post(f"/runs/{run_id}/delete").status_code == 403
    client.post("/logout")
    login(client, editor)
    assert "Supprimer la validation" in _text(client.get(f"/runs/{run_id}"))
    confirm = _text(client.get(f"/runs/{run_id}/delete"))
    assert f"Supprimer la validation {run_id} ?" in confirm and "irréversible" in confirm
    with app.app_context():
        assert db.session.get(ValidationRun, run_id) is not None  # asking deleted nothing
    done = client.post(f"/runs/{run_id}/delete")
    assert done.status_code == 302 and done.headers["Location"] == "/runs"
    assert f"Validation {run_id} supprimée." in _text(client.get("/runs"))
    with app.app_context():
        assert db.session.get(ValidationRun, run_id) is None
    assert client.get(f"/runs/{run_id}").status_code == 404


def test_scripts_get_their_labels_from_the_page(app: Flask, client: FlaskClient,
                                               editor: Person) -> None:
    """The JSON a page hands its script is `labels.py` and `RunStatus`, and no script keeps
    a copy of a label or of the final statuses."""
    import json
    from pathlib import Path

    from validateur import labels
    from validateur.models import RunStatus

    run_id = _queued_run(client, editor)
    login(client, editor)
    for path in (f"/runs/{run_id}", "/runs"):
        page = _text(client.get(path))
        block = page.split('<script type="application/json" id="page-labels">')[1]
        handed = json.loads(block.split("</script>")[0])
        assert handed == {"status": labels.STATUS, "phase": labels.PHASE,
                          "final": ["completed", "failed", "cancelled"]}
        assert set(handed["status"]) == set(RunStatus)
    static = Path(__file__).resolve().parents[2] / "static"
    for script in static.glob("*.js"):
        source = script.read_text(encoding="utf-8")
        for label in (*labels.STATUS.values(), *labels.PHASE.values()):
            assert f'"{label}"' not in source, (script.name, label)
        for status in (RunStatus.FAILED, RunStatus.CANCELLED):
            assert f'"{status}"' not in source, (script.name, status)


def test_the_admin_page_speaks_french(client: FlaskClient, make_person: Any) -> None:
    admin = make_person("admin")
    make_person("viewer")
    login(client, admin)
    page = _text(client.get("/admin/"))
    assert "administrateur" in page and "lecteur" in page
    assert ">viewer<" not in page and ">admin<" not in page
    assert "en service" in page and "2 utilisateurs" in page
