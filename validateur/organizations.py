"""Organizations and who may see or manage what in them.

A user belongs to one organization (a clinic, a billing agency); admins, the operators,
belong to none and see everything. What anyone may see is decided in one place,
`visible_to`: the run list, a run's page and API, its exports, its cancel and delete, and a
manager's members list all filter through it, so an organization's run or member is simply
not found by anyone outside it (404, never 403, which would say that it exists).

The rules of people management live here too, for the command line and the pages alike:
a manager manages the members of their own organization, never themselves (so an
organization cannot lose its last manager by a slip), and never grants `admin`.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, false, func, select, true
from sqlalchemy.orm import InstrumentedAttribute

from validateur.errors import ValidateurError
from validateur.extensions import db
from validateur.models import DEFAULT_MAX_PARALLEL, Organization, Plan, Role, User

#: Local part, @, a domain with at least one dot: enough to catch typing mistakes.
EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s.]{2,}$")
#: The longest organization name (an organization made for one user is named after its e-mail).
MAX_NAME_LENGTH = 320
#: More runs at once than any worker pool we run would make the cap meaningless.
MAX_PARALLEL_LIMIT = 100
#: The roles a manager may give: any but the operator's.
MANAGER_GRANTS = (Role.VIEWER, Role.EDITOR, Role.MANAGER)


class PeopleRefused(ValidateurError):
    """A change to people or organizations that the rules refuse; `message` is French."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# -- visibility -----------------------------------------------------------------------------

def visible_to(user: Any, column: InstrumentedAttribute[Any]) -> ColumnElement[bool]:
    """The condition on `column` (a row's organization id) for the rows `user` may see.

    Admins see every row; a member sees their organization's; anyone else (no organization,
    not signed in) sees nothing. The one place that decides it: every query of runs or
    members a person reaches adds this condition.
    """
    if getattr(user, "is_admin", False):
        return true()
    organization_id = getattr(user, "organization_id", None)
    if organization_id is None:
        return false()
    condition: ColumnElement[bool] = column == organization_id
    return condition


def named(column: InstrumentedAttribute[Any], name: str) -> ColumnElement[bool]:
    """Rows of the organization called `name` (none when no organization has that name); a
    filter added to `visible_to`, never instead of it."""
    condition: ColumnElement[bool] = column == (
        select(Organization.id).where(Organization.name == name.strip()).scalar_subquery())
    return condition


# -- organizations --------------------------------------------------------------------------

def find(name: str) -> Organization | None:
    return db.session.execute(
        select(Organization).where(Organization.name == name.strip())
    ).scalar_one_or_none()


def get(name: str) -> Organization:
    """The organization called `name`, or a French refusal naming it."""
    found = find(name)
    if found is None:
        raise PeopleRefused(f"organisation inconnue : {name.strip()}.")
    return found


def _checked_max_parallel(value: int) -> int:
    if not 1 <= value <= MAX_PARALLEL_LIMIT:
        raise PeopleRefused(f"le nombre de validations simultanées doit être entre 1 et "
                            f"{MAX_PARALLEL_LIMIT} (reçu : {value}).")
    return value


def create(name: str, plan: Plan = Plan.STANDARD,
           max_parallel: int = DEFAULT_MAX_PARALLEL) -> Organization:
    """Add an organization (flushed, not committed: the caller commits it with its use)."""
    name = name.strip()
    if not name or len(name) > MAX_NAME_LENGTH:
        raise PeopleRefused(f"le nom d'une organisation compte de 1 à {MAX_NAME_LENGTH} "
                            "caractères.")
    if find(name) is not None:
        raise PeopleRefused(f"l'organisation « {name} » existe déjà.")
    organization = Organization(name=name, plan=plan,
                                max_parallel=_checked_max_parallel(max_parallel))
    db.session.add(organization)
    db.session.flush()
    return organization


def update(organization: Organization, *, plan: Plan | None = None,
           max_parallel: int | None = None, active: bool | None = None) -> None:
    """Change an organization; disabling it ends its members' sessions at once."""
    if plan is not None:
        organization.plan = plan
    new_cap = max_parallel is not None and max_parallel != organization.max_parallel
    if max_parallel is not None:
        organization.max_parallel = _checked_max_parallel(max_parallel)
    if active is not None and active != organization.active:
        organization.active = active
        if not active:
            for member in members(organization):
                member.end_sessions()
    db.session.commit()
    if new_cap:  # the waiting and running jobs take the new cap now (`queue`)
        from validateur import queue

        queue.apply_max_parallel(organization.id, organization.max_parallel)


def members(organization: Organization) -> list[User]:
    return list(db.session.execute(
        select(User).where(User.organization_id == organization.id).order_by(User.email)
    ).scalars())


def member_counts(organization_id: int | None = None) -> dict[int, int]:
    """How many users each organization (or only `organization_id`) has, in one query."""
    query = select(User.organization_id, func.count()).where(User.organization_id.is_not(None))
    if organization_id is not None:
        query = query.where(User.organization_id == organization_id)
    rows = db.session.execute(query.group_by(User.organization_id)).all()
    return {int(org_id): int(count) for org_id, count in rows if org_id is not None}


def all_organizations() -> list[Organization]:
    return list(db.session.execute(select(Organization).order_by(Organization.name)).scalars())


def names_of(ids: set[int | None]) -> dict[int, str]:
    """Organization names by id, in one query (the runs list shows them to admins)."""
    wanted = {i for i in ids if i is not None}
    if not wanted:
        return {}
    rows = db.session.execute(
        select(Organization.id, Organization.name).where(Organization.id.in_(wanted))).all()
    return {int(org_id): name for org_id, name in rows}


# -- people ---------------------------------------------------------------------------------

def organization_for_new_user(email: str, role: Role,
                              organization: Organization | None) -> Organization | None:
    """Where a new user goes: none for an admin; else `organization`, or a new one of their
    own named after their e-mail, so two users created apart never see each other's runs."""
    if role == Role.ADMIN:
        if organization is not None:
            raise PeopleRefused("un administrateur n'appartient à aucune organisation.")
        return None
    return organization if organization is not None else create(email)


def place(user: User, role: Role, organization: Organization | None = None) -> None:
    """Give `user` a role (and an organization): an admin leaves theirs; someone who stops
    being an admin joins `organization` or one of their own. Not committed."""
    if role == Role.ADMIN:
        if organization is not None:
            raise PeopleRefused("un administrateur n'appartient à aucune organisation.")
        user.organization = None
    elif organization is not None:
        user.organization = organization
    elif user.organization is None:
        user.organization = create(user.email)
    user.role = role


def check_may_grant(actor: Any, role: Role) -> None:
    """Admins give any role; managers any but `admin`; nobody else gives any."""
    if actor.is_admin:
        return
    if not actor.is_manager or role not in MANAGER_GRANTS:
        raise PeopleRefused("Vous ne pouvez pas attribuer ce rôle.")


def check_may_manage(actor: Any, member: User) -> None:
    """An admin manages anyone, a manager the members of their own organization; nobody
    their own account (a slip would lock them out)."""
    if member.id == actor.id:
        raise PeopleRefused("Vous ne pouvez pas modifier votre propre compte ici ; demandez-le "
                            "à un autre gestionnaire ou à un administrateur.")
    if actor.is_admin:
        return
    if not actor.is_manager or member.organization_id != actor.organization_id:
        raise PeopleRefused("Ce compte n'est pas dans votre organisation.")


def member_of(actor: Any, user_id: int) -> User | None:
    """The user `user_id` if `actor` may see them (same organization, or an admin)."""
    return db.session.execute(
        select(User).where(User.id == user_id, visible_to(actor, User.organization_id))
    ).scalar_one_or_none()


def organization_of(actor: Any, organization_id: int) -> Organization | None:
    """The organization `organization_id` if `actor` may see it (their own, or an admin)."""
    return db.session.execute(
        select(Organization).where(Organization.id == organization_id,
                                   visible_to(actor, Organization.id))
    ).scalar_one_or_none()
