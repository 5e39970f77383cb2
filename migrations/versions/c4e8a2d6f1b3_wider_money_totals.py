"""wider money totals

A finding's monetary impact and a run's totals are sums of billed amounts; a row's amount is
below 1 000 000 000 $ (larger ones are a row finding, see docs/file-format.md), so Numeric(24, 2)
holds the sum of every amount of any file the service can take, where Numeric(14, 2) overflowed
at 10¹² and failed the run as a technical error.

Revision ID: c4e8a2d6f1b3
Revises: a1c9e4f2b7d0
Create Date: 2026-12-02 12:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'c4e8a2d6f1b3'
down_revision = 'a1c9e4f2b7d0'
branch_labels = None
depends_on = None

COLUMNS = (
    ('validation_runs', 'potential_gain'),
    ('validation_runs', 'money_at_risk'),
    ('validation_results', 'monetary_impact'),
)


def upgrade():
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.Numeric(24, 2),
                        existing_type=sa.Numeric(14, 2))


def downgrade():
    for table, column in COLUMNS:
        op.alter_column(table, column, type_=sa.Numeric(14, 2),
                        existing_type=sa.Numeric(24, 2))
