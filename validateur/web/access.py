"""Fetch-or-404 helpers shared by the API and the pages."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask_login import current_user
from sqlalchemy import Select, select

from validateur.extensions import db
from validateur.models import ValidationRun


def visible_runs() -> Select[Any]:
    """The caller's runs, newest first; admins see every run."""
    query = select(ValidationRun).order_by(ValidationRun.created_at.desc(),
                                           ValidationRun.id.desc())
    if not current_user.is_admin:
        query = query.where(ValidationRun.user_id == current_user.id)
    return query


def get_run_or_404(run_id: int) -> ValidationRun:
    """The run if the caller may see it; 404 otherwise (another user's run is not found)."""
    run = db.session.get(ValidationRun, run_id)
    if run is None or not (current_user.is_admin or run.user_id == current_user.id):
        abort(404)
    return run
