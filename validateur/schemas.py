"""JSON shapes of the API (marshmallow), and the query arguments the API and pages accept.

Field names are camelCase as the API contract fixes them. Every query argument is checked
here, before any query is built: a page number PostgreSQL cannot hold as an offset, a NUL
byte or another control character never reaches the database (psycopg refuses NUL in a
text parameter, which used to surface as a 500 or a truncated export).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from enum import StrEnum
from typing import Any

from marshmallow import EXCLUDE, Schema, ValidationError, fields, pre_load, validate

from validateur.errors import ValidateurError
from validateur.formatting import integer
from validateur.models import RunStatus
from validateur.validation.findings import Severity

MAX_PAGE = 10_000_000
MAX_PER_PAGE = 500
MAX_QUERY_LENGTH = 255
MAX_ORGANIZATION_LENGTH = 320
RULE_CODE = re.compile(r"[a-z0-9][a-z0-9-]{0,63}")
#: Whole-value patterns (`validate.Regexp` only anchors the start, hence `\Z`).
SCENARIO_CODE = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,31}\Z")
LICENCE = re.compile(r"[0-9]{7}\Z")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
ISO_MONTH = re.compile(r"[0-9]{4}-[0-9]{2}")
#: A claim number as `cells.claim_number` accepts it.
CLAIM = re.compile(r"[0-9][0-9A-Z-]{0,19}\Z")
#: C0 controls (NUL included), DEL and C1 controls: never part of a file name or a code.
CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f-\x9f]")


class RunSchema(Schema):
    id = fields.Integer()
    status = fields.String()
    phase = fields.String()
    progress = fields.Integer()
    fileName = fields.String(attribute="file_name")
    fileSize = fields.Integer(attribute="file_size")
    totalRows = fields.Integer(attribute="total_rows")
    processedRows = fields.Integer(attribute="processed_rows")
    counts = fields.Method("get_counts")
    potentialGain = fields.Decimal(attribute="potential_gain", as_string=True, places=2)
    moneyAtRisk = fields.Decimal(attribute="money_at_risk", as_string=True, places=2)
    errorMessage = fields.String(attribute="error_message", allow_none=True)
    errorCategory = fields.String(attribute="error_category", allow_none=True)
    jobId = fields.String(attribute="job_id", allow_none=True)
    batchId = fields.Integer(attribute="batch_id", allow_none=True)
    #: The RQ queue of the run's attempts (`validation-priority`, `validation`).
    queue = fields.String(allow_none=True)
    #: 1-based place in line while queued (`positions`), else null: set by the view.
    queuePosition = fields.Integer(attribute="queue_position", allow_none=True,
                                   dump_default=None)
    attempts = fields.Integer()
    createdAt = fields.DateTime(attribute="created_at")
    startedAt = fields.DateTime(attribute="started_at", allow_none=True)
    finishedAt = fields.DateTime(attribute="finished_at", allow_none=True)

    def get_counts(self, run: Any) -> dict[str, int]:
        return {severity.value: count for severity, count in run.counts.items()}


class FindingSchema(Schema):
    id = fields.Integer()
    rule = fields.String()
    scenario = fields.String()
    severity = fields.String()
    message = fields.String()
    solution = fields.String()
    rows = fields.List(fields.Integer())
    idRamq = fields.List(fields.String(), attribute="id_ramq")
    monetaryImpact = fields.Decimal(attribute="monetary_impact", as_string=True, places=2)
    data = fields.Dict()
    serviceDate = fields.Date(attribute="service_date", allow_none=True)
    doctor = fields.String(allow_none=True)
    doctorLabel = fields.String(attribute="doctor_label", allow_none=True)
    person = fields.String(allow_none=True)
    lines = fields.List(fields.Integer())


class LogSchema(Schema):
    timestamp = fields.DateTime()
    level = fields.String()
    source = fields.String()
    message = fields.String()
    metadata = fields.Dict(attribute="metadata_")


def _no_control_characters(value: str) -> None:
    if CONTROL_CHARACTERS.search(value):
        raise ValidationError("control character")


def _rule_code(value: str) -> None:
    if not RULE_CODE.fullmatch(value):
        raise ValidationError("not a rule code")


class _Arguments(Schema):
    """Query arguments: an empty value (`?severity=` from a form's « Toutes ») is no filter."""

    class Meta:
        unknown = EXCLUDE

    @pre_load
    def _drop_empty(self, data: Mapping[str, Any], **_kwargs: Any) -> dict[str, Any]:
        return {key: data[key].strip(" ") for key in data
                if isinstance(data[key], str) and data[key].strip(" ")}


class PageArgsSchema(_Arguments):
    page = fields.Integer(load_default=1,
                          validate=validate.Range(min=1, max=MAX_PAGE))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=MAX_PER_PAGE))


class RunListArgsSchema(PageArgsSchema):
    status = fields.Enum(RunStatus, by_value=True)
    q = fields.String(validate=[validate.Length(max=MAX_QUERY_LENGTH), _no_control_characters])
    batch = fields.Integer(validate=validate.Range(min=1, max=2**63 - 1))
    #: An organization's name (admins; for anyone else, within what they may see anyway).
    organization = fields.String(validate=[validate.Length(max=MAX_ORGANIZATION_LENGTH),
                                           _no_control_characters])


class IsoDate(fields.Field[date]):
    """`YYYY-MM-DD` exactly (no other ISO shape, no time): a calendar date, no time zone."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> date:
        if not isinstance(value, str) or not ISO_DATE.fullmatch(value):
            raise ValidationError("not a date")
        try:
            return date.fromisoformat(value)
        except ValueError:
            raise ValidationError("not a date") from None


class IsoMonth(fields.Field[date]):
    """`YYYY-MM`: the first day of that month."""

    def _deserialize(self, value: Any, attr: str | None, data: Mapping[str, Any] | None,
                     **kwargs: Any) -> date:
        if not isinstance(value, str) or not ISO_MONTH.fullmatch(value):
            raise ValidationError("not a month")
        try:
            return date.fromisoformat(value + "-01")
        except ValueError:
            raise ValidationError("not a month") from None


class ResultArgsSchema(PageArgsSchema):
    """The filters of a run's findings, shared by the list, its groups and the exports."""

    severity = fields.Enum(Severity, by_value=True)
    rule = fields.String(validate=_rule_code)
    scenario = fields.String(validate=validate.Regexp(SCENARIO_CODE))
    doctor = fields.String(validate=validate.Regexp(LICENCE))
    date = IsoDate()
    claim = fields.String(validate=validate.Regexp(CLAIM))



class CalendarArgsSchema(_Arguments):
    doctor = fields.String(validate=validate.Regexp(LICENCE))
    month = IsoMonth()


def _one_of(codes: type[StrEnum]) -> str:
    """`error, warning, optimization ou info`: the codes an argument takes, in order."""
    *first, last = [code.value for code in codes]
    return f"{', '.join(first)} ou {last}"


#: What each argument must be, in the words of the 400 answer.
ARGUMENT_RULES: dict[str, str] = {
    "page": f"un nombre entier de 1 à {integer(MAX_PAGE)}",
    "per_page": f"un nombre entier de 1 à {MAX_PER_PAGE}",
    "status": _one_of(RunStatus),
    "q": f"du texte sans caractère de contrôle, {MAX_QUERY_LENGTH} caractères au plus",
    "batch": "un numéro de lot (nombre entier positif)",
    "organization": ("un nom d'organisation sans caractère de contrôle, "
                     f"{MAX_ORGANIZATION_LENGTH} caractères au plus"),
    "severity": _one_of(Severity),
    "rule": "un code de règle (lettres minuscules, chiffres et traits d'union)",
    "scenario": "un code de scénario (lettres, chiffres, traits d'union)",
    "doctor": "un numéro de licence de 7 chiffres",
    "date": "une date AAAA-MM-JJ (par exemple 2025-03-10)",
    "month": "un mois AAAA-MM (par exemple 2025-03)",
    "claim": "un numéro de réclamation (chiffres)",
}


class BadArguments(ValidateurError):
    """A query argument out of its range; `message` is the French 400 answer."""

    def __init__(self, names: list[str]) -> None:
        self.names = names
        parts = [f"« {name} » doit être {ARGUMENT_RULES.get(name, 'valide')}" for name in names]
        noun = "Paramètre invalide" if len(parts) == 1 else "Paramètres invalides"
        self.message = f"{noun} : {' ; '.join(parts)}."
        super().__init__(self.message)


def load_args(schema: Schema, args: Mapping[str, Any]) -> dict[str, Any]:
    """The checked arguments, or `BadArguments` naming every argument that is wrong."""
    try:
        loaded: dict[str, Any] = schema.load(args)
    except ValidationError as exc:
        raise BadArguments(sorted(exc.messages_dict)) from None
    return loaded


run_schema = RunSchema()
runs_schema = RunSchema(many=True)
findings_schema = FindingSchema(many=True)
logs_schema = LogSchema(many=True)
page_args = PageArgsSchema()
run_list_args = RunListArgsSchema()
result_args = ResultArgsSchema()
calendar_args = CalendarArgsSchema()
