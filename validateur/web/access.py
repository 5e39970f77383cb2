"""Which runs the caller may see (`organizations.visible_to`), and the run-id URL converter
shared by the API and the pages."""

from __future__ import annotations

from typing import Any

from flask import abort
from flask.blueprints import BlueprintSetupState
from flask_login import current_user
from sqlalchemy import Select, select
from werkzeug.routing import BaseConverter

from validateur import organizations
from validateur.extensions import db
from validateur.models import ValidationRun

#: Run ids are PostgreSQL `bigint` serials: 1 … 2⁶³ − 1.
MAX_RUN_ID = 2**63 - 1


def at_most(limit: int) -> str:
    """A regular expression matching the decimal numbers 1 … `limit`, without leading zero.

    Shorter numbers, then for each digit of `limit` the same prefix with a smaller digit and
    any tail, then `limit` itself: `at_most(250)` is
    `[1-9][0-9]{0,1}|[1-1][0-9]{2}|2[0-4][0-9]{1}|250`.
    """
    digits = str(limit)
    width = len(digits)
    branches = [f"[1-9][0-9]{{0,{width - 2}}}"] if width > 1 else []
    for position, digit in enumerate(digits):
        lowest = 1 if position == 0 else 0
        if int(digit) > lowest:
            tail = width - position - 1
            branches.append(f"{digits[:position]}[{lowest}-{int(digit) - 1}]"
                            + (f"[0-9]{{{tail}}}" if tail else ""))
    branches.append(digits)
    return "|".join(branches)


class RunIdConverter(BaseConverter):
    """`<run_id:…>` matches only 1 … 2⁶³ − 1, written without a sign or leading zero.

    The bound is in the regular expression itself, not in `to_python`: werkzeug tells a
    method apart before it converts, so a rejected conversion on DELETE would be a 405 where
    GET is routed. Anything else (0, -1, 2⁶³, 20 digits, `٣`) matches no route, so it is a
    404 before any query: a number PostgreSQL cannot hold never reaches it.
    """

    regex = f"(?:{at_most(MAX_RUN_ID)})"

    def to_python(self, value: str) -> int:
        return int(value)

    def to_url(self, value: Any) -> str:
        return str(int(value))


def register_converters(state: BlueprintSetupState) -> None:
    """Blueprint hook: the converter must exist before the blueprint's rules are added."""
    state.app.url_map.converters["run_id"] = RunIdConverter


def visible_runs() -> Select[Any]:
    """The runs of the caller's organization, newest first; admins see every run."""
    return (select(ValidationRun)
            .where(organizations.visible_to(current_user, ValidationRun.organization_id))
            .order_by(ValidationRun.created_at.desc(), ValidationRun.id.desc()))


def get_run_or_404(run_id: int) -> ValidationRun:
    """The run if the caller may see it; 404 otherwise (another organization's run is not
    found), decided by the same condition as the list."""
    run = db.session.execute(
        select(ValidationRun).where(
            ValidationRun.id == run_id,
            organizations.visible_to(current_user, ValidationRun.organization_id))
    ).scalar_one_or_none()
    if run is None:
        abort(404)
    return run
