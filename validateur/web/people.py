"""« Mon organisation »: a manager's page of members, and the member actions admins share.

A manager sees their organization's members, adds one (the generated password is shown once,
on the answer page itself: never in a flash message, which travels in the session cookie),
changes a role, disables or enables an account, and resets a password by generating one,
shown once. An admin does the same to anyone from the admin pages, through the same routes.

Whom an action may reach is decided like a run's visibility (`organizations.member_of`: a
member of another organization is not found, 404), then by the rules of
`organizations.check_may_manage` and `check_may_grant` (refused in French). Disabling and
resetting ask first on a page of their own, like cancelling a run.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from validateur import auth, labels, organizations
from validateur.auth import require_manager
from validateur.extensions import db, login_manager
from validateur.models import Organization, Role, User
from validateur.organizations import PeopleRefused
from validateur.web.forms import ActionForm, MemberForm, RoleForm

bp = Blueprint("people", __name__)
F = TypeVar("F", bound=Callable[..., Any])


def require_people_right(view: F) -> F:
    """Managers and admins act on members; anyone else gets 403."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not current_user.is_authenticated:
            return login_manager.unauthorized()
        if not (current_user.is_manager or current_user.is_admin):
            abort(403)
        return view(*args, **kwargs)

    return wrapper  # type: ignore[return-value]


def _member_or_404(user_id: int) -> User:
    member = organizations.member_of(current_user, user_id)
    if member is None:
        abort(404)
    return member


def _organization_or_404(organization_id: int) -> Organization:
    found = organizations.organization_of(current_user, organization_id)
    if found is None:
        abort(404)
    return found


def organization_url(organization_id: int | None) -> str:
    """Where a member action leads back: the manager's page, or the admin's page of that
    organization (the admin index for an account without one)."""
    if not current_user.is_admin:
        return url_for("people.organization")
    if organization_id is None:
        return url_for("admin.index")
    return url_for("admin.organization_page", organization_id=organization_id)


def _back(member: User) -> Any:
    return redirect(organization_url(member.organization_id))


def render_members(template: str, organization: Organization, **context: Any) -> str:
    """A page listing `organization`'s members with their action forms."""
    return render_template(template, organization=organization,
                           members=organizations.members(organization), role_form=RoleForm(),
                           action_form=ActionForm(), **context)


@bp.get("/organization")
@require_manager
def organization() -> Any:
    own = current_user.organization
    return render_members("people/organization.html", own, member_form=MemberForm())


@bp.post("/organizations/<int:organization_id>/members")
@require_people_right
def add_member(organization_id: int) -> Any:
    """Create an account in the organization; the answer page shows its password once."""
    target = _organization_or_404(organization_id)
    form = MemberForm()
    if not form.validate_on_submit():
        for errors in form.errors.values():
            for message in errors:
                flash(str(message), "error")
        return redirect(organization_url(target.id))
    email = form.email.data.strip().lower()
    role = Role(form.role.data)
    try:
        organizations.check_may_grant(current_user, role)
        if auth.find_user(email) is not None:
            raise PeopleRefused(f"Un compte existe déjà pour {email}.")
        member, password = auth.create_user(email, role, organization=target)
    except PeopleRefused as exc:
        db.session.rollback()
        flash(exc.message, "error")
        return redirect(organization_url(target.id))
    return render_template("people/password.html", member=member, password=password,
                           created=True, back=organization_url(target.id))


@bp.post("/members/<int:user_id>/role")
@require_people_right
def change_role(user_id: int) -> Any:
    member = _member_or_404(user_id)
    form = RoleForm()
    if not form.validate_on_submit():
        flash("Choisissez un rôle dans la liste.", "error")
        return _back(member)
    role = Role(form.role.data)
    try:
        organizations.check_may_manage(current_user, member)
        organizations.check_may_grant(current_user, role)
    except PeopleRefused as exc:
        flash(exc.message, "error")
        return _back(member)
    organizations.place(member, role, member.organization)
    db.session.commit()
    flash(f"Rôle de {member.email} : {labels.label(labels.ROLE, role)}.", "success")
    return _back(member)


def _confirmed(member: User, action: str) -> Any:
    """None once the POST is confirmed; else the page to answer (the question, or a refusal)."""
    try:
        organizations.check_may_manage(current_user, member)
    except PeopleRefused as exc:
        flash(exc.message, "error")
        return _back(member)
    form = ActionForm()
    if request.method == "GET":
        return render_template("people/confirm.html", member=member, form=form, action=action,
                               back=organization_url(member.organization_id))
    if not form.validate_on_submit():
        abort(400)
    return None


@bp.route("/members/<int:user_id>/disable", methods=["GET", "POST"])
@require_people_right
def disable_member(user_id: int) -> Any:
    """GET asks; POST disables: the member's sessions and tokens stop at their next request."""
    member = _member_or_404(user_id)
    answer = _confirmed(member, "disable")
    if answer is not None:
        return answer
    member.active = False  # ends the sessions (models' listener); tokens check `is_active`
    db.session.commit()
    flash(f"Compte de {member.email} désactivé : ses sessions et ses jetons d'API ont cessé "
          "de fonctionner.", "success")
    return _back(member)


@bp.post("/members/<int:user_id>/enable")
@require_people_right
def enable_member(user_id: int) -> Any:
    member = _member_or_404(user_id)
    form = ActionForm()
    if not form.validate_on_submit():
        abort(400)
    try:
        organizations.check_may_manage(current_user, member)
    except PeopleRefused as exc:
        flash(exc.message, "error")
        return _back(member)
    member.active = True
    db.session.commit()
    flash(f"Compte de {member.email} réactivé.", "success")
    return _back(member)


@bp.route("/members/<int:user_id>/password", methods=["GET", "POST"])
@require_people_right
def reset_password(user_id: int) -> Any:
    """GET asks; POST generates a password and shows it once (the old one and the member's
    sessions stop)."""
    member = _member_or_404(user_id)
    answer = _confirmed(member, "password")
    if answer is not None:
        return answer
    password = auth.reset_password(member)
    return render_template("people/password.html", member=member, password=password,
                           created=False, back=organization_url(member.organization_id))
