"""The JSON API under /api (session cookie or `Authorization: Bearer`)."""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Blueprint, Response, abort, current_app, jsonify, request, url_for
from flask_login import current_user, login_required

from validateur import (
    batches,
    calendar,
    exports,
    health,
    lifecycle,
    notifications,
    organizations,
    positions,
    webhooks,
)
from validateur.auth import is_token_request, require_upload_right
from validateur.extensions import csrf, db
from validateur.models import (
    Batch,
    NotifyEmail,
    Organization,
    User,
    ValidationRun,
    Webhook,
)
from validateur.schemas import (
    calendar_args,
    findings_schema,
    load_args,
    logs_schema,
    page_args,
    result_args,
    run_list_args,
    run_schema,
)
from validateur.uploads import BatchAccepted, UploadRejected, accept_batch, accept_stream
from validateur.validation.catalogue import rule_title, scenario_title
from validateur.web import queries, webhook_admin
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
    the file name (`q`), by organization name (`organization`) and by batch (`batch`)."""
    args = load_args(run_list_args, request.args)
    query = queries.filter_runs(visible_runs(), args.get("status"), args.get("q"),
                                args.get("batch"))
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
    """A page of findings; filters `severity`, `rule`, `scenario`, `doctor`, `date`, `claim`."""
    run = get_run_or_404(run_id)
    args = load_args(result_args, request.args)
    query = queries.filtered_findings(run.id, args)
    items, total = queries.paginate(query, args["page"], args["per_page"])
    return jsonify({"items": findings_schema.dump(items), "page": args["page"],
                    "perPage": args["per_page"], "total": total})


@bp.get("/validations/<run_id:run_id>/groups")
@login_required
def get_groups(run_id: int) -> Any:
    """Count and amounts per (severity, rule, scenario) with French titles, same filters."""
    run = get_run_or_404(run_id)
    args = load_args(result_args, request.args)
    groups = queries.finding_groups(run.id, args, by_scenario=True)
    return jsonify({"groups": [_group_json(group) for group in groups],
                    "total": sum(group["count"] for group in groups)})


def _group_json(group: dict[str, Any]) -> dict[str, Any]:
    return {"severity": group["severity"].value, "rule": group["rule"],
            "ruleTitle": rule_title(group["rule"]), "scenario": group["scenario"],
            "scenarioTitle": scenario_title(group["rule"], group["scenario"]),
            "count": group["count"], "moneyAtRisk": f"{group['atRisk']:.2f}",
            "potentialGain": f"{group['toGain']:.2f}"}


@bp.get("/validations/<run_id:run_id>/calendar")
@login_required
def get_calendar(run_id: int) -> Any:
    """The doctor × day calendar (validateur/calendar.py); filters `doctor`, `month`."""
    run = get_run_or_404(run_id)
    args = load_args(calendar_args, request.args)
    return jsonify({"doctors": calendar.calendar(run.id, args.get("doctor"), args.get("month"))})


@bp.get("/validations/<run_id:run_id>/results.csv")
@login_required
def get_results_csv(run_id: int) -> Response:
    run = get_run_or_404(run_id)
    args = load_args(result_args, request.args)
    return exports.findings_csv_response(run, queries.filtered_findings(run.id, args))


@bp.get("/validations/<run_id:run_id>/results.xlsx")
@login_required
def get_results_xlsx(run_id: int) -> Response:
    run = get_run_or_404(run_id)
    args = load_args(result_args, request.args)
    return exports.findings_xlsx_response(run, queries.filtered_findings(run.id, args),
                                          queries.finding_groups(run.id, args))


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


# -- batches ---------------------------------------------------------------------------------

def get_batch_or_404(batch_id: int) -> Batch:
    """The batch if the caller may see it (the runs' rule); 404 otherwise."""
    batch = batches.find_visible(current_user, batch_id)
    if batch is None:
        abort(404)
    return batch


def batch_json(batch: Batch, summary: batches.Summary, batch_runs: list[ValidationRun],
               owners: dict[int, str], names: dict[int, str]) -> dict[str, Any]:
    """A batch as the contract shows it: counts per run status, totals, and its runs."""
    return {
        "id": batch.id,
        "status": batches.status_of(batch, summary).value,
        "fileCount": summary.file_count,
        "counts": {status.value: count for status, count in summary.counts.items()},
        "totals": {"rows": summary.rows,
                   **{severity.value: count for severity, count in summary.findings.items()},
                   "potentialGain": f"{summary.potential_gain:.2f}",
                   "moneyAtRisk": f"{summary.money_at_risk:.2f}"},
        "runs": [_run_json(run, owners.get(run.user_id) if run.user_id else None,
                           names.get(run.organization_id) if run.organization_id else None)
                 for run in batch_runs],
        "createdAt": batch.created_at.isoformat(),
        "finishedAt": batch.finished_at.isoformat() if batch.finished_at else None,
    }


def batch_answer(batch: Batch) -> dict[str, Any]:
    batch_runs = batches.runs_of(batch.id)
    return batch_json(batch, batches.summaries([batch.id])[batch.id], batch_runs,
                      queries.owner_emails(batch_runs),
                      organizations.names_of({batch.organization_id}))


def _accepted_json(accepted: BatchAccepted) -> dict[str, Any]:
    return {
        "batchId": accepted.batch_id, "status": "queued",
        "runs": [{"validationId": run.id, "fileName": run.file_name, "status": run.status}
                 for run in accepted.runs],
        "rejected": [{"fileName": r.file_name, "error": {"code": r.code, "message": r.message}}
                     for r in accepted.rejected],
    }


@bp.post("/batches")
@require_upload_right
def create_batch() -> Any:
    """Several files (field `files`, repeated; `.zip` archives count as their files)."""
    parts = [(f.stream, f.filename) for f in request.files.getlist("files") if f.filename]
    if not parts:
        return error_response(400, "missing_file", "Aucun fichier reçu (champ « files »).")
    try:
        accepted = accept_batch(parts, current_user.id)
    except UploadRejected as exc:
        return error_response(exc.status, exc.code, exc.message)
    response = jsonify(_accepted_json(accepted))
    response.status_code = 202
    response.headers["Location"] = url_for("api.get_batch", batch_id=accepted.batch_id)
    return response


@bp.get("/batches")
@login_required
def list_batches() -> Any:
    """The caller's organization's batches (admins: all), newest first, paginated."""
    args = load_args(page_args, request.args)
    items, total = queries.paginate(batches.visible(current_user), args["page"],
                                    args["per_page"])
    summaries = batches.summaries(batch.id for batch in items)
    all_runs = batches.runs_by_batch(batch.id for batch in items)
    owners = queries.owner_emails([run for group in all_runs.values() for run in group])
    names = organizations.names_of({batch.organization_id for batch in items})
    return jsonify({"items": [batch_json(batch, summaries[batch.id], all_runs[batch.id], owners,
                                         names) for batch in items],
                    "page": args["page"], "perPage": args["per_page"], "total": total})


@bp.get("/batches/<run_id:batch_id>")
@login_required
def get_batch(batch_id: int) -> Any:
    return jsonify(batch_answer(get_batch_or_404(batch_id)))


@bp.post("/batches/<run_id:batch_id>/cancel")
@require_upload_right
def cancel_batch(batch_id: int) -> Any:
    """Cancels every open run of the batch, each through the run's own cancel."""
    batch = get_batch_or_404(batch_id)
    open_runs = batches.open_runs(batch.id)
    if not open_runs:
        return error_response(
            409, "not_cancellable",
            "Ce lot est déjà terminé ; il ne peut plus être annulé.")
    for run in open_runs:
        lifecycle.cancel_run(run)
    db.session.expire_all()
    return jsonify(batch_answer(get_batch_or_404(batch_id)))


@bp.delete("/batches/<run_id:batch_id>")
@require_upload_right
def delete_batch(batch_id: int) -> Any:
    """Removes the batch and every run of it (open runs are cancelled first)."""
    lifecycle.delete_batch(get_batch_or_404(batch_id).id)
    return "", 204


@bp.get("/batches/<run_id:batch_id>/results.csv")
@login_required
def get_batch_results_csv(batch_id: int) -> Response:
    batch = get_batch_or_404(batch_id)
    args = load_args(result_args, request.args)
    query = queries.batch_findings_query(batch.id, args.get("severity"), args.get("rule"))
    return exports.batch_findings_csv_response(batch.id, query)


@bp.get("/batches/<run_id:batch_id>/results.xlsx")
@login_required
def get_batch_results_xlsx(batch_id: int) -> Response:
    """Every finding of the batch as a workbook, with « Fichier » first; same filters."""
    batch = get_batch_or_404(batch_id)
    args = load_args(result_args, request.args)
    severity, rule = args.get("severity"), args.get("rule")
    return exports.batch_findings_xlsx_response(
        batch.id, queries.batch_findings_query(batch.id, severity, rule),
        queries.batch_finding_groups(batch.id, severity, rule))


@bp.get("/health")
def get_health() -> Any:
    report = health.check()
    response = jsonify(report)
    response.status_code = 200 if report["status"] == "ok" else 503
    return response


# -- notifications: webhooks (managers and admins) and the caller's preferences --------------

def _require_webhook_right(view: Any) -> Any:
    """Managers manage their organization's webhooks, admins every one; others get 403."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            abort(401)
        if not (current_user.is_admin or current_user.is_manager):
            abort(403)
        return view(*args, **kwargs)

    return wrapper


def _webhook_json(hook: Webhook) -> dict[str, Any]:
    return {"id": int(hook.id), "url": hook.url, "events": list(hook.events),
            "active": bool(hook.active), "createdAt": hook.created_at.isoformat()}


def _owning_organization(body: dict[str, Any]) -> int:
    """The caller's organization; an admin names one (`organization`)."""
    if not current_user.is_admin:
        organization_id: int = current_user.organization_id
        return organization_id
    found = organizations.find(str(body.get("organization") or ""))
    if found is None:
        raise webhooks.WebhookRefused("Indiquez l'organisation (« organization ») du "
                                      "point de terminaison.")
    return int(found.id)


@bp.post("/webhooks")
@_require_webhook_right
def create_webhook() -> Any:
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return error_response(400, "bad_request", "Corps JSON attendu : {\"url\", \"events\"}.")
    try:
        hook = webhook_admin.register(
            _owning_organization(body), body.get("url"), body.get("events"),
            allow_private=current_app.config["VALIDATEUR_WEBHOOK_ALLOW_PRIVATE"])
    except webhooks.WebhookRefused as exc:
        return error_response(400, "invalid_webhook", exc.message)
    answer = {**_webhook_json(hook), "secret": hook.secret}
    response = jsonify(answer)
    response.status_code = 201
    response.headers["Location"] = url_for("api.list_webhooks")
    return response


@bp.get("/webhooks")
@_require_webhook_right
def list_webhooks() -> Any:
    return jsonify({"items": [_webhook_json(h) for h in webhook_admin.visible_webhooks()]})


@bp.delete("/webhooks/<run_id:webhook_id>")
@_require_webhook_right
def delete_webhook(webhook_id: int) -> Any:
    webhook_admin.delete(webhook_admin.get_or_404(webhook_id))
    return "", 204


@bp.post("/webhooks/<run_id:webhook_id>/test")
@_require_webhook_right
def test_webhook(webhook_id: int) -> Any:
    row = webhook_admin.send_test(webhook_admin.get_or_404(webhook_id))
    response = jsonify(notifications.delivery_json(row))
    response.status_code = 202
    return response


@bp.get("/webhooks/<run_id:webhook_id>/deliveries")
@_require_webhook_right
def webhook_deliveries(webhook_id: int) -> Any:
    hook = webhook_admin.get_or_404(webhook_id)
    return jsonify({"items": [notifications.delivery_json(row)
                              for row in notifications.deliveries_of(hook.id)]})


def _me_json(user: User) -> dict[str, Any]:
    return {"email": user.email, "role": str(user.role),
            "organization": user.organization.name if user.organization else None,
            "notifyEmail": str(user.notify_email)}


@bp.get("/me")
@login_required
def get_me() -> Any:
    return jsonify(_me_json(current_user))


@bp.patch("/me")
@login_required
def patch_me() -> Any:
    body = request.get_json(silent=True)
    choice = body.get("notifyEmail") if isinstance(body, dict) else None
    if choice not in [str(p) for p in NotifyEmail]:
        return error_response(400, "invalid_preference",
                              "« notifyEmail » doit valoir never, failures ou always.")
    user = db.session.get(User, current_user.id)
    if user is None:
        abort(401)
    user.notify_email = NotifyEmail(choice)
    db.session.commit()
    return jsonify(_me_json(user))
