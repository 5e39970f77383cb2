"""Forms (Flask-WTF): CSRF on every one of them."""

from __future__ import annotations

from flask_wtf import FlaskForm
from flask_wtf.file import FileField, FileRequired
from wtforms import EmailField, PasswordField
from wtforms.validators import DataRequired, Length


class LoginForm(FlaskForm):  # type: ignore[misc]
    email = EmailField("Courriel", validators=[DataRequired(), Length(max=320)])
    password = PasswordField("Mot de passe", validators=[DataRequired(), Length(max=200)])


class UploadForm(FlaskForm):  # type: ignore[misc]
    file = FileField("Fichier CSV", validators=[FileRequired("Choisissez un fichier CSV.")])


class ActionForm(FlaskForm):  # type: ignore[misc]
    """An empty form: a CSRF-protected button (cancel, delete)."""
