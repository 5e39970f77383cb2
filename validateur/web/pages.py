"""French server-rendered pages: login, upload, runs list, run page."""

from __future__ import annotations

from typing import Any

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user, login_required, login_user, logout_user

from validateur import auth, lifecycle
from validateur.auth import require_upload_right
from validateur.schemas import run_schema
from validateur.security import limiter, login_key, login_limit, upload_limit
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
    """Only same-site relative paths are followed after login."""
    if target and target.startswith("/") and not target.startswith("//"):
        return target
    return url_for("pages.upload")


@bp.route("/login", methods=["GET", "POST"])
@limiter.limit(login_limit, methods=["POST"], key_func=login_key)
def login() -> Any:
    form = LoginForm()
    if form.validate_on_submit():
        user = auth.find_user(form.email.data)
        if user is not None and user.is_active and auth.check_password(user, form.password.data):
            login_user(user)
            return redirect(_safe_next(request.args.get("next")))
        flash("Courriel ou mot de passe invalide.", "error")
    return render_template("auth/login.html", form=form)


@bp.post("/logout")
@login_required
def logout() -> Any:
    logout_user()
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
