"""Error answers: JSON `{"error": {"code", "message"}}` under /api, French pages elsewhere.

No stack trace ever reaches a client; a 500 rolls the session back so the next request of
the same worker starts clean. Database outages answer 503.

A 500 is logged as its class and frames (`logsafe.exception_outline`), never through
`exc_info`: whatever formatter the process runs, neither the exception's text (a driver
quotes the refused value and SQLAlchemy appends the parameters) nor a frame's locals reach
the log.
"""

from __future__ import annotations

import logging
import math
import time
from datetime import datetime
from typing import Any

from flask import Flask, jsonify, make_response, render_template, request
from sqlalchemy.exc import OperationalError, SQLAlchemyError
from werkzeug.exceptions import HTTPException

from validateur.extensions import db
from validateur.formatting import integer
from validateur.logsafe import exception_outline
from validateur.schemas import BadArguments

log = logging.getLogger(__name__)

MESSAGES = {
    400: ("bad_request", "Requête invalide."),
    401: ("unauthorized", "Authentification requise."),
    403: ("forbidden", "Vous n'avez pas les droits nécessaires pour cette action."),
    404: ("not_found", "Ressource introuvable."),
    405: ("method_not_allowed", "Méthode non permise."),
    413: ("file_too_large", "Le fichier dépasse la taille maximale permise."),
    429: ("rate_limited", "Trop de requêtes ; réessayez dans un moment."),
    500: ("internal_error", "Erreur interne ; l'incident a été consigné."),
    503: ("service_unavailable", "Service temporairement indisponible ; réessayez plus tard."),
}


#: The heading of the French error page a person sees.
TITLES = {
    400: "Adresse invalide",
    401: "Connexion requise",
    403: "Accès refusé",
    404: "Page introuvable",
    405: "Action non permise",
    413: "Fichier trop volumineux",
    429: "Trop de requêtes",
    500: "Erreur interne",
    503: "Service indisponible",
}


def error_response(status: int, code: str | None = None, message: str | None = None) -> Any:
    """JSON under /api; elsewhere a French page (standalone: it renders even with no database)."""
    default_code, default_message = MESSAGES.get(status, ("error", "Erreur."))
    code, message = code or default_code, message or default_message
    if request.path.startswith("/api/"):
        response = jsonify({"error": {"code": code, "message": message}})
        response.status_code = status
        return response
    # A 400 comes from the address's arguments: the same page without them is the way back.
    back = request.path if status == 400 and request.method == "GET" else "/"
    return render_template("errors/error.html", status=status, message=message,
                           title=TITLES.get(status, "Erreur"), back=back), status


def _bad_arguments(exc: BadArguments) -> Any:
    return error_response(400, "invalid_parameters", exc.message)


def _too_large(exc: HTTPException) -> Any:
    """Say what is too large: the parts, the file of an upload, or any other request."""
    from flask import current_app

    from validateur.security import is_upload_request
    from validateur.storage import TooManyParts

    if isinstance(exc, TooManyParts):
        parts = integer(current_app.config["MAX_FORM_PARTS"])
        return error_response(413, "too_many_parts",
                              f"Le formulaire contient trop de parties (plus de {parts}) ; "
                              "envoyez le fichier dans un seul champ « file ».")
    if is_upload_request():
        limit = current_app.config["VALIDATEUR_MAX_UPLOAD_MB"]
        return error_response(413, message=f"Le fichier dépasse la taille maximale de {limit} Mo.")
    return error_response(413, "request_too_large",
                          "La requête est trop volumineuse pour cette adresse.")


def _retry_after_seconds(exc: HTTPException) -> int:
    wait = getattr(exc, "retry_after", None)
    if isinstance(wait, datetime):
        return max(1, math.ceil(wait.timestamp() - time.time()))
    if isinstance(wait, int):
        return wait
    return 60


def _rate_limited(exc: HTTPException) -> Any:
    """429 with `Retry-After`: as our limiter computed it."""
    response = make_response(error_response(429))
    response.headers["Retry-After"] = str(_retry_after_seconds(exc))
    return response


def _http_error(exc: HTTPException) -> Any:
    status = exc.code or 500
    if status == 413:
        return _too_large(exc)
    if status == 429:
        return _rate_limited(exc)
    if status == 400 and exc.description and "CSRF" in exc.description:
        return error_response(400, "csrf", "Jeton de sécurité (CSRF) manquant ou expiré.")
    return error_response(status)


def _database_down(exc: Exception) -> Any:
    db.session.rollback()
    log.error("database unavailable: %s", type(exc).__name__)
    return error_response(503, "database_unavailable",
                          "La base de données est indisponible ; réessayez plus tard.")


def _unexpected(exc: Exception) -> Any:
    """Log the class and the frames only: the text or locals may quote a cell."""
    db.session.rollback()
    log.error("unhandled %s on %s %s\n%s", type(exc).__name__, request.method, request.path,
              exception_outline((type(exc), exc, exc.__traceback__)))
    return error_response(500)


def init_app(app: Flask) -> None:
    app.register_error_handler(BadArguments, _bad_arguments)
    app.register_error_handler(HTTPException, _http_error)
    app.register_error_handler(OperationalError, _database_down)
    app.register_error_handler(SQLAlchemyError, _unexpected)
    app.register_error_handler(Exception, _unexpected)
