"""Validateur: background validation of RAMQ billing files.

The WSGI entry point is `validateur:create_app()`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

from validateur import config as config_module
from validateur import logsafe
from validateur.config import PROJECT_ROOT


def create_app(test_config: Mapping[str, Any] | None = None) -> Flask:
    """Build the app: configure, bind extensions, register blueprints. Nothing else."""
    app = Flask(
        __name__,
        template_folder=str(PROJECT_ROOT / "templates"),
        static_folder=str(PROJECT_ROOT / "static"),
        instance_path=str(PROJECT_ROOT / "instance"),
    )
    app.config.update(config_module.load())
    if test_config:
        app.config.update(test_config)
    if proxies := app.config["VALIDATEUR_TRUSTED_PROXIES"]:  # the client is `proxies` hops back
        app.wsgi_app = ProxyFix(  # type: ignore[method-assign]
            app.wsgi_app, x_for=proxies, x_proto=proxies, x_host=proxies)
    logsafe.configure()
    _init_extensions(app)
    _register_blueprints(app)
    return app


def _init_extensions(app: Flask) -> None:
    from validateur import auth, database, queue, security, storage
    from validateur.extensions import csrf, db, migrate

    db.init_app(app)
    database.init_app(app)  # first: bounded waits for every later hook that reads PostgreSQL
    migrate.init_app(app, db, directory=str(PROJECT_ROOT / "migrations"))
    csrf.init_app(app)
    auth.init_app(app)
    queue.init_app(app)
    storage.init_app(app)
    security.init_app(app)


def _register_blueprints(app: Flask) -> None:
    from validateur import metrics
    from validateur.web import admin, api, errors, events, filters, pages, people

    app.register_blueprint(api.bp)
    app.register_blueprint(events.bp)
    app.register_blueprint(metrics.bp)
    app.register_blueprint(pages.bp)
    app.register_blueprint(people.bp)
    app.register_blueprint(admin.bp)
    errors.init_app(app)
    filters.init_app(app)
    admin.mount_rq_dashboard(app)
