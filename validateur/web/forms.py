"""Forms (Flask-WTF): CSRF on every one of them."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import EmailField, IntegerField, PasswordField, SelectField
from wtforms.validators import DataRequired, Length, NumberRange, Regexp

from validateur import labels
from validateur.models import Plan
from validateur.organizations import EMAIL, MANAGER_GRANTS, MAX_PARALLEL_LIMIT

#: The roles a page gives (`admin` only through the command line), in order, in French.
ROLE_CHOICES = [(role.value, labels.ROLE[role]) for role in MANAGER_GRANTS]
PLAN_CHOICES = [(plan.value, labels.PLAN[plan]) for plan in Plan]


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = EmailField("Courriel", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Mot de passe", validators=[DataRequired(), Length(max=200)])


class UploadForm(FlaskForm):  # type: ignore[misc]
    file = FileField("Fichier CSV", validators=[FileRequired("Choisissez un fichier CSV.")])


class ActionForm(FlaskForm):  # type: ignore[misc]
    """An empty form: a CSRF-protected button (cancel, delete, disable, reset)."""


class RoleForm(FlaskForm):  # type: ignore[misc]
    role = SelectField("Rôle", choices=ROLE_CHOICES)


def _stripped(value: str | None) -> str | None:
    return value.strip() if value else value


class MemberForm(RoleForm):
    email = EmailField("Courriel", filters=[_stripped], validators=[
        DataRequired("Saisissez le courriel du nouveau membre."),
        Length(max=320, message="Ce courriel est trop long."),
        Regexp(EMAIL, message="Ce courriel n'est pas une adresse valide.")])


class OrganizationForm(FlaskForm):  # type: ignore[misc]
    plan = SelectField("Forfait", choices=PLAN_CHOICES)
    max_parallel = IntegerField("Validations simultanées, au plus", validators=[
        NumberRange(1, MAX_PARALLEL_LIMIT,
                    f"Donnez un nombre de 1 à {MAX_PARALLEL_LIMIT}.")])
