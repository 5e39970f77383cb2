"""Admin pages: users and queue health; rq-dashboard mounted at /admin/rq for admins only.

rq-dashboard renders job descriptions unescaped, so jobs only ever carry run ids; its
state-changing actions (delete, requeue, empty) are refused here: ops act through our own
commands, which keep the run rows consistent with the queue.
"""

from __future__ import annotations

from typing import Any

import rq_dashboard
from flask import Blueprint, Flask, abort, render_template, request
from flask_login import current_user
from sqlalchemy import select

from validateur import health
from validateur.auth import require_admin
from validateur.extensions import csrf, db
from validateur.models import User

bp = Blueprint("admin", __name__, url_prefix="/admin")
RQ_DASHBOARD_PREFIX = "/admin/rq"


@bp.get("/")
@require_admin
def index() -> Any:
    users = db.session.execute(select(User).order_by(User.email)).scalars().all()
    return render_template("admin/index.html", users=users, health=health.check())


def _guard_dashboard() -> Any:
    """Admins only; read-only (GET) so nothing in RQ changes behind the runs' backs."""
    if not request.path.startswith(RQ_DASHBOARD_PREFIX + "/"):
        return None
    if not current_user.is_authenticated:
        from validateur.extensions import login_manager

        return login_manager.unauthorized()
    if not current_user.is_admin:
        abort(403)
    if request.method != "GET" or "/requeue/" in request.path:
        abort(403)
    return None


def mount_rq_dashboard(app: Flask) -> None:
    if not app.config.get("REDIS_URL"):
        return
    app.config["RQ_DASHBOARD_REDIS_URL"] = app.config["REDIS_URL"]
    app.config["RQ_DASHBOARD_DISABLE_DELETE"] = True
    rq_dashboard.web.setup_rq_connection(app)
    app.before_request(_guard_dashboard)
    csrf.exempt(rq_dashboard.blueprint)
    app.register_blueprint(rq_dashboard.blueprint, url_prefix=RQ_DASHBOARD_PREFIX)
