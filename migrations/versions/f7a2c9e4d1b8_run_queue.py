"""run queue

Each run remembers its RQ queue (`<queue>-priority` for a `priority` organization at submit
time, else `<queue>`), so a retry, a deploy's hand-back or the sweeper's re-queue keeps it.
Existing runs keep none: they are enqueued on the base queue, as before.

Revision ID: f7a2c9e4d1b8
Revises: f7a2c9e4d1b6
Create Date: 2027-01-06 10:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'f7a2c9e4d1b8'
down_revision = 'f7a2c9e4d1b6'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('validation_runs', sa.Column('queue', sa.String(length=100), nullable=True))


def downgrade():
    op.drop_column('validation_runs', 'queue')
