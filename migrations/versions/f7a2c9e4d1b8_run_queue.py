"""run queue

Each run remembers its RQ queue (`<queue>-priority` for a `priority` organization at submit
time, else `<queue>`), so a retry, a deploy's hand-back or the sweeper's re-queue keeps it.
Existing runs keep none: they are enqueued on the base queue, as before.

Revision ID: f7a2c9e4d1b8
Revises: e5f1a7c3b9d2
Create Date: 2027-01-06 10:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'f7a2c9e4d1b8'
down_revision = 'e5f1a7c3b9d2'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('validation_runs', sa.Column('queue', sa.String(length=100), nullable=True))


def downgrade():
    op.drop_column('validation_runs', 'queue')
