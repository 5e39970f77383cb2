"""user session version

Browser sessions carry the version they were opened under; logout, a new password or a
disabled account bumps it, so every session opened before stops at its next request.

Revision ID: c4e8a1d5f920
Revises: c4e8a2d6f1b3
Create Date: 2026-12-10 10:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'c4e8a1d5f920'
down_revision = 'c4e8a2d6f1b3'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('session_version', sa.Integer(), server_default='1',
                                     nullable=False))


def downgrade():
    op.drop_column('users', 'session_version')
