"""notifications

Webhook endpoints of an organization, the outbox of notifications (one row per event per
target, written in the transaction that ends a run) and each person's e-mail preference
(`never` for everybody to begin with: nobody starts receiving mail unasked).

Revision ID: f7a2c9e4d1b6
Revises: f6a2c8e4d1b7
Create Date: 2027-01-06 10:00:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'f7a2c9e4d1b6'
down_revision = 'f6a2c8e4d1b7'
branch_labels = None
depends_on = None


def upgrade():
    op.add_column('users', sa.Column('notify_email', sa.String(length=16),
                                     server_default='never', nullable=False))
    op.create_table(
        'webhooks',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('organization_id', sa.BigInteger(), nullable=False),
        sa.Column('url', sa.String(length=2048), nullable=False),
        sa.Column('events', postgresql.ARRAY(sa.String(length=32)), nullable=False),
        sa.Column('secret', sa.String(length=128), nullable=False),
        sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_webhooks_organization_id'), 'webhooks', ['organization_id'])
    op.create_table(
        'notifications',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('event', sa.String(length=32), nullable=False),
        sa.Column('validation_run_id', sa.BigInteger(), nullable=True),
        sa.Column('batch_id', sa.BigInteger(), nullable=True),
        sa.Column('organization_id', sa.BigInteger(), nullable=True),
        sa.Column('webhook_id', sa.BigInteger(), nullable=True),
        sa.Column('user_id', sa.BigInteger(), nullable=True),
        sa.Column('dedupe_key', sa.String(length=160), nullable=False),
        sa.Column('message_id', sa.String(length=64), nullable=False),
        sa.Column('payload', postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column('state', sa.String(length=16), server_default='pending', nullable=False),
        sa.Column('attempts', sa.Integer(), server_default='0', nullable=False),
        sa.Column('next_attempt_at', sa.DateTime(timezone=True), nullable=True),
        sa.Column('last_status_code', sa.Integer(), nullable=True),
        sa.Column('last_error', sa.String(length=200), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('delivered_at', sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint('(webhook_id IS NULL) <> (user_id IS NULL)',
                           name='ck_notifications_one_target'),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='CASCADE'),
        sa.ForeignKeyConstraint(['webhook_id'], ['webhooks.id'], ondelete='CASCADE'),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('dedupe_key'),
        sa.UniqueConstraint('message_id'),
    )
    op.create_index('ix_notifications_due', 'notifications', ['state', 'next_attempt_at'])
    for column in ('validation_run_id', 'batch_id', 'organization_id', 'webhook_id',
                   'user_id'):
        op.create_index(op.f(f'ix_notifications_{column}'), 'notifications', [column])


def downgrade():
    op.drop_table('notifications')
    op.drop_index(op.f('ix_webhooks_organization_id'), table_name='webhooks')
    op.drop_table('webhooks')
    op.drop_column('users', 'notify_email')
