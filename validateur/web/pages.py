"""French server-rendered pages: login, upload, runs list, run page."""

from __future__ import annotations

import unicodedata
from typing import Any
from urllib.parse import urlsplit

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required

from validateur import auth, lifecycle, sessions
from validateur.auth import require_upload_right
from validateur.schemas import run_schema
from validateur.security import check_login_account, limiter, upload_limit
from validateur.uploads import UploadRejected, accept_stream
from validateur.validation.findings import Severity
from validateur.web import queries
from validateur.web.access import get_run_or_404, visible_runs
from validateur.web.forms import ActionForm, LoginForm, UploadForm

bp = Blueprint("pages", __name__)
RUNS_PER_PAGE = 25
FINDINGS_PER_PAGE = 50
SEVERITY_LABELS = {"error": "Erreurs", "warning": "Avertissements",
                   "optimization": "Optimisations", "info": "Informations"}


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


@bp.get("/")
@login_required
def upload() -> Any:
    return render_template("pages/upload.html", form=UploadForm())


@bp.post("/upload")
@require_upload_right
@limiter.limit(upload_limit)
def upload_form() -> Any:
    """Fallback without JavaScript: a plain form post, then the run page."""
    form = UploadForm()
    if not form.validate_on_submit():
        flash("Choisissez un fichier CSV à téléverser.", "error")
        return render_template("pages/upload.html", form=form), 400
    file = form.file.data
    try:
        run = accept_stream(file.stream, file.filename, current_user.id)
    except UploadRejected as exc:
        flash(exc.message, "error")
        return render_template("pages/upload.html", form=UploadForm()), exc.status
    return redirect(url_for("pages.run_page", run_id=run.id))


@bp.get("/runs")
@login_required
def runs_page() -> Any:
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    items, total = queries.paginate(visible_runs(), page, RUNS_PER_PAGE)
    return render_template("pages/runs.html", runs=items, page=page, total=total,
                           per_page=RUNS_PER_PAGE)


@bp.get("/runs/<int:run_id>")
@login_required
def run_page(run_id: int) -> Any:
    run = get_run_or_404(run_id)
    severity = request.args.get("severity") or None
    if severity and severity not in {s.value for s in Severity}:
        abort(400)
    rule = request.args.get("rule") or None
    page = max(request.args.get("page", 1, type=int) or 1, 1)
    findings, total = queries.paginate(queries.findings_query(run.id, severity, rule), page,
                                       FINDINGS_PER_PAGE)
    return render_template(
        "pages/run.html", run=run, run_json=run_schema.dump(run), findings=findings,
        total=total, page=page, per_page=FINDINGS_PER_PAGE, severity=severity, rule=rule,
        groups=queries.finding_groups(run.id), severity_labels=SEVERITY_LABELS,
        action_form=ActionForm(),
    )


@bp.post("/runs/<int:run_id>/cancel")
@require_upload_right
def cancel_page(run_id: int) -> Any:
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    if not lifecycle.cancel_run(get_run_or_404(run_id)):
        flash("Cette validation est déjà terminée.", "error")
    return redirect(url_for("pages.run_page", run_id=run_id))
