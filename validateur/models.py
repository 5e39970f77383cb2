"""Database models; table and column names are a contract (docs/architecture.md § The database).

`billing_rows` (read through the view `billing_records`) and `run_practices` are written with
PostgreSQL COPY by the job, never through the ORM; they have no foreign key on purpose (a
per-row FK trigger would double the cost of COPY on a million rows): `runs.finish()` (a
cancel) and `runs.delete_run()` remove a run's rows explicitly.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, date, datetime
from decimal import Decimal
from enum import StrEnum
from typing import Any, TypeVar

from flask_login import UserMixin
from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    Numeric,
    SmallInteger,
    String,
    Text,
    TypeDecorator,
    case,
    event,
    select,
)
from sqlalchemy.dialects.postgresql import ARRAY, JSON, JSONB
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Mapped, column_property, mapped_column, relationship
from sqlalchemy.orm.base import NEVER_SET, NO_VALUE

from validateur.extensions import db
from validateur.validation.findings import Severity

#: Money that sums billed amounts (finding impacts, run totals). A row's amount is below
#: 10⁹ $ (`validation.cells.MAX_AMOUNT`), so 22 integer digits hold any file's total.
MONEY_TOTAL = Numeric(24, 2)


def utcnow() -> datetime:
    return datetime.now(UTC)


E = TypeVar("E", bound=StrEnum)


class EnumString(TypeDecorator[E]):
    """A VARCHAR column that stores an enum's value and loads the enum member.

    The database keeps plain strings (no PostgreSQL enum type, so no migration and no
    `ALTER TYPE` to add a member); Python code sees members, and a query may compare with a
    member or its value alike. A value outside the enum is refused on the way in.
    """

    impl = String
    cache_ok = True

    def __init__(self, enum: type[E], length: int) -> None:
        super().__init__(length)
        self.enum = enum

    def process_bind_param(self, value: E | str | None, dialect: Dialect) -> str | None:
        return None if value is None else self.enum(value).value

    def process_result_value(self, value: str | None, dialect: Dialect) -> E | None:
        return None if value is None else self.enum(value)


class RunStatus(StrEnum):
    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self in (RunStatus.COMPLETED, RunStatus.FAILED, RunStatus.CANCELLED)


class Phase(StrEnum):
    QUEUED = "queued"
    PARSING = "parsing"
    VALIDATING = "validating"
    SAVING = "saving"
    DONE = "done"


class FailureCategory(StrEnum):
    """Why a run failed, as the run page groups it (labels: `labels.CATEGORY`).

    The first two are input problems (the file itself; never retried); the others are ours.
    """

    UNREADABLE_FILE = "unreadable-file"
    MISSING_COLUMNS = "missing-columns"
    FILE_MISSING = "file-missing"
    INTERRUPTED = "interrupted"
    TECHNICAL = "technical"


class Role(StrEnum):
    """What a person may do, each role including the ones before it (`at_least`)."""

    VIEWER = "viewer"
    EDITOR = "editor"
    MANAGER = "manager"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        return list(Role).index(self)

    def at_least(self, other: Role) -> bool:
        return self.rank >= other.rank


class NotifyEmail(StrEnum):
    """When a person wants an e-mail at the end of their runs (`notifications`)."""

    NEVER = "never"
    FAILURES = "failures"
    ALWAYS = "always"


class Plan(StrEnum):
    """An organization's plan: `priority` runs are taken before `standard` ones."""

    STANDARD = "standard"
    PRIORITY = "priority"


#: How many runs of one organization may be processing at once, unless set otherwise.
DEFAULT_MAX_PARALLEL = 2


class Organization(db.Model):  # type: ignore[name-defined,misc]
    """A clinic or a billing agency: its members share its runs (`organizations.visible_to`)."""

    __tablename__ = "organizations"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    #: Up to an e-mail's length: an organization made for one user is named after its e-mail.
    name: Mapped[str] = mapped_column(String(320), unique=True)
    plan: Mapped[Plan] = mapped_column(EnumString(Plan, 16), default=Plan.STANDARD,
                                       server_default=Plan.STANDARD.value)
    max_parallel: Mapped[int] = mapped_column(Integer, default=DEFAULT_MAX_PARALLEL,
                                              server_default=str(DEFAULT_MAX_PARALLEL))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class User(UserMixin, db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "users"
    #: Every person but the operators works for one organization; admins belong to none.
    __table_args__ = (CheckConstraint("(role = 'admin') = (organization_id IS NULL)",
                                      name="ck_users_organization_by_role"),)

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    email: Mapped[str] = mapped_column(String(320), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    role: Mapped[Role] = mapped_column(EnumString(Role, 16), default=Role.VIEWER)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id"), index=True)
    active: Mapped[bool] = mapped_column(Boolean, default=True)
    #: Browser sessions carry the version they were opened under; bumping it ends them all
    #: (logout, password change, disable: see `_end_sessions_on_change`).
    session_version: Mapped[int] = mapped_column(Integer, default=1, server_default="1")
    #: When the end of one's own runs is e-mailed (`notifications.record_run_end`).
    notify_email: Mapped[NotifyEmail] = mapped_column(
        EnumString(NotifyEmail, 16), default=NotifyEmail.NEVER,
        server_default=NotifyEmail.NEVER.value)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    #: Loaded with the user (one join): every request reads it to decide what may be seen.
    organization: Mapped[Organization | None] = relationship(lazy="joined")

    def end_sessions(self) -> None:
        """Every browser session of this user stops at its next request."""
        self.session_version = (self.session_version or 0) + 1

    @property
    def is_active(self) -> bool:
        """An account works while it and its organization are both active."""
        return self.active and (self.organization is None or self.organization.active)

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN

    @property
    def can_upload(self) -> bool:
        """Editors, managers and admins upload, cancel and delete runs."""
        return Role(self.role).at_least(Role.EDITOR)

    @property
    def is_manager(self) -> bool:
        """Managers manage their organization's members (« Mon organisation »)."""
        return self.role == Role.MANAGER


@event.listens_for(User.password_hash, "set")
@event.listens_for(User.active, "set")
def _end_sessions_on_change(target: User, value: Any, oldvalue: Any, _initiator: Any) -> None:
    """A new password or a disabled account ends the user's sessions, whoever changes it.

    Hooked on the attributes so every path (CLI, admin page, tests) keeps the promise
    without having to remember a second call.
    """
    if value != oldvalue and oldvalue not in (NO_VALUE, NEVER_SET):
        target.end_sessions()


class ApiToken(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "api_tokens"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    prefix: Mapped[str] = mapped_column(String(12))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    last_used_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class BatchStatus(StrEnum):
    """A batch's status: open ones are read from its runs, final ones are stored once."""

    QUEUED = "queued"
    PROCESSING = "processing"
    COMPLETED = "completed"
    PARTIAL = "partial"
    FAILED = "failed"
    CANCELLED = "cancelled"

    @property
    def is_final(self) -> bool:
        return self not in (BatchStatus.QUEUED, BatchStatus.PROCESSING)


class Batch(db.Model):  # type: ignore[name-defined,misc]
    """Several files submitted together: each is an ordinary run pointing here (`batch_id`).

    While its runs are open the status is read from them (`batches.open_status`), so a run
    starting writes nothing here; `final_status` and `finished_at` are written once, by
    `batches.settle` inside the `runs.finish` transaction that makes the last run final,
    and never change afterwards (not even when a run is later deleted).
    """

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"),
                                                        index=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"),
                                                index=True)
    final_status: Mapped[BatchStatus | None] = mapped_column(EnumString(BatchStatus, 16))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class ValidationRun(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "validation_runs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    #: The uploader's organization at submit time: its members see the run. None only for
    #: runs of an admin or of the command line without `--user` (admins see those).
    organization_id: Mapped[int | None] = mapped_column(ForeignKey("organizations.id"),
                                                        index=True)
    #: The batch it was submitted with, if any (`batches`).
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id", ondelete="SET NULL"),
                                                 index=True)
    status: Mapped[RunStatus] = mapped_column(EnumString(RunStatus, 16), default=RunStatus.QUEUED,
                                              index=True)
    #: The RQ queue of every attempt of the run (`<queue>-priority` for a `priority`
    #: organization at submit time, else `<queue>`): a retry or a re-queue keeps it.
    queue: Mapped[str | None] = mapped_column(String(100))
    phase: Mapped[Phase] = mapped_column(EnumString(Phase, 16), default=Phase.QUEUED)
    progress: Mapped[int] = mapped_column(Integer, default=0)
    job_id: Mapped[str | None] = mapped_column(String(64))
    error_message: Mapped[str | None] = mapped_column(Text)
    error_category: Mapped[FailureCategory | None] = mapped_column(
        EnumString(FailureCategory, 32))
    file_name: Mapped[str] = mapped_column(String(255))
    stored_name: Mapped[str | None] = mapped_column(String(64))
    file_size: Mapped[int] = mapped_column(BigInteger, default=0)
    encoding: Mapped[str | None] = mapped_column(String(16))
    delimiter: Mapped[str | None] = mapped_column(String(4))
    total_rows: Mapped[int] = mapped_column(Integer, default=0)
    processed_rows: Mapped[int] = mapped_column(Integer, default=0)
    error_count: Mapped[int] = mapped_column(Integer, default=0)
    warning_count: Mapped[int] = mapped_column(Integer, default=0)
    optimization_count: Mapped[int] = mapped_column(Integer, default=0)
    info_count: Mapped[int] = mapped_column(Integer, default=0)
    #: Sums of finding impacts: wider than an amount (`MONEY_TOTAL`).
    potential_gain: Mapped[Decimal] = mapped_column(MONEY_TOTAL, default=Decimal("0"))
    money_at_risk: Mapped[Decimal] = mapped_column(MONEY_TOTAL, default=Decimal("0"))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    cancel_requested: Mapped[bool] = mapped_column(Boolean, default=False)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    finished_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    heartbeat_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))

    @property
    def run_status(self) -> RunStatus:
        """The status as a member even before a reload (an attribute may be set to a string)."""
        return RunStatus(self.status)

    @property
    def counts(self) -> dict[Severity, int]:
        """Findings per severity, most urgent first."""
        return {severity: getattr(self, count_column(severity)) or 0 for severity in Severity}


def count_column(severity: Severity) -> str:
    """The run's column counting findings of `severity` (`error_count`, …)."""
    return f"{severity}_count"


def count_values(counts: Mapping[str, int]) -> dict[str, Any]:
    """Counts per severity as the run's column values (`error_count=…`), for an UPDATE."""
    return {count_column(severity): counts.get(severity, 0) for severity in Severity}


class Webhook(db.Model):  # type: ignore[name-defined,misc]
    """An organization's endpoint for signed event deliveries (Standard Webhooks).

    The secret is kept as given to the manager once (`whsec_…`): signing needs it whole, so
    it cannot be stored as a hash. A 410 from the endpoint turns `active` off.
    """

    __tablename__ = "webhooks"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    organization_id: Mapped[int] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    url: Mapped[str] = mapped_column(String(2048))
    events: Mapped[list[str]] = mapped_column(ARRAY(String(32)), default=list)
    secret: Mapped[str] = mapped_column(String(128))
    active: Mapped[bool] = mapped_column(Boolean, default=True, server_default="true")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)


class NotificationState(StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    FAILED = "failed"


class Notification(db.Model):  # type: ignore[name-defined,misc]
    """The outbox: one row per event per target (a webhook endpoint or a person's e-mail),
    written in the transaction that made the event true (`runs.finish`).

    Subject ids carry no foreign key on purpose: deleting a run right after it ended must
    not take the news of its end with it. `dedupe_key` (event, subject, target) makes a
    second write of the same event a no-op. The payload holds ids, statuses, counts,
    amounts and a link only. `message_id` is the `webhook-id`, the same on every retry.
    """

    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint("(webhook_id IS NULL) <> (user_id IS NULL)",
                        name="ck_notifications_one_target"),
        Index("ix_notifications_due", "state", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    event: Mapped[str] = mapped_column(String(32))
    validation_run_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    batch_id: Mapped[int | None] = mapped_column(BigInteger, index=True)
    organization_id: Mapped[int | None] = mapped_column(
        ForeignKey("organizations.id", ondelete="CASCADE"), index=True)
    webhook_id: Mapped[int | None] = mapped_column(
        ForeignKey("webhooks.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True)
    dedupe_key: Mapped[str] = mapped_column(String(160), unique=True)
    message_id: Mapped[str] = mapped_column(String(64), unique=True)
    payload: Mapped[dict[str, Any]] = mapped_column(JSONB)
    state: Mapped[NotificationState] = mapped_column(
        EnumString(NotificationState, 16), default=NotificationState.PENDING,
        server_default=NotificationState.PENDING.value)
    attempts: Mapped[int] = mapped_column(Integer, default=0, server_default="0")
    next_attempt_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))
    last_status_code: Mapped[int | None] = mapped_column(Integer)
    #: Why the last attempt failed, as a class name or a French phrase: never a body.
    last_error: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    delivered_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True))


class RunPractice(db.Model):  # type: ignore[name-defined,misc]
    """A run's distinct (`Doctor Info`, `Lieu de pratique`, `Secteur d'activité`) texts,
    numbered in the order the file first shows them. Written with the rows, in their
    transaction, and removed with them (no foreign key, like `billing_rows`)."""

    __tablename__ = "run_practices"

    validation_run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    number: Mapped[int] = mapped_column(Integer, primary_key=True)
    doctor_info: Mapped[str] = mapped_column(Text)
    lieu_pratique: Mapped[str] = mapped_column(Text)
    secteur_activite: Mapped[str] = mapped_column(Text)


def _practice_text(run: Any, practice: Any, inline: Any, text: Any) -> Any:
    """A practice text of a row as the view `billing_records` reads it: its `run_practices`
    text when the row has a number, else the row's own (`inline`)."""
    return column_property(case(
        (practice.is_(None), inline),
        else_=select(text).where(
            RunPractice.validation_run_id == run, RunPractice.number == practice
        ).scalar_subquery(),
    ))


#: The BRIN index of the invoice search, and its block ranges' size (PostgreSQL's default).
INVOICE_INDEX = "ix_billing_records_run_invoice"
INVOICE_PAGES_PER_RANGE = 128


class BillingRecord(db.Model):  # type: ignore[name-defined,misc]
    """One stored data row, in the table `billing_rows`; operators read `billing_records`,
    a view of the same rows with the contract's columns (docs/architecture.md § The database).

    `practice` numbers the row's (`Doctor Info`, `Lieu de pratique`, `Secteur d'activité`)
    texts in `run_practices`: a run has a few hundred for a million rows, and the three texts
    (about 70 bytes) were a third of a stored row. When `practice` is NULL the texts are in
    the row's own columns (rows stored before the numbering, and the rows of a run with more
    distinct practices than the job numbers). The run id is a 4-byte integer here (the
    primary key's entries are a third smaller; 2³¹ runs), and the primary key is packed
    full (`fillfactor` 100 in the migration: rows are appended, never updated).
    """

    __tablename__ = "billing_rows"
    __table_args__ = (
        # The calendar reads one month of a run; the run page's search one invoice, through
        # a BRIN index (exports list an invoice's lines together, in invoice order; another
        # order only makes the search read more of the run). Ranges are summarized as they
        # fill (`autosummarize`) and a deleted run's are forgotten (`runs.py`), so stale
        # bounds never widen the ranges that later runs reuse.
        Index("ix_billing_records_run_date", "validation_run_id", "date_service"),
        Index(INVOICE_INDEX, "validation_run_id", "facture", postgresql_using="brin",
              postgresql_with={"autosummarize": "on"}),
    )

    validation_run_id: Mapped[int] = mapped_column(Integer, primary_key=True)
    row_number: Mapped[int] = mapped_column(Integer, primary_key=True)
    practice: Mapped[int | None] = mapped_column(Integer)
    facture: Mapped[str | None] = mapped_column(Text)
    id_ramq: Mapped[str | None] = mapped_column(Text)
    date_service: Mapped[date | None] = mapped_column(Date)
    debut: Mapped[str | None] = mapped_column(Text)
    fin: Mapped[str | None] = mapped_column(Text)
    periode: Mapped[str | None] = mapped_column(Text)
    #: The row's own columns `lieu_pratique`, `secteur_activite` and `doctor_info`: their
    #: texts only when `practice` is NULL (the attributes without `_text` read either way).
    lieu_text: Mapped[str | None] = mapped_column("lieu_pratique", Text)
    secteur_text: Mapped[str | None] = mapped_column("secteur_activite", Text)
    diagnostic: Mapped[str | None] = mapped_column(Text)
    code: Mapped[str | None] = mapped_column(Text)
    unites: Mapped[str | None] = mapped_column(Text)
    role: Mapped[str | None] = mapped_column(Text)
    element_contexte: Mapped[str | None] = mapped_column(Text)
    montant_preliminaire: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    montant_paye: Mapped[Decimal | None] = mapped_column(Numeric(14, 2))
    doctor_text: Mapped[str | None] = mapped_column("doctor_info", Text)
    patient: Mapped[str | None] = mapped_column(Text)

    lieu_pratique: Mapped[str | None] = _practice_text(
        validation_run_id, practice, lieu_text, RunPractice.lieu_pratique)
    secteur_activite: Mapped[str | None] = _practice_text(
        validation_run_id, practice, secteur_text, RunPractice.secteur_activite)
    doctor_info: Mapped[str | None] = _practice_text(
        validation_run_id, practice, doctor_text, RunPractice.doctor_info)


def _rank_of(context: Any) -> int:
    """`severity_rank` from the row's severity, for findings added through the ORM."""
    return Severity(context.get_current_parameters()["severity"]).rank


class ValidationResult(db.Model):  # type: ignore[name-defined,misc]
    """One finding. The typed columns (`service_date`, `doctor`, `lines`...) are what pages
    filter and group on; `severity_rank` orders a page by an index rather than a sort."""

    __tablename__ = "validation_results"
    __table_args__ = (
        Index("ix_validation_results_run_sev_rule", "validation_run_id", "severity", "rule"),
        Index("ix_validation_results_run_order", "validation_run_id", "severity_rank", "rule",
              "id"),
        Index("ix_validation_results_run_rule_scenario", "validation_run_id", "rule",
              "scenario"),
        Index("ix_validation_results_run_doctor_date", "validation_run_id", "doctor",
              "service_date"),
        Index("ix_validation_results_run_date", "validation_run_id", "service_date"),
        # Findings are written once: direct inserts keep it half the size that merging a
        # pending list of inserts (`fastupdate`) leaves (measured, docs/benchmarks.md).
        Index("ix_validation_results_claims", "id_ramq", postgresql_using="gin",
              postgresql_with={"fastupdate": "off"}),
        # The run page's sums per (severity, rule, scenario): an index-only scan.
        Index("ix_validation_results_run_groups", "validation_run_id", "severity_rank", "rule",
              "scenario", postgresql_include=["severity", "monetary_impact"]),
    )

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    validation_run_id: Mapped[int] = mapped_column(
        ForeignKey("validation_runs.id", ondelete="CASCADE")
    )
    rule: Mapped[str] = mapped_column(String(64))
    scenario: Mapped[str] = mapped_column(String(32))
    severity: Mapped[Severity] = mapped_column(EnumString(Severity, 16))
    message: Mapped[str] = mapped_column(Text)
    solution: Mapped[str] = mapped_column(Text, default="")
    rows: Mapped[list[int]] = mapped_column(ARRAY(Integer), default=list)
    id_ramq: Mapped[list[str]] = mapped_column(ARRAY(Text), default=list)
    monetary_impact: Mapped[Decimal] = mapped_column(MONEY_TOTAL, default=Decimal("0"))
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # written and read whole
    severity_rank: Mapped[int] = mapped_column(SmallInteger, default=_rank_of)
    service_date: Mapped[date | None] = mapped_column(Date)
    doctor: Mapped[str | None] = mapped_column(String(7))  # the 7-digit licence
    doctor_label: Mapped[str | None] = mapped_column(String(32))  # `Dr. T***`
    person: Mapped[str | None] = mapped_column(String(32))  # `ABCD****5678`
    lines: Mapped[list[int]] = mapped_column(ARRAY(Integer), default=list, server_default="{}")


class ValidationLog(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "validation_logs"

    id: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    validation_run_id: Mapped[int] = mapped_column(
        ForeignKey("validation_runs.id", ondelete="CASCADE"), index=True
    )
    timestamp: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
    level: Mapped[str] = mapped_column(String(8))
    source: Mapped[str] = mapped_column(String(32))
    message: Mapped[str] = mapped_column(Text)
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSONB, default=dict)


class RamqCode(db.Model):  # type: ignore[name-defined,misc]
    """The public RAMQ tariff table, one row per code and place (`import-codes`)."""

    __tablename__ = "ramq_codes"

    billing_code: Mapped[str] = mapped_column(String(16), primary_key=True)
    place: Mapped[str] = mapped_column(String(32), primary_key=True)
    tariff_value: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    extra_unit_value: Mapped[Decimal | None] = mapped_column(Numeric(12, 2))
    unit_require: Mapped[bool] = mapped_column(Boolean, default=False)
    description: Mapped[str] = mapped_column(Text, default="")
    top_level: Mapped[str] = mapped_column(Text, default="")
    level1_group: Mapped[str] = mapped_column(Text, default="")
    level2_group: Mapped[str] = mapped_column(Text, default="")
    leaf: Mapped[str] = mapped_column(Text, default="")
    indicators: Mapped[str] = mapped_column(Text, default="")


class GmfEstablishment(db.Model):  # type: ignore[name-defined,misc]
    """An establishment number (`Lieu de pratique`) that belongs to a GMF (`import-gmf`)."""

    __tablename__ = "gmf_establishments"

    number: Mapped[str] = mapped_column(String(16), primary_key=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), default=utcnow)
