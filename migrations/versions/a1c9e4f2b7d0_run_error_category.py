"""run error category

A failed run says why in one word the run page groups by (`FailureCategory`): an unreadable
file, missing columns, a file gone, an interruption, or a technical error.

Revision ID: a1c9e4f2b7d0
Revises: 7b1e4c2a9f30
Create Date: 2026-12-02 10:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'a1c9e4f2b7d0'
down_revision = '7b1e4c2a9f30'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('validation_runs', sa.Column('error_category', sa.String(length=32),
                                               nullable=True))


def downgrade():
    op.drop_column('validation_runs', 'error_category')
