"""JSON shapes of the API (marshmallow): field names in camelCase as interface.md fixes them."""

from __future__ import annotations

from typing import Any

from marshmallow import Schema, fields, validate

from validateur.validation.findings import Severity


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
    attempts = fields.Integer()
    createdAt = fields.DateTime(attribute="created_at")
    startedAt = fields.DateTime(attribute="started_at", allow_none=True)
    finishedAt = fields.DateTime(attribute="finished_at", allow_none=True)

    def get_counts(self, run: Any) -> dict[str, int]:
        return {
            "error": run.error_count,
            "warning": run.warning_count,
            "optimization": run.optimization_count,
            "info": run.info_count,
        }


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


class LogSchema(Schema):
    timestamp = fields.DateTime()
    level = fields.String()
    source = fields.String()
    message = fields.String()
    metadata = fields.Dict(attribute="metadata_")


class PageArgsSchema(Schema):
    page = fields.Integer(load_default=1, validate=validate.Range(min=1))
    per_page = fields.Integer(load_default=50, validate=validate.Range(min=1, max=500))


class ResultArgsSchema(PageArgsSchema):
    severity = fields.String(validate=validate.OneOf([s.value for s in Severity]))
    rule = fields.String(validate=validate.Length(max=64))


run_schema = RunSchema()
runs_schema = RunSchema(many=True)
findings_schema = FindingSchema(many=True)
logs_schema = LogSchema(many=True)
page_args = PageArgsSchema()
result_args = ResultArgsSchema()
