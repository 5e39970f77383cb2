"""French server-rendered pages: login, upload, runs list, run page, cancel and delete.

Cancel and delete ask first on a page of their own (a GET showing what will happen, then a
POST with the CSRF token), so they work without JavaScript and never on a stray click; the
run page's script only enhances what the HTML already does.
"""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from validateur import auth, labels, lifecycle, organizations, positions, runs, sessions
from validateur.auth import require_upload_right
from validateur.models import RunStatus, ValidationRun
from validateur.schemas import load_args, result_args, run_list_args
from validateur.security import check_login_account
from validateur.uploads import UploadRejected, accept_stream
from validateur.web import queries
from validateur.web.access import get_run_or_404, register_converters, visible_runs
from validateur.web.forms import ActionForm, LoginForm, UploadForm

bp = Blueprint("pages", __name__)
bp.record_once(register_converters)
RUNS_PER_PAGE = 25
FINDINGS_PER_PAGE = 50
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


@bp.get("/")
@login_required
def upload() -> Any:
    return render_template("pages/upload.html", form=UploadForm(),
                           nothing_chosen=NOTHING_CHOSEN)


@bp.post("/upload")
@require_upload_right
def upload_form() -> Any:
    """Fallback without JavaScript: a plain form post, then the run page."""
    form = UploadForm()
    if not form.validate_on_submit():
        flash(NOTHING_CHOSEN, "error")
        return render_template("pages/upload.html", form=form,
                               nothing_chosen=NOTHING_CHOSEN), 400
    file = form.file.data
    try:
        run = accept_stream(file.stream, file.filename, current_user.id)
    except UploadRejected as exc:
        flash(exc.message, "error")
        return render_template("pages/upload.html", form=UploadForm(),
                               nothing_chosen=NOTHING_CHOSEN), exc.status
    return redirect(url_for("pages.run_page", run_id=run.id))


@bp.get("/runs")
@login_required
def runs_page() -> Any:
    """The runs list, filtered by status and part of the file name; 404 past the last page."""
    args = load_args(run_list_args, request.args)
    status, name_part, page = args.get("status"), args.get("q"), args["page"]
    query = queries.filter_runs(visible_runs(), status, name_part)
    items, total = queries.paginate(query, page, RUNS_PER_PAGE)
    last = queries.last_page(total, RUNS_PER_PAGE)
    owners = queries.owner_emails(items) if _shows_owners() else {}
    names = (organizations.names_of({run.organization_id for run in items})
             if current_user.is_admin else {})
    html = render_template(
        "pages/runs.html", runs=items, page=page, last=last, total=total, status=status,
        q=name_part, owners=owners, organization_names=names, beyond=page > last,
        script_labels=_script_labels(), per_page=RUNS_PER_PAGE,
        places=positions.queue_positions() if any(r.status == "queued" for r in items) else {},
    )
    return html, 404 if page > last else 200


@bp.get("/runs/<run_id:run_id>")
@login_required
def run_page(run_id: int) -> Any:
    run = get_run_or_404(run_id)
    args = load_args(result_args, request.args)
    severity, rule, page = args.get("severity"), args.get("rule"), args["page"]
    findings: list[Any] = []
    total = 0
    completed = run.status == RunStatus.COMPLETED
    if completed:
        findings, total = queries.paginate(queries.findings_query(run.id, severity, rule),
                                           page, FINDINGS_PER_PAGE)
    last = queries.last_page(total, FINDINGS_PER_PAGE)
    final_without_results = run.status in (RunStatus.FAILED, RunStatus.CANCELLED)
    html = render_template(
        "pages/run.html", run=run, findings=findings, total=total, page=page, last=last,
        per_page=FINDINGS_PER_PAGE, severity=severity, rule=rule, beyond=page > last,
        groups=queries.finding_groups(run.id) if completed else [],
        logs=queries.logs_of(run.id) if final_without_results else [],
        owner=_owner_email(run), script_labels=_script_labels(),
        position=positions.position_of(run),
    )
    return html, 404 if page > last else 200


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
