"""The `validateur` command: a Flask CLI group over the app factory.

`dev` and `check-redis` run without an app (the first starts the services the app needs, the
second needs only REDIS_URL); every other command runs inside an app built from the
environment. When DATABASE_URL and REDIS_URL are both unset and `validateur dev` runs in this
checkout, the command uses that stack (`validateur.dev.apply_stack_environment`).

Every failure is one French line on stderr and an exit code other than 0, never a traceback
(`VALIDATEUR_DEBUG=1` shows it); help texts and usage errors are French too.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import sys
import time
from collections.abc import Iterable
from pathlib import Path
from typing import Any, ClassVar, NoReturn

import click
from flask import current_app
from flask.cli import AppGroup, FlaskGroup, ScriptInfo

from validateur import create_app, labels, organizations
from validateur.errors import ValidateurError
from validateur.models import DEFAULT_MAX_PARALLEL, Plan, Role, RunStatus, ValidationRun

ROLE_CHOICE = click.Choice([r.value for r in Role])
HELP_TEXT = "Afficher cette aide et quitter."
#: Shortest password `users create` accepts.
MIN_PASSWORD_LENGTH = 12
EMAIL = organizations.EMAIL
#: What `tokens create` prints as a token's prefix (and stores): `vld_` and 8 characters.
PREFIX_LENGTH = 12
#: Commands the app's extensions add (Flask-Migrate's `db`): they need the app.
APP_COMMANDS = frozenset({"db"})
#: Commands that run services: they keep INFO logs; the others print only their own lines.
SERVICE_COMMANDS = frozenset({"worker", "dev", "run", "shell", "db"})


class CommandError(click.ClickException):
    """A failure of a command: printed as one French line on stderr, exit code 1."""

    def show(self, file: Any = None) -> None:
        click.echo(f"Erreur : {self.message}", err=True)


# -- French help ----------------------------------------------------------------------------
class FrenchFormatter(click.HelpFormatter):
    """Click's help layout with French headings."""

    HEADINGS: ClassVar[dict[str, str]] = {"Commands": "Commandes", "Options": "Options",
                                          "Arguments": "Arguments"}

    def write_usage(self, prog: str, args: str = "", prefix: str | None = None) -> None:
        super().write_usage(prog, args, "Utilisation : " if prefix is None else prefix)

    def section(self, name: str) -> Any:
        return super().section(self.HEADINGS.get(name, name))

    def write_dl(self, rows: Any, col_max: int = 30, col_spacing: int = 2) -> None:
        """Option rows, with Click's « default: » and « required » in French."""
        french = [(term, help_text.replace("default: ", "par défaut : ")
                   .replace("required]", "obligatoire]")) for term, help_text in rows]
        super().write_dl(french, col_max, col_spacing)


class FrenchContext(click.Context):
    formatter_class = FrenchFormatter


class _FrenchHelp(click.Command):
    context_class = FrenchContext

    def get_help_option(self, ctx: click.Context) -> click.Option | None:
        option = super().get_help_option(ctx)
        if option is not None:
            option.help = HELP_TEXT
        return option


class FrenchCommand(_FrenchHelp):
    """A command whose help is in French."""


SUBCOMMAND_METAVAR = "COMMANDE [ARGUMENTS]..."


class FrenchAppGroup(_FrenchHelp, AppGroup):
    """A command group (app context for its commands) whose help is in French."""

    command_class = FrenchCommand

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("subcommand_metavar", SUBCOMMAND_METAVAR)
        super().__init__(*args, **kwargs)


class ValidateurGroup(_FrenchHelp, FlaskGroup):
    """The `validateur` group: French help, and every error as one French line."""

    command_class = FrenchCommand

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("subcommand_metavar", SUBCOMMAND_METAVAR)
        super().__init__(*args, **kwargs)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        """Our commands and the extensions' entry points first, without building the app;
        then the app's own (`db`). An unknown command is named as such even when the app
        cannot be built; a known app command reports why it cannot be."""
        self._load_plugin_commands()
        found = click.Group.get_command(self, ctx, name)
        if found is not None:
            return found
        try:
            return super().get_command(ctx, name)
        except Exception:
            if name in APP_COMMANDS:
                raise
            return None

    def list_commands(self, ctx: click.Context) -> list[str]:
        self._load_plugin_commands()
        names = set(click.Group.list_commands(self, ctx))
        with contextlib.suppress(Exception):  # the help lists ours when the app cannot be built
            names.update(ctx.ensure_object(ScriptInfo).load_app().cli.list_commands(ctx))
        return sorted(names)

    def main(self, args: Any = None, prog_name: str | None = None,
             complete_var: str | None = None, standalone_mode: bool = True,
             **extra: Any) -> Any:
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.NoArgsIsHelpError as exc:
            click.echo(exc.ctx.get_help() if exc.ctx else "")
            result = 0
        except click.UsageError as exc:
            _fail(_usage_message(exc), 2)
        except click.ClickException as exc:
            exc.show() if isinstance(exc, CommandError) else _fail(exc.format_message())
            sys.exit(exc.exit_code)
        except (click.Abort, KeyboardInterrupt):
            _fail("interrompu.", 130)
        except Exception as exc:
            if os.environ.get("VALIDATEUR_DEBUG") == "1":
                raise
            _fail(_error_message(exc))
        if not standalone_mode:
            return result
        sys.exit(result if isinstance(result, int) else 0)


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(f"Erreur : {message}", err=True)
    sys.exit(code)


def _param_name(param: click.Parameter | None) -> str:
    if param is None:
        return "un paramètre"
    if isinstance(param, click.Option):
        return max(param.opts, key=len)
    return (param.human_readable_name or param.name or "").upper()


def _usage_message(exc: click.UsageError) -> str:
    """Click's usage errors (English) as one French sentence."""
    hint = f" (voir « {exc.ctx.command_path} --help »)" if exc.ctx else ""
    if isinstance(exc, click.MissingParameter):
        return f"paramètre manquant : {_param_name(exc.param)}{hint}."
    if isinstance(exc, click.NoSuchOption):
        return f"option inconnue : {exc.option_name}{hint}."
    if isinstance(exc, click.BadParameter):
        param = exc.param
        name = _param_name(param)
        if param is not None and isinstance(param.type, click.Choice):
            choices = ", ".join(str(choice) for choice in param.type.choices)
            return f"valeur invalide pour {name} : choisissez parmi {choices}."
        if param is not None and param.type in (click.INT, click.FLOAT):
            return f"valeur invalide pour {name} : un nombre est attendu."
        return f"valeur invalide pour {name} : {exc.message}"
    found = re.match(r"No such command '(.+)'", exc.message)
    if found:
        return f"commande inconnue : {found.group(1)}{hint}."
    return f"commande invalide{hint}."


def _error_message(exc: Exception) -> str:
    """A French sentence for a failure no command handled itself (never the exception text,
    which may quote data)."""
    from psycopg import errors as pg_errors
    from redis.exceptions import RedisError
    from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError

    from validateur.config import ConfigError
    from validateur.dev import DevStackError
    from validateur.errors import QueueNotConfigured, QueueUnavailable
    from validateur.queue import mask_url

    if isinstance(exc, DevStackError):
        return str(exc)
    if isinstance(exc, ConfigError):
        return f"configuration : {exc}."
    if isinstance(exc, QueueNotConfigured):
        return "configuration : REDIS_URL n'est pas définie."
    if isinstance(exc, (OperationalError, InterfaceError)):
        url = mask_url(os.environ.get("DATABASE_URL", ""))
        return (f"PostgreSQL est injoignable ({url or 'DATABASE_URL non définie'}) : vérifiez "
                "que le serveur tourne et DATABASE_URL.")
    if isinstance(exc, DBAPIError) and isinstance(exc.orig, pg_errors.UndefinedTable):
        return "la base de données n'est pas à jour : lancez « validateur db upgrade »."
    if isinstance(exc, (RedisError, QueueUnavailable)):
        url = mask_url(os.environ.get("REDIS_URL", ""))
        return f"Redis est injoignable ({url}) : vérifiez que le serveur tourne et REDIS_URL."
    if isinstance(exc, OSError):
        where = f" : {exc.filename}" if exc.filename else ""
        return f"accès impossible{where} ({exc.strerror or type(exc).__name__})."
    return (f"erreur inattendue ({type(exc).__name__}) ; relancez avec VALIDATEUR_DEBUG=1 "
            "pour voir la trace.")


class ExistingFile(click.ParamType[Path, Any]):
    """A readable file given on the command line, refused in French."""

    name = "fichier"

    def convert(self, value: Any, param: click.Parameter | None,
                ctx: click.Context | None) -> Path:
        path = Path(value)
        if not path.exists():
            self.fail(f"fichier introuvable : {value}.", param, ctx)
        if not path.is_file():
            self.fail(f"{value} n'est pas un fichier.", param, ctx)
        if not os.access(path, os.R_OK):
            self.fail(f"fichier illisible (droits) : {value}.", param, ctx)
        return path


FILE = ExistingFile()


def _cli_app() -> Any:
    """The app of a command: from the environment, or from the running dev stack."""
    from validateur.dev import apply_stack_environment

    apply_stack_environment()
    return create_app()


@click.group(cls=ValidateurGroup, create_app=_cli_app, add_default_commands=True,
             load_dotenv=False)
@click.pass_context
def main(ctx: click.Context) -> None:
    """Validateur : validation des fichiers de facturation RAMQ.

    Sans DATABASE_URL ni REDIS_URL, les commandes utilisent la pile de « validateur dev » en
    cours dans ce dossier.
    """
    if ctx.invoked_subcommand not in SERVICE_COMMANDS:
        # A command's own lines only; the service commands keep the processes' INFO logs.
        logging.basicConfig(level=logging.ERROR, format="%(levelname)s %(name)s %(message)s")


_FLASK_OPTION_HELP = {
    "env_file": "Charger les variables d'environnement de ce fichier.",
    "app": "Application Flask à charger (inutile ici).",
    "debug": "Mode débogage de Flask.",
    "version": "Afficher les versions de Python et de Flask.",
}
for _param in main.params:
    if isinstance(_param, click.Option) and _param.name in _FLASK_OPTION_HELP:
        _param.help = _FLASK_OPTION_HELP[_param.name]


# -- services -------------------------------------------------------------------------------
@main.command("dev", with_appcontext=False)
@click.option("--workers", default=2, show_default=True, type=click.IntRange(1, 16),
              help="Nombre de workers RQ.")
@click.option("--port", default=5000, show_default=True, type=click.IntRange(1, 65535),
              help="Port du serveur web.")
def dev_command(workers: int, port: int) -> None:
    """Tout lancer en local : PostgreSQL et Redis intégrés, web et workers."""
    from validateur.dev import DevStack

    sys.exit(DevStack(workers=workers, port=port).run())


@main.command("worker")
@click.option("--burst", is_flag=True, help="Traiter la file puis s'arrêter.")
@click.option("--queues", default="",
              help="Files écoutées, dans l'ordre, séparées par des virgules "
                   "(par défaut : <file>-priority puis <file>).")
def worker_command(burst: bool, queues: str) -> None:
    """Un processus worker RQ (avec le planificateur), l'application préchargée."""
    from jobs.worker import run_worker

    names = [name.strip() for name in queues.split(",") if name.strip()]
    run_worker(current_app._get_current_object(), burst=burst,  # type: ignore[attr-defined]
               queues=names or None)


# -- users ----------------------------------------------------------------------------------
@main.group("users", cls=FrenchAppGroup)
def users_group() -> None:
    """Gestion des utilisateurs."""


def _checked_email(email: str) -> str:
    email = email.strip()
    if not EMAIL.match(email):
        raise CommandError(f"adresse courriel invalide : « {email} ».")
    return email


def _checked_password(password: str) -> str:
    if len(password) < MIN_PASSWORD_LENGTH:
        raise CommandError(f"le mot de passe doit compter au moins {MIN_PASSWORD_LENGTH} "
                           f"caractères (il en a {len(password)}).")
    return password


def _organization_or_fail(name: str) -> Any:
    try:
        return organizations.get(name)
    except organizations.PeopleRefused as exc:
        raise CommandError(f"{exc.message[:-1]} (voir « validateur orgs list »).") from None


def _refused(exc: Exception) -> CommandError:
    """A rule's refusal (`organizations.PeopleRefused`) as the command's one-line error."""
    message = str(exc)
    return CommandError(message[:1].lower() + message[1:])


def _describe(user: Any) -> str:
    """« agent@… (éditeur, organisation Clinique A) », as the user commands print it."""
    where = (f", organisation {user.organization.name}" if user.organization is not None
             else ", aucune organisation")
    state = "" if user.active else ", désactivé"
    return f"{user.email} ({labels.label(labels.ROLE, user.role)}{where}{state})"


@users_group.command("create")
@click.argument("email")
@click.option("--role", type=ROLE_CHOICE, required=True, help="Rôle de l'utilisateur.")
@click.option("--org", "org_name", default=None,
              help="Organisation existante ; sans elle, une organisation nommée d'après le "
                   "courriel est créée (aucune pour un administrateur).")
@click.option("--password", default=None,
              help=f"Mot de passe (au moins {MIN_PASSWORD_LENGTH} caractères) ; généré et "
                   "affiché s'il est omis.")
def users_create(email: str, role: str, org_name: str | None, password: str | None) -> None:
    """Créer un utilisateur (EMAIL : son adresse courriel)."""
    from validateur import auth

    email = _checked_email(email)
    if password is not None:
        _checked_password(password)
    if auth.find_user(email):
        raise CommandError(f"l'utilisateur {email} existe déjà.")
    organization = _organization_or_fail(org_name) if org_name else None
    try:
        user, secret = auth.create_user(email, Role(role), password, organization)
    except organizations.PeopleRefused as exc:
        raise _refused(exc) from None
    where = f" dans l'organisation {user.organization.name}" if user.organization else ""
    click.echo(f"Utilisateur créé : {user.email} ({labels.label(labels.ROLE, user.role)})"
               f"{where}")
    if password is None:
        click.echo(f"Mot de passe : {secret}")


@users_group.command("list")
@click.option("--org", "org_name", default=None, help="Seulement les membres de cette "
              "organisation.")
def users_list(org_name: str | None) -> None:
    """Lister les utilisateurs : courriel, organisation, rôle, état."""
    from sqlalchemy import select

    from validateur.extensions import db
    from validateur.models import User

    query = select(User).order_by(User.email)
    if org_name:
        query = query.where(User.organization_id == _organization_or_fail(org_name).id)
    users = db.session.execute(query).scalars().all()
    if not users:
        click.echo("Aucun utilisateur.")
    for user in users:
        organization = user.organization.name if user.organization else "—"
        click.echo(f"{user.email}\t{organization}\t{labels.label(labels.ROLE, user.role)}"
                   f"\t{'actif' if user.active else 'désactivé'}")


@users_group.command("set")
@click.argument("email")
@click.option("--role", type=ROLE_CHOICE, default=None, help="Nouveau rôle.")
@click.option("--org", "org_name", default=None, help="Nouvelle organisation (existante).")
@click.option("--password", default=None,
              help=f"Nouveau mot de passe (au moins {MIN_PASSWORD_LENGTH} caractères).")
@click.option("--disable/--enable", "disable", default=None,
              help="Désactiver le compte (ses sessions et ses jetons cessent aussitôt) ou le "
                   "réactiver.")
def users_set(email: str, role: str | None, org_name: str | None, password: str | None,
              disable: bool | None) -> None:
    """Modifier un utilisateur (EMAIL : son adresse courriel)."""
    from validateur import auth
    from validateur.extensions import db

    if role is None and org_name is None and password is None and disable is None:
        raise CommandError("rien à changer : donnez --role, --org, --password, --disable ou "
                           "--enable.")
    if password is not None:
        _checked_password(password)
    user = _user_or_fail(email)
    organization = _organization_or_fail(org_name) if org_name else None
    try:
        if role is not None or organization is not None:
            organizations.place(user, Role(role or user.role), organization)
    except organizations.PeopleRefused as exc:
        db.session.rollback()
        raise _refused(exc) from None
    if password is not None:
        auth.set_password(user, password)
    if disable is not None:
        user.active = not disable
    db.session.commit()
    click.echo(f"Utilisateur modifié : {_describe(user)}")


@users_group.command("dev-admin", hidden=True)
@click.argument("email")
@click.option("--credentials", type=click.Path(dir_okay=False, path_type=Path), required=True)
def users_dev_admin(email: str, credentials: Path) -> None:
    """The development admin and its API token, made once and reused while they work.

    They live in `credentials` (mode 0600). At each start they are checked: the account
    exists, is active and an admin, the password matches, the token is live for it; whatever
    fails is remade (a reset password, a new token) and the file rewritten.
    """
    import json
    import secrets

    from werkzeug.security import generate_password_hash

    from validateur import auth
    from validateur.dev import write_private
    from validateur.extensions import db

    saved: dict[str, str] = {}
    if credentials.exists():
        try:
            saved = dict(json.loads(credentials.read_text()))
        except ValueError:
            saved = {}
    password, token = saved.get("password", ""), saved.get("token", "")
    user = auth.find_user(email)
    if user is None:
        password = secrets.token_urlsafe(12)
        user, _ = auth.create_user(email, Role.ADMIN, password)
    reused = bool(password) and auth.check_password(user, password)
    if not (reused and user.is_active and user.role == Role.ADMIN):
        password = password if reused else secrets.token_urlsafe(12)
        user.password_hash = generate_password_hash(password)
        user.active = True
        organizations.place(user, Role.ADMIN)  # an admin belongs to no organization
        db.session.commit()
    live = auth.user_for_token(token) if token else None
    if live is None or live.id != user.id:
        token, reused = auth.create_token(user), False
    if saved != {"email": user.email, "password": password, "token": token}:
        write_private(credentials, json.dumps(
            {"email": user.email, "password": password, "token": token}, indent=2) + "\n")
    click.echo(f"Compte admin de développement : {user.email} / {password}")
    click.echo(f"Jeton d'API de développement : {token}")
    click.echo(f"({'repris de' if reused else 'enregistrés dans'} {credentials})")


# -- organizations --------------------------------------------------------------------------
@main.group("orgs", cls=FrenchAppGroup)
def orgs_group() -> None:
    """Gestion des organisations (cliniques, agences de facturation)."""


PLAN_CHOICE = click.Choice([p.value for p in Plan])
MAX_PARALLEL_HELP = "Validations de l'organisation traitées en même temps, au plus."


def _describe_organization(organization: Any) -> str:
    state = "" if organization.active else ", désactivée"
    parallel = _count(organization.max_parallel, "validation simultanée",
                      "validations simultanées")
    return (f"{organization.name} (forfait {labels.label(labels.PLAN, organization.plan)}, "
            f"{parallel}{state})")


@orgs_group.command("create")
@click.argument("name")
@click.option("--plan", type=PLAN_CHOICE, default=Plan.STANDARD.value, show_default=True,
              help="Forfait : les validations « priority » passent avant les autres.")
@click.option("--max-parallel", type=int, default=DEFAULT_MAX_PARALLEL, show_default=True,
              help=MAX_PARALLEL_HELP)
def orgs_create(name: str, plan: str, max_parallel: int) -> None:
    """Créer une organisation (NAME : son nom)."""
    from validateur.extensions import db

    try:
        organization = organizations.create(name, Plan(plan), max_parallel)
    except organizations.PeopleRefused as exc:
        db.session.rollback()
        raise _refused(exc) from None
    db.session.commit()
    click.echo(f"Organisation créée : {_describe_organization(organization)}")


@orgs_group.command("list")
def orgs_list() -> None:
    """Lister les organisations : nom, forfait, validations simultanées, membres, état."""
    found = organizations.all_organizations()
    counts = organizations.member_counts()
    if not found:
        click.echo("Aucune organisation.")
    for organization in found:
        click.echo(f"{organization.name}\t{labels.label(labels.PLAN, organization.plan)}"
                   f"\t{organization.max_parallel} à la fois"
                   f"\t{_count(counts.get(organization.id, 0), 'membre', 'membres')}"
                   f"\t{'active' if organization.active else 'désactivée'}")


@orgs_group.command("set")
@click.argument("name")
@click.option("--plan", type=PLAN_CHOICE, default=None, help="Nouveau forfait.")
@click.option("--max-parallel", type=int, default=None, help=MAX_PARALLEL_HELP)
@click.option("--disable/--enable", "disable", default=None,
              help="Désactiver l'organisation (ses membres ne peuvent plus se connecter) ou "
                   "la réactiver.")
def orgs_set(name: str, plan: str | None, max_parallel: int | None,
             disable: bool | None) -> None:
    """Modifier une organisation (NAME : son nom)."""
    from validateur.extensions import db

    if plan is None and max_parallel is None and disable is None:
        raise CommandError("rien à changer : donnez --plan, --max-parallel, --disable ou "
                           "--enable.")
    organization = _organization_or_fail(name)
    try:
        organizations.update(organization, plan=Plan(plan) if plan else None,
                             max_parallel=max_parallel,
                             active=None if disable is None else not disable)
    except organizations.PeopleRefused as exc:
        db.session.rollback()
        raise _refused(exc) from None
    click.echo(f"Organisation modifiée : {_describe_organization(organization)}")


# -- tokens ---------------------------------------------------------------------------------
@main.group("tokens", cls=FrenchAppGroup)
def tokens_group() -> None:
    """Jetons d'API."""


class AmbiguousReference(ValidateurError):
    """Several live tokens share the prefix given."""


def _token_by_reference(reference: str) -> Any:
    """The live token a reference names: its number, its printed prefix (`vld_` and 8
    characters) or the whole token. (Token queries by reference; `auth` owns the others.)"""
    from sqlalchemy import select

    from validateur import auth
    from validateur.extensions import db
    from validateur.models import ApiToken

    reference = reference.strip()
    live = select(ApiToken).where(ApiToken.revoked_at.is_(None))
    if reference.isdigit():
        return db.session.execute(live.where(ApiToken.id == int(reference))).scalar_one_or_none()
    if not reference.startswith(auth.TOKEN_PREFIX):
        return None
    if len(reference) > PREFIX_LENGTH:
        return db.session.execute(
            live.where(ApiToken.token_hash == auth.hash_token(reference))).scalar_one_or_none()
    rows = db.session.execute(live.where(ApiToken.prefix == reference)).scalars().all()
    if len(rows) > 1:
        raise AmbiguousReference(reference)
    return rows[0] if rows else None


def _user_or_fail(email: str) -> Any:
    from validateur import auth

    user = auth.find_user(email)
    if user is None:
        raise CommandError(f"utilisateur inconnu : {email}.")
    return user


@tokens_group.command("create")
@click.argument("email")
def tokens_create(email: str) -> None:
    """Créer un jeton d'API pour l'utilisateur EMAIL (affiché une seule fois)."""
    from validateur import auth

    user = _user_or_fail(email)
    token = auth.create_token(user)
    row = _token_by_reference(token)
    click.echo(token)  # alone on stdout, for scripts: TOKEN=$(validateur tokens create …)
    if row is not None:
        click.echo(f"Jeton n° {row.id} (préfixe {row.prefix}) : il ne sera plus affiché. "
                   f"Pour le révoquer : validateur tokens revoke {row.prefix}", err=True)


@tokens_group.command("list")
@click.option("--user", "email", default=None, help="Seulement les jetons de ce compte.")
def tokens_list(email: str | None) -> None:
    """Lister les jetons (numéro, préfixe, compte, état), jamais les jetons eux-mêmes."""
    from sqlalchemy import select

    from validateur.extensions import db
    from validateur.formatting import iso_date
    from validateur.models import ApiToken, User

    query = select(ApiToken, User.email).join(User, User.id == ApiToken.user_id)
    if email:
        query = query.where(ApiToken.user_id == _user_or_fail(email).id)
    rows = db.session.execute(query.order_by(ApiToken.id)).tuples().all()
    if not rows:
        click.echo("Aucun jeton.")
    for row, owner in rows:
        state = (f"révoqué le {iso_date(row.revoked_at.date())}" if row.revoked_at
                 else "actif")
        used = iso_date(row.last_used_at.date()) if row.last_used_at else "jamais"
        click.echo(f"{row.id}\t{row.prefix}\t{owner}\tcréé le {iso_date(row.created_at.date())}"
                   f"\tdernière utilisation : {used}\t{state}")


@tokens_group.command("revoke")
@click.argument("reference", required=False)
@click.option("--user", "email", default=None, help="Révoquer tous les jetons de ce compte.")
def tokens_revoke(reference: str | None, email: str | None) -> None:
    """Révoquer un jeton, désigné par son préfixe (vld_…) ou son numéro (voir « tokens
    list »), ou lu sur l'entrée standard avec « - » ; ou tous ceux d'un compte (--user)."""
    from sqlalchemy import func

    from validateur import auth
    from validateur.extensions import db

    if email and reference:
        raise CommandError("donnez un jeton ou --user, pas les deux.")
    if email:
        count = auth.revoke_user_tokens(_user_or_fail(email))
        click.echo(f"{count} {_plural(count, 'jeton révoqué', 'jetons révoqués')}.")
        return
    if not reference:
        raise CommandError("donnez le préfixe ou le numéro du jeton (voir « validateur tokens "
                           "list »), « - » pour le lire sur l'entrée standard, ou --user.")
    if reference == "-":
        reference = sys.stdin.readline().strip()
    try:
        row = _token_by_reference(reference)
    except AmbiguousReference:
        raise CommandError("plusieurs jetons actifs ont ce préfixe : donnez son numéro "
                           "(voir « validateur tokens list »).") from None
    if row is None:
        raise CommandError("aucun jeton actif ne correspond.")
    row.revoked_at = func.now()
    db.session.commit()
    click.echo(f"Jeton n° {row.id} ({row.prefix}) révoqué.")


def _plural(count: int, one: str, many: str) -> str:
    """French: 0 and 1 take the singular."""
    return one if count < 2 else many


# -- validations ----------------------------------------------------------------------------
@main.command("validate")
@click.argument("file", type=FILE)
@click.option("--wait", is_flag=True, help="Attendre la fin avec une barre de progression.")
@click.option("--user", "email", default=None, help="Propriétaire de la validation (courriel).")
def validate_command(file: Path, wait: bool, email: str | None) -> None:
    """Mettre un fichier en file d'attente comme un téléversement."""
    from validateur.uploads import UploadRejected, accept_local_file

    if not current_app.config["REDIS_URL"]:
        raise CommandError("configuration : REDIS_URL n'est pas définie ; sans Redis, la "
                           "validation ne peut pas être mise en file d'attente (exportez "
                           "REDIS_URL ou lancez « validateur dev »).")
    user = _user_or_fail(email) if email else None
    try:
        run = accept_local_file(file, user.id if user else None)
    except UploadRejected as exc:
        raise CommandError(exc.message) from None
    click.echo(f"Validation {run.id} en file d'attente (tâche {run.job_id})")
    if wait:
        try:
            sys.exit(_wait_for(run.id))
        except KeyboardInterrupt:
            _fail(f"attente interrompue ; la validation {run.id} continue en arrière-plan.", 130)


def _wait_for(run_id: int) -> int:
    from validateur.extensions import db

    with click.progressbar(length=100, label="Validation") as bar:
        shown = 0
        while True:
            db.session.expire_all()
            run = db.session.get(ValidationRun, run_id)
            if run is None:
                raise CommandError(f"la validation {run_id} a été supprimée.")
            bar.update(max(run.progress - shown, 0))
            shown = max(shown, run.progress)
            if run.run_status.is_final:
                break
            time.sleep(0.5)
    click.echo(summary(run))
    return 0 if run.status == RunStatus.COMPLETED else 1


def _count(count: int, one: str, many: str) -> str:
    from validateur.formatting import integer

    return f"{integer(count)} {_plural(count, one, many)}"


def summary(run: ValidationRun) -> str:
    """One French line: the run's status label, then its counts and gain when completed."""
    from validateur import labels
    from validateur.formatting import money

    status = labels.label(labels.STATUS, run.status)
    if run.status != RunStatus.COMPLETED:
        detail = f" : {run.error_message}" if run.error_message else ""
        return f"Validation {run.id} — {status.lower()}{detail}"
    parts: Iterable[str] = (
        _count(run.total_rows or 0, "ligne", "lignes"),
        _count(run.error_count or 0, "erreur", "erreurs"),
        _count(run.warning_count or 0, "avertissement", "avertissements"),
        _count(run.optimization_count or 0, "optimisation", "optimisations"),
        f"gain potentiel {money(run.potential_gain or 0)}",
    )
    return f"Validation {run.id} {status.lower()} : {', '.join(parts)}"


@main.command("check-redis", with_appcontext=False)
def check_redis_command() -> None:
    """Vérifier Redis : PING, aller-retour SET/GET, version du serveur (REDIS_URL seule)."""
    from validateur.dev import apply_stack_environment
    from validateur.queue import check_redis

    apply_stack_environment()
    url = os.environ.get("REDIS_URL", "")
    if not url:
        raise CommandError("configuration : REDIS_URL n'est pas définie.")
    ok, lines = check_redis(url)
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
@click.argument("file", type=FILE)
def import_codes_command(file: Path) -> None:
    """Charger la table des codes RAMQ (CSV en UTF-8 ou Windows-1252 ; idempotent)."""
    from validateur import reference

    try:
        count = reference.import_codes(file)
    except reference.ReferenceFileError as exc:
        raise CommandError(str(exc)) from None
    click.echo(f"{_count(count, 'code (code, lieu) chargé', 'codes (code, lieu) chargés')}.")


@main.command("import-gmf")
@click.argument("file", type=FILE)
def import_gmf_command(file: Path) -> None:
    """Charger les numéros d'établissements GMF (un par ligne ou colonne CSV)."""
    from validateur import reference

    try:
        count = reference.import_gmf(file)
    except reference.ReferenceFileError as exc:
        raise CommandError(str(exc)) from None
    click.echo(f"{_count(count, 'établissement GMF chargé', 'établissements GMF chargés')}.")
