"""The `validateur` command: a Flask CLI group over the app factory.

`dev` runs without an app (it starts the services the app needs); every other command runs
inside an app built from the environment.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import click
from flask import current_app
from flask.cli import FlaskGroup

from validateur import create_app
from validateur.models import Role, RunStatus, ValidationRun

ROLE_CHOICE = click.Choice([r.value for r in Role])


@click.group(cls=FlaskGroup, create_app=create_app, add_default_commands=True,
             load_dotenv=False)
def main() -> None:
    """Validateur : validation des fichiers de facturation RAMQ."""


@main.command("dev", with_appcontext=False)
@click.option("--workers", default=2, show_default=True, help="Nombre de workers RQ.")
@click.option("--port", default=5000, show_default=True, help="Port du serveur web.")
def dev_command(workers: int, port: int) -> None:
    """Tout lancer en local : PostgreSQL et Redis intégrés, web et workers."""
    from validateur.dev import DevStack

    stack = DevStack(workers=workers, port=port)
    stack.prepare()
    stack.start()
    sys.exit(stack.wait())


@main.command("worker")
@click.option("--burst", is_flag=True, help="Traiter la file puis s'arrêter.")
def worker_command(burst: bool) -> None:
    """Un processus worker RQ (avec le planificateur), l'application préchargée."""
    from jobs.worker import run_worker

    run_worker(current_app._get_current_object(), burst=burst)  # type: ignore[attr-defined]


@main.group("users")
def users_group() -> None:
    """Gestion des utilisateurs."""


@users_group.command("create")
@click.argument("email")
@click.option("--role", type=ROLE_CHOICE, required=True)
@click.option("--password", default=None, help="Généré et affiché s'il est omis.")
def users_create(email: str, role: str, password: str | None) -> None:
    from validateur import auth

    if auth.find_user(email):
        raise click.ClickException(f"L'utilisateur {email} existe déjà.")
    user, secret = auth.create_user(email, Role(role), password)
    click.echo(f"Utilisateur créé : {user.email} ({user.role})")
    if password is None:
        click.echo(f"Mot de passe : {secret}")


@users_group.command("dev-admin", hidden=True)
@click.argument("email")
def users_dev_admin(email: str) -> None:
    """Create or reset the development admin and print its credentials."""
    import secrets

    from werkzeug.security import generate_password_hash

    from validateur import auth
    from validateur.extensions import db

    password = secrets.token_urlsafe(10)
    user = auth.find_user(email)
    if user is None:
        user, _ = auth.create_user(email, Role.ADMIN, password)
    else:
        user.password_hash = generate_password_hash(password)
        db.session.commit()
    click.echo(f"Compte admin de développement : {email} / {password}")
    click.echo(f"Jeton d'API de développement : {auth.create_token(user)}")


@main.group("tokens")
def tokens_group() -> None:
    """Jetons d'API."""


@tokens_group.command("create")
@click.argument("email")
def tokens_create(email: str) -> None:
    from validateur import auth

    user = auth.find_user(email)
    if user is None:
        raise click.ClickException(f"Utilisateur inconnu : {email}")
    click.echo(auth.create_token(user))


@tokens_group.command("revoke")
@click.argument("token", required=False)
@click.option("--user", "email", default=None, help="Révoquer tous les jetons de ce compte.")
def tokens_revoke(token: str | None, email: str | None) -> None:
    """Révoquer un jeton (donné en entier) ou tous ceux d'un utilisateur."""
    from validateur import auth

    if email:
        user = auth.find_user(email)
        if user is None:
            raise click.ClickException(f"Utilisateur inconnu : {email}")
        click.echo(f"{auth.revoke_user_tokens(user)} jeton(s) révoqué(s).")
    elif token:
        if not auth.revoke_token(token):
            raise click.ClickException("Aucun jeton actif ne correspond.")
        click.echo("Jeton révoqué.")
    else:
        raise click.UsageError("Donnez un JETON ou --user COURRIEL.")


@main.command("validate")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--wait", is_flag=True, help="Attendre la fin avec une barre de progression.")
@click.option("--user", "email", default=None, help="Propriétaire de la validation.")
def validate_command(file: Path, wait: bool, email: str | None) -> None:
    """Mettre un fichier en file d'attente comme un téléversement."""
    from validateur import auth
    from validateur.uploads import UploadRejected, accept_local_file

    user = auth.find_user(email) if email else None
    if email and user is None:
        raise click.ClickException(f"Utilisateur inconnu : {email}")
    try:
        run = accept_local_file(file, user.id if user else None)
    except UploadRejected as exc:
        raise click.ClickException(exc.message) from None
    click.echo(f"Validation {run.id} en file d'attente (tâche {run.job_id})")
    if wait:
        sys.exit(_wait_for(run.id))


def _wait_for(run_id: int) -> int:
    from validateur.extensions import db

    with click.progressbar(length=100, label="Validation") as bar:
        shown = 0
        while True:
            db.session.expire_all()
            run = db.session.get(ValidationRun, run_id)
            assert run is not None
            bar.update(max(run.progress - shown, 0))
            shown = max(shown, run.progress)
            if run.run_status.is_final:
                break
            time.sleep(0.5)
    click.echo(_summary(run))
    return 0 if run.status == RunStatus.COMPLETED.value else 1


def _summary(run: ValidationRun) -> str:
    if run.status != RunStatus.COMPLETED.value:
        return f"Validation {run.id} : {run.status}. {run.error_message or ''}".strip()
    return (
        f"Validation {run.id} terminée : {run.total_rows} lignes, {run.error_count} erreurs, "
        f"{run.warning_count} avertissements, {run.optimization_count} optimisations, "
        f"gain potentiel {run.potential_gain} $"
    )


@main.command("check-redis")
def check_redis_command() -> None:
    """Vérifier Redis : PING, aller-retour SET/GET, version du serveur."""
    from validateur.queue import check_redis

    ok, lines = check_redis(current_app.config["REDIS_URL"])
    for line in lines:
        click.echo(line)
    sys.exit(0 if ok else 1)


@main.command("cleanup")
def cleanup_command() -> None:
    """Maintenance : runs bloqués repris ou échoués, fichiers orphelins, purge de rétention."""
    from validateur.maintenance import run_maintenance

    report = run_maintenance()
    click.echo(f"Runs remis en file : {len(report.requeued)} ; runs échoués : "
               f"{len(report.failed)} ; fichiers orphelins supprimés : {report.orphan_files} ; "
               f"runs purgés : {report.purged_runs}")


@main.command("import-codes")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_codes_command(file: Path) -> None:
    """Charger la table des codes RAMQ (idempotent)."""
    from validateur import reference

    click.echo(f"{reference.import_codes(file)} codes (code, lieu) chargés.")


@main.command("import-gmf")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def import_gmf_command(file: Path) -> None:
    """Charger les numéros d'établissements GMF (un par ligne ou colonne CSV)."""
    from validateur import reference

    click.echo(f"{reference.import_gmf(file)} établissements GMF chargés.")
