"""Admin pages: organizations, users and queue health; rq-dashboard mounted at /admin/rq for
admins only. (Member actions are `people`'s routes, which admins share with managers.)

rq-dashboard 0.9 prints parts of its URL into an inline script without escaping (its
`.js` templates are not autoescaped) and renders job fields into HTML unescaped, so:

- only an allow-list of its own URL shapes reaches it, built from known queue names,
  registry names, page numbers and job-id-shaped segments; anything else is 404 before
  the dashboard runs;
- jobs only ever carry run ids and numbers (see `queue.py`), never a file name or a cell;
- it is read-only: its state-changing actions (delete, requeue, empty, compact) are
  refused here, as ops act through our own commands, which keep the run rows consistent;
- its pages get their own Content-Security-Policy: its templates need `'unsafe-eval'`
  (underscore's templates compile with `new Function`), one inline script per page (allowed
  by its SHA-256 hash, computed on the page actually sent, and only when the page holds
  exactly that one) and a few fixed `style` attributes (allowed by hash); no
  `'unsafe-inline'` anywhere, so injected markup runs no handler and no `javascript:` link.
"""

from __future__ import annotations

import base64
import hashlib
import logging
import re
from pathlib import Path
from typing import Any

import rq_dashboard
from flask import (
    Blueprint,
    Flask,
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_login import current_user
from rq import Queue
from sqlalchemy import select

from validateur import health, metrics, organizations, queue
from validateur.auth import require_admin
from validateur.extensions import csrf, db
from validateur.models import Organization, Plan, User
from validateur.web import people
from validateur.web.forms import ActionForm, MemberForm, OrganizationForm

log = logging.getLogger(__name__)
bp = Blueprint("admin", __name__, url_prefix="/admin")
RQ_DASHBOARD_PREFIX = "/admin/rq"

REGISTRIES = frozenset({"queued", "scheduled", "deferred", "started", "finished", "failed",
                        "canceled"})
#: A queue name safe to print anywhere (our names are `validation`, `validation-priority`).
QUEUE_NAME = re.compile(r"[A-Za-z0-9._-]{1,100}")
_SEG = {"queue": r"(?P<queue>[^/]+)", "registry": r"(?P<registry>[a-z]+)",
        "page": r"[1-9][0-9]{0,3}", "order": r"(?:asc|dsc)", "job": r"[A-Za-z0-9_-]{1,80}"}
#: Every URL of rq-dashboard 0.9 an admin's browser needs, relative to the mount point.
DASHBOARD_ROUTES = [re.compile(pattern.format(**_SEG)) for pattern in (
    r"/?", r"/0/", r"/0/view(?:/queues|/workers|/jobs)?",
    r"/0/view/jobs/{queue}/{registry}/{page}/{order}/{page}", r"/0/view/job/{job}",
    r"/0/data/(?:queues|workers)\.json",
    r"/0/data/jobs/{queue}/{registry}/{page}/{order}/{page}\.json", r"/0/data/job/{job}\.json",
    r"/static/(?:css|js)/[A-Za-z0-9_-]+(?:\.[A-Za-z0-9_-]+)*\.(?:css|js)", r"/favicon\.ico",
)]
_INLINE_SCRIPT = re.compile(rb"<script(?![^>]*\bsrc=)(?![^>]*text/template)[^>]*>(.*?)</script>",
                            re.DOTALL)
_STYLE_ATTRIBUTE = re.compile(r'style="([^"{}]*)"')


@bp.get("/")
@require_admin
def index() -> Any:
    users = db.session.execute(select(User).order_by(User.email)).scalars().all()
    return render_template("admin/index.html", users=users, health=health.check(),
                           organizations=organizations.all_organizations(),
                           member_counts=organizations.member_counts(),
                           action_form=ActionForm(), **queue_overview())


def queue_overview() -> dict[str, Any]:
    """The queue section's numbers (`templates/admin/_queues.html`): one metrics snapshot,
    the organizations with work in line or running, the oldest waiting run."""
    found = metrics.snapshot()
    loads = sorted((load for load in found.organizations.values()
                    if load.processing or load.queued or load.waiting_for_slot),
                   key=lambda load: (-load.waiting_for_slot, -load.processing, load.name))
    return {"queues": found, "loads": loads, "oldest_run": metrics.oldest_queued_run()}


def _organization_or_404(organization_id: int) -> Organization:
    found = organizations.organization_of(current_user, organization_id)
    if found is None:
        abort(404)
    return found


@bp.route("/organizations/<int:organization_id>", methods=["GET", "POST"])
@require_admin
def organization_page(organization_id: int) -> Any:
    """An organization: its plan and max-parallel (POST changes them), its members."""
    organization = _organization_or_404(organization_id)
    form = OrganizationForm(obj=organization)
    if request.method == "POST":
        if form.validate_on_submit():
            organizations.update(organization, plan=Plan(form.plan.data),
                                 max_parallel=form.max_parallel.data)
            flash(f"Organisation {organization.name} modifiée.", "success")
            return redirect(url_for("admin.organization_page", organization_id=organization_id))
        for errors in form.errors.values():
            for message in errors:
                flash(str(message), "error")
    return people.render_members("admin/organization.html", organization, form=form,
                                 member_form=MemberForm())


@bp.route("/organizations/<int:organization_id>/disable", methods=["GET", "POST"])
@require_admin
def disable_organization(organization_id: int) -> Any:
    """GET asks; POST disables: no member can sign in or use a token until it is enabled."""
    organization = _organization_or_404(organization_id)
    form = ActionForm()
    if request.method == "GET":
        return render_template("admin/confirm_organization.html", organization=organization,
                               form=form, members=organizations.members(organization))
    if not form.validate_on_submit():
        abort(400)
    organizations.update(organization, active=False)
    flash(f"Organisation {organization.name} désactivée : ses membres ne peuvent plus se "
          "connecter.", "success")
    return redirect(url_for("admin.organization_page", organization_id=organization_id))


@bp.post("/organizations/<int:organization_id>/enable")
@require_admin
def enable_organization(organization_id: int) -> Any:
    organization = _organization_or_404(organization_id)
    if not ActionForm().validate_on_submit():
        abort(400)
    organizations.update(organization, active=True)
    flash(f"Organisation {organization.name} réactivée.", "success")
    return redirect(url_for("admin.organization_page", organization_id=organization_id))


def known_queues() -> set[str]:
    """Our configured queues and those RQ registered, whose names are safe to print."""
    configured = current_app.config["VALIDATEUR_QUEUE"]
    names = {configured, f"{configured}-priority", "default"}
    try:
        names |= {q.name for q in Queue.all(connection=queue.redis_manager().client)}
    except Exception:  # Redis down: the dashboard itself will say so
        log.warning("could not list RQ queues for the dashboard allow-list")
    return {name for name in names if QUEUE_NAME.fullmatch(name)}


def dashboard_path_allowed(path: str) -> bool:
    """Whether a path under the mount point is one of the dashboard's own, with known parts."""
    for route in DASHBOARD_ROUTES:
        match = route.fullmatch(path)
        if match is None:
            continue
        parts = match.groupdict()
        if "registry" in parts and parts["registry"] not in REGISTRIES:
            return False
        return "queue" not in parts or parts["queue"] in known_queues()
    return False


def _guard_dashboard() -> Any:
    """Admins only; read-only (GET); only the allow-listed URLs reach the dashboard."""
    if request.path != RQ_DASHBOARD_PREFIX and not request.path.startswith(
            RQ_DASHBOARD_PREFIX + "/"):
        return None
    if not current_user.is_authenticated:
        from validateur.extensions import login_manager

        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403)
    if request.method not in ("GET", "HEAD"):
        abort(403)
    if not dashboard_path_allowed(request.path[len(RQ_DASHBOARD_PREFIX):]):
        abort(404)
    return None


def _sha256(data: bytes) -> str:
    return "'sha256-" + base64.b64encode(hashlib.sha256(data).digest()).decode() + "'"


def _template_style_hashes() -> list[str]:
    """Hashes of the fixed `style` attributes in rq-dashboard's own templates."""
    folder = Path(rq_dashboard.blueprint.root_path) / "templates"
    values = {value for template in folder.rglob("*.html")
              for value in _STYLE_ATTRIBUTE.findall(template.read_text())}
    return sorted(_sha256(value.encode()) for value in values)


def dashboard_policy(inline_scripts: list[bytes], style_hashes: list[str]) -> str:
    scripts = " ".join(_sha256(body) for body in inline_scripts)
    return (
        f"default-src 'self'; script-src 'self' 'unsafe-eval' {scripts}; "
        f"style-src 'self' 'unsafe-hashes' {' '.join(style_hashes)}; img-src 'self' data:; "
        "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'none'; "
        "frame-ancestors 'none'"
    ).replace("  ", " ")


def _dashboard_headers(response: Response) -> Response:
    scripts: list[bytes] = []
    if response.mimetype == "text/html" and not response.is_streamed:
        scripts = _INLINE_SCRIPT.findall(response.get_data())
        if len(scripts) != 1:  # rq-dashboard's pages hold exactly one: anything else is not its
            log.warning("dashboard page with %s inline scripts: none allowed", len(scripts))
            scripts = []
    styles: list[str] = current_app.extensions["validateur.dashboard_styles"]
    response.headers["Content-Security-Policy"] = dashboard_policy(scripts, styles)
    return response


def mount_rq_dashboard(app: Flask) -> None:
    if not app.config.get("REDIS_URL"):
        return
    app.config["RQ_DASHBOARD_REDIS_URL"] = app.config["REDIS_URL"]
    app.config["RQ_DASHBOARD_DISABLE_DELETE"] = True
    rq_dashboard.web.setup_rq_connection(app)
    app.extensions["validateur.dashboard_styles"] = _template_style_hashes()
    app.before_request(_guard_dashboard)
    csrf.exempt(rq_dashboard.blueprint)
    if _dashboard_headers not in rq_dashboard.blueprint.after_request_funcs.get(None, []):
        rq_dashboard.blueprint.after_request(_dashboard_headers)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=RQ_DASHBOARD_PREFIX)
