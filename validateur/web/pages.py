"""French server-rendered pages: login, upload, runs list, run page, cancel and delete.

Cancel and delete ask first on a page of their own (a GET showing what will happen, then a
POST with the CSRF token), so they work without JavaScript and never on a stray click; the
run page's script only enhances what the HTML already does.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date
from decimal import Decimal
from typing import Any
from urllib.parse import urlsplit

from flask import (
    Blueprint,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user, login_required
from marshmallow import fields, validate
from sqlalchemy import Select

from validateur import (
    auth,
    batches,
    calendar,
    labels,
    lifecycle,
    notifications,
    organizations,
    positions,
    runs,
    sessions,
)
from validateur.auth import require_upload_right
from validateur.extensions import db
from validateur.models import (
    Batch,
    BatchStatus,
    NotifyEmail,
    RunStatus,
    User,
    ValidationResult,
    ValidationRun,
    Webhook,
)
from validateur.schemas import (
    CLAIM,
    ResultArgsSchema,
    calendar_args,
    load_args,
    run_list_args,
)
from validateur.security import check_login_account
from validateur.uploads import UploadRejected, accept_batch, accept_stream
from validateur.validation.catalogue import rule_title
from validateur.web import queries, webhook_admin
from validateur.web.access import get_run_or_404, register_converters, visible_runs
from validateur.web.filters import plural
from validateur.web.forms import ActionForm, LoginForm, PreferencesForm, UploadForm, WebhookForm
from validateur.web.people import require_people_right as require_webhook_right
from validateur.webhooks import WebhookRefused

bp = Blueprint("pages", __name__)
bp.record_once(register_converters)
RUNS_PER_PAGE = 25
FINDINGS_PER_PAGE = 50
MAX_SEARCH_LENGTH = 40
#: A claim or invoice number: letters, digits, dashes, spaces, slashes (no control character).
SEARCH_TEXT = re.compile(r"[0-9A-Za-z][0-9A-Za-z /_-]*\Z")
NOTHING_CHOSEN = "Choisissez un fichier CSV à téléverser."


def _safe_next(target: str | None) -> str:
    """Only a same-site path is followed after login, judged as a browser would read it.

    Browsers drop tabs and line breaks inside a URL and read a backslash as a slash, so a
    tab or a backslash between two slashes would lead off-site (Werkzeug also strips them
    after this check): any control or separator character other than a plain space, and
    any backslash, is refused outright; then the URL must have no scheme and no host and
    start with a single slash.
    """
    fallback: str = url_for("pages.upload")
    if not target or "\\" in target or any(unicodedata.category(c)[0] in "CZ" and c != " "
                                             for c in target):
        return fallback
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not parts.path.startswith("/") \
            or parts.path.startswith("//"):
        return fallback
    return target


LOGIN_EMPTY = "Saisissez votre courriel et votre mot de passe."
LOGIN_INVALID = "Courriel ou mot de passe invalide."
LOGGED_OUT = "Vous êtes déconnecté."


@bp.route("/login", methods=["GET", "POST"])
def login() -> Any:
    """The address limit ran in the gate before the body; the account limit runs here."""
    if current_user.is_authenticated:
        return redirect(url_for("pages.upload"))
    form = LoginForm()
    if request.method == "GET":
        return render_template("auth/login.html", form=form)
    if not form.validate():
        flash(LOGIN_EMPTY, "error")
        return render_template("auth/login.html", form=form), 400
    check_login_account(form.email.data)
    user = auth.authenticate(form.email.data, form.password.data)
    if user is None:
        flash(LOGIN_INVALID, "error")
        return render_template("auth/login.html", form=form), 401
    sessions.start(user)
    return redirect(_safe_next(request.args.get("next")))


@bp.post("/logout")
@login_required
def logout() -> Any:
    sessions.end_all(current_user)
    flash(LOGGED_OUT, "info")
    return redirect(url_for("pages.login"))


def _script_labels() -> dict[str, Any]:
    """What the pages' scripts show and stop on, handed over by the page (they keep no copy):
    the status and phase labels, and the final statuses."""
    return {"status": labels.STATUS, "phase": labels.PHASE,
            "final": [status for status in RunStatus if status.is_final]}


def _batch_script_labels() -> dict[str, Any]:
    """The batch page's script also reads the batch statuses and which of them are final."""
    return {**_script_labels(), "batchStatus": labels.BATCH_STATUS,
            "batchFinal": [status for status in BatchStatus if status.is_final]}


@bp.get("/")
@login_required
def upload() -> Any:
    return render_template("pages/upload.html", form=UploadForm(),
                           nothing_chosen=NOTHING_CHOSEN)


@bp.app_context_processor
def _batch_limit() -> dict[str, Any]:
    """The upload page says how many files a batch may hold (on every render of it)."""
    return {"max_files": current_app.config["VALIDATEUR_BATCH_MAX_FILES"]}


@bp.post("/upload")
@require_upload_right
def upload_form() -> Any:
    """Fallback without JavaScript: a plain form post, then the run page."""
    form = UploadForm()
    if not form.validate_on_submit():
        flash(NOTHING_CHOSEN, "error")
        return render_template("pages/upload.html", form=form,
                               nothing_chosen=NOTHING_CHOSEN), 400
    chosen = [f for f in request.files.getlist("file") if f.filename]
    if len(chosen) > 1 or (chosen and (chosen[0].filename or "").lower().endswith(".zip")):
        return _upload_batch_form(chosen)
    file = form.file.data
    try:
        run = accept_stream(file.stream, file.filename, current_user.id)
    except UploadRejected as exc:
        flash(exc.message, "error")
        return render_template("pages/upload.html", form=UploadForm(),
                               nothing_chosen=NOTHING_CHOSEN), exc.status
    return redirect(url_for("pages.run_page", run_id=run.id))


def _upload_batch_form(chosen: list[Any]) -> Any:
    """Several files chosen without JavaScript: one batch, then its page (refusals flashed)."""
    try:
        accepted = accept_batch([(f.stream, f.filename) for f in chosen], current_user.id)
    except UploadRejected as exc:
        flash(exc.message, "error")
        return render_template("pages/upload.html", form=UploadForm(),
                               nothing_chosen=NOTHING_CHOSEN), exc.status
    for refused in accepted.rejected:
        flash(f"« {refused.file_name} » refusé : {refused.message}", "error")
    return redirect(url_for("pages.batch_page", batch_id=accepted.batch_id))


@bp.get("/runs")
@login_required
def runs_page() -> Any:
    """The runs list, filtered by status and part of the file name; 404 past the last page."""
    args = load_args(run_list_args, request.args)
    status, name_part, page = args.get("status"), args.get("q"), args["page"]
    batch_id = args.get("batch")
    query = queries.filter_runs(visible_runs(), status, name_part, batch_id)
    items, total = queries.paginate(query, page, RUNS_PER_PAGE)
    last = queries.last_page(total, RUNS_PER_PAGE)
    owners = queries.owner_emails(items) if _shows_owners() else {}
    names = (organizations.names_of({run.organization_id for run in items})
             if current_user.is_admin else {})
    html = render_template(
        "pages/runs.html", runs=items, page=page, last=last, total=total, status=status,
        q=name_part, owners=owners, organization_names=names, beyond=page > last,
        script_labels=_script_labels(), per_page=RUNS_PER_PAGE, batch=batch_id,
        batch_heads=_batch_heads(items),
        places=positions.queue_positions() if any(r.status == "queued" for r in items) else {},
    )
    return html, 404 if page > last else 200


def _batch_heads(items: list[ValidationRun]) -> dict[int, dict[str, Any]]:
    """For the runs list's group rows: each batch on the page, its status and file count."""
    ids = {run.batch_id for run in items if run.batch_id is not None}
    if not ids:
        return {}
    summaries = batches.summaries(ids)
    heads: dict[int, dict[str, Any]] = {}
    for batch_id in ids:
        batch = db.session.get(Batch, batch_id)
        if batch is not None:
            heads[batch_id] = {"status": batches.status_of(batch, summaries[batch_id]),
                               "files": summaries[batch_id].file_count}
    return heads


@bp.get("/batches/<run_id:batch_id>")
@login_required
def batch_page(batch_id: int) -> Any:
    """One line per file with its own live progress (static/batch.js), then the totals."""
    batch = batches.find_visible(current_user, batch_id)
    if batch is None:
        abort(404)
    summary = batches.summaries([batch.id])[batch.id]
    return render_template("pages/batch.html", batch=batch, summary=summary,
                           status=batches.status_of(batch, summary),
                           batch_runs=batches.runs_of(batch.id),
                           script_labels=_batch_script_labels())


@bp.route("/batches/<run_id:batch_id>/cancel", methods=["GET", "POST"])
@require_upload_right
def batch_cancel_page(batch_id: int) -> Any:
    """GET asks « Annuler le lot 5 ? »; POST cancels each open run (the runs' own cancel)."""
    batch = batches.find_visible(current_user, batch_id)
    if batch is None:
        abort(404)
    open_runs = batches.open_runs(batch.id)
    if not open_runs:
        flash(f"Le lot {batch.id} est déjà terminé ; il ne peut plus être annulé.", "error")
        return redirect(url_for("pages.batch_page", batch_id=batch.id))
    form = ActionForm()
    if request.method == "GET":
        return render_template("pages/batch_cancel.html", batch=batch, form=form,
                               open_count=len(open_runs))
    if not form.validate_on_submit():
        abort(400)
    for run in open_runs:
        lifecycle.cancel_run(run)
    flash(f"Lot {batch.id} annulé.", "success")
    return redirect(url_for("pages.batch_page", batch_id=batch.id))


@bp.route("/batches/<run_id:batch_id>/delete", methods=["GET", "POST"])
@require_upload_right
def batch_delete_page(batch_id: int) -> Any:
    """GET asks « Supprimer le lot 5 ? »; POST deletes it with its runs, then the runs list."""
    batch = batches.find_visible(current_user, batch_id)
    if batch is None:
        abort(404)
    summary = batches.summaries([batch.id])[batch.id]
    form = ActionForm()
    if request.method == "GET":
        return render_template("pages/batch_delete.html", batch=batch, form=form,
                               summary=summary)
    if not form.validate_on_submit():
        abort(400)
    lifecycle.delete_batch(batch.id)
    flash(f"Lot {batch_id} supprimé, avec {plural(summary.file_count, 'validation')}.",
          "success")
    return redirect(url_for("pages.runs_page"))


class RunPageArgs(ResultArgsSchema):
    """The run page's arguments: the findings' filters and `q`, a claim or an invoice number."""

    q = fields.String(validate=[validate.Length(max=MAX_SEARCH_LENGTH),
                                validate.Regexp(SEARCH_TEXT)])


run_page_args = RunPageArgs()
#: The filters the run page passes on (exports, group pages, pager links), in this order.
FILTER_KEYS = ("q", "severity", "rule", "scenario", "doctor", "date")


@bp.get("/runs/<run_id:run_id>")
@login_required
def run_page(run_id: int) -> Any:
    """The summary, the search and filters (a GET form), the groups per severity, rule and
    scenario (each opened on demand), and, once a filter or a search is given, the matching
    findings page by page. Every query reads an index of the run's findings (`queries`), so
    a 131,000-finding run answers as fast as a small one."""
    run = get_run_or_404(run_id)
    args = load_args(run_page_args, request.args)
    page = args["page"]
    completed = run.status == RunStatus.COMPLETED
    shown = {key: _shown(args[key]) for key in FILTER_KEYS if key in args}
    search = _search(run.id, args) if completed and args.get("q") else None
    listing = completed and (bool(shown) or page > 1)
    # The groups use the same filters: their counts add up to the listing's total (no count).
    groups = queries.finding_groups(run.id, args, by_scenario=True) if completed else []
    total = sum(group["count"] for group in groups)
    findings = _findings_page(queries.filtered_findings(run.id, args), page) if listing else []
    last = queries.last_page(total, FINDINGS_PER_PAGE)
    beyond = listing and page > last
    final_without_results = run.status in (RunStatus.FAILED, RunStatus.CANCELLED)
    html = render_template(
        "pages/run.html", run=run, findings=findings, total=total, page=page, last=last,
        per_page=FINDINGS_PER_PAGE, listing=listing, beyond=beyond, shown=shown,
        search=search, groups=_nested(groups),
        group_total=total,
        doctors=queries.finding_doctors(run.id) if completed else [],
        rules=sorted(queries.finding_rules(run.id), key=rule_title) if completed else [],
        export_args={key: value for key, value in shown.items() if key != "q"}
        | ({"claim": search["claim"]} if search and search.get("claim") else {}),
        logs=queries.logs_of(run.id) if final_without_results else [],
        owner=_owner_email(run), script_labels=_script_labels(),
        results_url=url_for("api.get_results", run_id=run.id),
        position=positions.position_of(run),
    )
    return html, 404 if beyond else 200


def _findings_page(query: Select[Any], page: int) -> list[Any]:
    """One page of findings, its ids first read from the index alone (a deferred join): page
    2 000 of a 131,000-finding run skips 100,000 index entries, not 100,000 wide rows."""
    ids = query.with_only_columns(ValidationResult.id).limit(FINDINGS_PER_PAGE) \
        .offset((page - 1) * FINDINGS_PER_PAGE).scalar_subquery()
    return list(db.session.scalars(query.where(ValidationResult.id.in_(ids))).all())


def _shown(value: Any) -> str:
    """A checked filter as the form and the links write it back (`2025-08-01`, `error`)."""
    if isinstance(value, date):
        return value.isoformat()
    return str(getattr(value, "value", value))


def _search(run_id: int, args: dict[str, Any]) -> dict[str, Any]:
    """Resolve `q`: a claim number (`ID RAMQ`) when findings name it, else an invoice
    (`Facture`), whose findings are those naming one of its claims; the filter found goes
    into `args`."""
    text = str(args["q"]).strip()
    if CLAIM.fullmatch(text):
        with_claim = {**args, "claim": text}
        _items, count = queries.paginate(queries.filtered_findings(run_id, with_claim), 1, 1)
        if count:
            args["claim"] = text
            return {"text": text, "kind": "claim", "claim": text}
    rows, claims = queries.invoice_claims(run_id, text)
    args["claims"] = claims
    return {"text": text, "kind": "invoice" if rows else "none", "rows": rows}


def _nested(groups: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Groups per scenario nested as severity → rule → scenario, with each level's totals."""
    severities: list[dict[str, Any]] = []
    for group in groups:
        if not severities or severities[-1]["severity"] != group["severity"]:
            severities.append({"severity": group["severity"], "rules": [], **_zero()})
        level = severities[-1]
        if not level["rules"] or level["rules"][-1]["rule"] != group["rule"]:
            level["rules"].append({"rule": group["rule"], "scenarios": [], **_zero()})
        rule = level["rules"][-1]
        rule["scenarios"].append(group)
        for total in (level, rule):
            total["count"] += group["count"]
            total["atRisk"] += group["atRisk"]
            total["toGain"] += group["toGain"]
    return severities


def _zero() -> dict[str, Any]:
    return {"count": 0, "atRisk": Decimal(0), "toGain": Decimal(0)}


MONTHS = ("janvier", "février", "mars", "avril", "mai", "juin", "juillet", "août",
          "septembre", "octobre", "novembre", "décembre")
#: Sunday first, as a Québec wall calendar.
WEEKDAYS = ("dimanche", "lundi", "mardi", "mercredi", "jeudi", "vendredi", "samedi")
WEEKDAYS_SHORT = ("dim.", "lun.", "mar.", "mer.", "jeu.", "ven.", "sam.")


@bp.get("/runs/<run_id:run_id>/calendar")
@login_required
def calendar_page(run_id: int) -> Any:
    """One doctor's month (`doctor`, `month` as the calendar API takes them): the figures
    are `validateur.calendar`'s, the API's own, computed over the whole day. Month and
    doctor change by links and a GET form, so the page works without JavaScript; the script
    only opens a day's findings in place."""
    run = get_run_or_404(run_id)
    args = load_args(calendar_args, request.args)
    completed = run.status == RunStatus.COMPLETED
    doctors = queries.finding_doctors(run.id) if completed else []
    known = {licence for licence, _label in doctors}
    doctor = args.get("doctor") or (doctors[0][0] if doctors else None)
    month = args.get("month")
    if doctor and month is None:
        first = queries.first_finding_day(run.id, doctor)
        month = first.replace(day=1) if first else None
    month = month or date.today().replace(day=1)
    entry = calendar.calendar(run.id, doctor, month) if completed and doctor else []
    label = entry[0]["label"] if entry else dict(doctors).get(doctor or "", "")
    days = {day["date"]: day for day in entry[0]["days"]} if entry else {}
    return render_template(
        "pages/calendar.html", run=run, doctors=doctors, doctor=doctor, label=label,
        unknown_doctor=bool(doctor and doctor not in known and not entry),
        month=month, month_name=month_name(month), weeks=_month_cells(month, days),
        previous=_shift(month, -1), following=_shift(month, 1), weekdays=WEEKDAYS,
        weekdays_short=WEEKDAYS_SHORT, totals=_month_totals(days.values()),
        results_url=url_for("api.get_results", run_id=run.id),
    )


def month_name(month: date) -> str:
    """`décembre 2025`."""
    return f"{MONTHS[month.month - 1]} {month.year}"


def day_name(day: date) -> str:
    """`vendredi 1er août 2025` (« 1er », as French writes the first of a month)."""
    number = "1er" if day.day == 1 else str(day.day)
    return f"{WEEKDAYS[(day.weekday() + 1) % 7]} {number} {MONTHS[day.month - 1]} {day.year}"


def _shift(month: date, step: int) -> date:
    index = month.year * 12 + month.month - 1 + step
    return date(index // 12, index % 12 + 1, 1)


def _month_cells(month: date, days: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The month's cells, Sunday first: blanks before the first day, then every day with its
    figures (None when the doctor billed nothing that day)."""
    lead = (month.weekday() + 1) % 7  # Monday = 0 in Python, Sunday first here
    cells: list[dict[str, Any]] = [{"blank": True} for _ in range(lead)]
    day = month
    while day.month == month.month:
        iso = day.isoformat()
        cells.append({"blank": False, "date": iso, "day": day.day, "name": day_name(day),
                      "short": WEEKDAYS_SHORT[(day.weekday() + 1) % 7],
                      "figures": days.get(iso)})
        day = date.fromordinal(day.toordinal() + 1)
    return cells


def _month_totals(days: Any) -> dict[str, Any]:
    totals: dict[str, Any] = {"days": 0, "billed": Decimal(0), "gain": Decimal(0),
                              "findings": 0}
    for day in days:
        totals["days"] += 1
        totals["billed"] += Decimal(day["billed"])
        totals["gain"] += Decimal(day["potentialGain"])
        totals["findings"] += day["findings"]
    return totals


def _shows_owners() -> bool:
    """Whose run it is, where it can be someone else's: for admins, and for members of an
    organization of several people (alone, every run is one's own)."""
    if current_user.is_admin:
        return True
    organization = current_user.organization
    return organization is not None and organizations.member_counts(organization.id).get(
        organization.id, 0) > 1


def _owner_email(run: ValidationRun) -> str | None:
    if not _shows_owners():
        return None
    return queries.owner_emails([run]).get(run.user_id) if run.user_id else None


@bp.route("/runs/<run_id:run_id>/cancel", methods=["GET", "POST"])
@require_upload_right
def cancel_page(run_id: int) -> Any:
    """GET asks « Annuler la validation 12 ? »; POST cancels and says so."""
    run = get_run_or_404(run_id)
    if not runs.is_open(run):
        flash(f"La validation {run.id} est déjà terminée ; elle ne peut plus être annulée.",
              "error")
        return redirect(url_for("pages.run_page", run_id=run.id))
    form = ActionForm()
    if request.method == "GET":
        return render_template("pages/confirm.html", run=run, form=form, action="cancel")
    if not form.validate_on_submit():
        abort(400)
    if lifecycle.cancel_run(run):
        flash(f"Validation {run_id} annulée.", "success")
    else:
        flash(f"La validation {run_id} s'est terminée avant l'annulation.", "error")
    return redirect(url_for("pages.run_page", run_id=run_id))


@bp.route("/runs/<run_id:run_id>/delete", methods=["GET", "POST"])
@require_upload_right
def delete_page(run_id: int) -> Any:
    """GET asks « Supprimer la validation 12 ? »; POST deletes, then the runs list says so."""
    run = get_run_or_404(run_id)
    form = ActionForm()
    if request.method == "GET":
        return render_template("pages/confirm.html", run=run, form=form, action="delete")
    if not form.validate_on_submit():
        abort(400)
    lifecycle.delete_run(run)
    flash(f"Validation {run_id} supprimée.", "success")
    return redirect(url_for("pages.runs_page"))


# -- notifications: the person's preferences, the organization's webhooks ---------------------

PREFERENCES_SAVED = "Préférences enregistrées."


@bp.route("/preferences", methods=["GET", "POST"])
@login_required
def preferences() -> Any:
    """« Préférences »: when the end of one's runs and batches is e-mailed."""
    user = db.session.get(User, current_user.id)
    if user is None:
        abort(401)
    form = PreferencesForm(notify_email=str(user.notify_email))
    if request.method == "POST":
        if not form.validate_on_submit():
            abort(400)
        user.notify_email = NotifyEmail(form.notify_email.data)
        db.session.commit()
        flash(PREFERENCES_SAVED, "success")
        return redirect(url_for("pages.preferences"))
    return render_template("pages/preferences.html", form=form,
                           mail_on=bool(current_app.config.get("SMTP_URL")))


def _render_webhooks(form: WebhookForm, created: Webhook | None = None, status: int = 200
                     ) -> Any:
    hooks = webhook_admin.visible_webhooks()
    names = organizations.names_of({hook.organization_id for hook in hooks})
    html = render_template("pages/webhooks.html", hooks=hooks, form=form, created=created,
                           names=names, action_form=ActionForm())
    return html, status


@bp.route("/organization/webhooks", methods=["GET", "POST"])
@require_webhook_right
def webhooks_page() -> Any:
    """The organization's endpoints; POST adds one and shows its secret, once, right here
    (never in a flash message, which travels in the session cookie). Admins, who belong to
    no organization, see every endpoint and add theirs through the API."""
    form = WebhookForm()
    if request.method == "GET":
        return _render_webhooks(form)
    if current_user.is_admin:
        abort(403)
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for message in errors:
                flash(str(message), "error")
        return _render_webhooks(form, status=400)
    try:
        hook = webhook_admin.register(
            current_user.organization_id, form.url.data, form.events.data,
            allow_private=current_app.config["VALIDATEUR_WEBHOOK_ALLOW_PRIVATE"])
    except WebhookRefused as exc:
        flash(exc.message, "error")
        return _render_webhooks(form, status=400)
    return _render_webhooks(WebhookForm(formdata=None), created=hook, status=201)


@bp.route("/organization/webhooks/<run_id:webhook_id>/delete", methods=["GET", "POST"])
@require_webhook_right
def delete_webhook_page(webhook_id: int) -> Any:
    """GET asks « Supprimer ce webhook ? »; POST removes it and its deliveries."""
    hook = webhook_admin.get_or_404(webhook_id)
    form = ActionForm()
    if request.method == "GET":
        return render_template("pages/webhook_delete.html", hook=hook, form=form)
    if not form.validate_on_submit():
        abort(400)
    webhook_admin.delete(hook)
    flash("Webhook supprimé.", "success")
    return redirect(url_for("pages.webhooks_page"))


@bp.post("/organization/webhooks/<run_id:webhook_id>/test")
@require_webhook_right
def test_webhook_page(webhook_id: int) -> Any:
    hook = webhook_admin.get_or_404(webhook_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    webhook_admin.send_test(hook)
    flash("Événement de test envoyé ; sa livraison apparaît ci-dessous.", "success")
    return redirect(url_for("pages.webhook_deliveries_page", webhook_id=hook.id))


@bp.get("/organization/webhooks/<run_id:webhook_id>/deliveries")
@require_webhook_right
def webhook_deliveries_page(webhook_id: int) -> Any:
    hook = webhook_admin.get_or_404(webhook_id)
    return render_template("pages/webhook_deliveries.html", hook=hook,
                           deliveries=notifications.deliveries_of(hook.id),
                           action_form=ActionForm())
