"""The JSON API under /api (session cookie or `Authorization: Bearer`)."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request, url_for
from flask_login import current_user, login_required

from validateur import exports, health, lifecycle, organizations, positions
from validateur.auth import is_token_request, require_upload_right
from validateur.extensions import csrf, db
from validateur.models import Organization, User, ValidationRun
from validateur.schemas import (
    findings_schema,
    load_args,
    logs_schema,
    result_args,
    run_list_args,
    run_schema,
)
from validateur.uploads import UploadRejected, accept_stream
from validateur.web import queries
from validateur.web.access import get_run_or_404, register_converters, visible_runs
from validateur.web.errors import error_response

bp = Blueprint("api", __name__, url_prefix="/api")
bp.record_once(register_converters)
csrf.exempt(bp)


@bp.before_request
def _csrf_for_cookie_sessions() -> None:
    """Token clients are exempt from CSRF; browser sessions must send the token."""
    if (
        request.method in ("POST", "PUT", "PATCH", "DELETE")
        and current_user.is_authenticated
        and not is_token_request()
        and current_app.config.get("WTF_CSRF_ENABLED", True)
    ):
        csrf.protect()


def _run_json(run: ValidationRun, owner: str | None, organization: str | None,
              places: dict[int, int] | None = None) -> dict[str, Any]:
    body: dict[str, Any] = run_schema.dump(run)
    body["owner"] = owner
    body["organization"] = organization
    body["queuePosition"] = (places or {}).get(run.id) if run.status == "queued" else None
    return body


def _places_for(runs: list[ValidationRun]) -> dict[int, int]:
    """Places in line, computed once, only when one of `runs` is queued."""
    return positions.queue_positions() if any(r.status == "queued" for r in runs) else {}


def _run_answer(run: ValidationRun) -> dict[str, Any]:
    """One run with its owner's e-mail and its organization's name (primary-key lookups,
    usually of the caller and the caller's organization, already loaded)."""
    owner = db.session.get(User, run.user_id) if run.user_id is not None else None
    organization = (db.session.get(Organization, run.organization_id)
                    if run.organization_id is not None else None)
    return _run_json(run, owner.email if owner else None,
                     organization.name if organization else None, _places_for([run]))


@bp.post("/validations")
@require_upload_right
def create_validation() -> Any:
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return error_response(400, "missing_file", "Aucun fichier reçu (champ « file »).")
    try:
        run = accept_stream(upload.stream, upload.filename, current_user.id)
    except UploadRejected as exc:
        return error_response(exc.status, exc.code, exc.message)
    response = jsonify({"validationId": run.id, "status": run.status, "jobId": run.job_id})
    response.status_code = 202
    response.headers["Location"] = url_for("api.get_validation", run_id=run.id)
    return response


@bp.get("/validations")
@login_required
def list_validations() -> Any:
    """The runs of the caller's organization (admins: all), filtered by `status`, by part of
    the file name (`q`) and by organization name (`organization`)."""
    args = load_args(run_list_args, request.args)
    query = queries.filter_runs(visible_runs(), args.get("status"), args.get("q"))
    if args.get("organization"):
        query = query.where(organizations.named(ValidationRun.organization_id,
                                                args["organization"]))
    items, total = queries.paginate(query, args["page"], args["per_page"])
    owners = queries.owner_emails(items)
    names = organizations.names_of({run.organization_id for run in items})
    places = _places_for(items)
    return jsonify({"items": [_run_json(run, owners.get(run.user_id),
                                        names.get(run.organization_id), places)
                              for run in items],
                    "page": args["page"], "perPage": args["per_page"], "total": total})


@bp.get("/validations/<run_id:run_id>")
@login_required
def get_validation(run_id: int) -> Any:
    return jsonify(_run_answer(get_run_or_404(run_id)))


@bp.get("/validations/<run_id:run_id>/results")
@login_required
def get_results(run_id: int) -> Any:
    run = get_run_or_404(run_id)
    args = load_args(result_args, request.args)
    query = queries.findings_query(run.id, args.get("severity"), args.get("rule"))
    items, total = queries.paginate(query, args["page"], args["per_page"])
    return jsonify({"items": findings_schema.dump(items), "page": args["page"],
                    "perPage": args["per_page"], "total": total})


@bp.get("/validations/<run_id:run_id>/results.csv")
@login_required
def get_results_csv(run_id: int) -> Response:
    run = get_run_or_404(run_id)
    args = load_args(result_args, request.args)
    query = queries.findings_query(run.id, args.get("severity"), args.get("rule"))
    return exports.findings_csv_response(run, query)


@bp.get("/validations/<run_id:run_id>/logs")
@login_required
def get_logs(run_id: int) -> Any:
    run = get_run_or_404(run_id)
    return jsonify({"items": logs_schema.dump(queries.logs_of(run.id))})


@bp.post("/validations/<run_id:run_id>/cancel")
@require_upload_right
def cancel_validation(run_id: int) -> Any:
    run = get_run_or_404(run_id)
    if not lifecycle.cancel_run(run):
        return error_response(
            409, "not_cancellable",
            "Cette validation est déjà terminée ; elle ne peut plus être annulée.",
        )
    return jsonify(_run_answer(get_run_or_404(run_id)))


@bp.delete("/validations/<run_id:run_id>")
@require_upload_right
def delete_validation(run_id: int) -> Any:
    lifecycle.delete_run(get_run_or_404(run_id))
    return "", 204


@bp.get("/health")
def get_health() -> Any:
    report = health.check()
    response = jsonify(report)
    response.status_code = 200 if report["status"] == "ok" else 503
    return response
