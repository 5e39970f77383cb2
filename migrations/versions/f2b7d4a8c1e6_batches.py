"""batches

Several files submitted together: a batch row owns its runs (`validation_runs.batch_id`).
Its final status and `finished_at` are written once, when its last run becomes final.

Revision ID: f2b7d4a8c1e6
Revises: e5f1a7c3b9d2
Create Date: 2027-01-12 10:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'f2b7d4a8c1e6'
down_revision = 'e5f1a7c3b9d2'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'batches',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('organization_id', sa.BigInteger(), nullable=True),
        sa.Column('user_id', sa.BigInteger(), nullable=True),
        sa.Column('final_status', sa.String(length=16), nullable=True),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.Column('finished_at', sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(['organization_id'], ['organizations.id']),
        sa.ForeignKeyConstraint(['user_id'], ['users.id'], ondelete='SET NULL'),
        sa.PrimaryKeyConstraint('id'),
    )
    op.create_index(op.f('ix_batches_organization_id'), 'batches', ['organization_id'])
    op.create_index(op.f('ix_batches_user_id'), 'batches', ['user_id'])
    op.add_column('validation_runs', sa.Column('batch_id', sa.BigInteger(), nullable=True))
    op.create_index(op.f('ix_validation_runs_batch_id'), 'validation_runs', ['batch_id'])
    op.create_foreign_key('validation_runs_batch_id_fkey', 'validation_runs', 'batches',
                          ['batch_id'], ['id'], ondelete='SET NULL')


def downgrade():
    op.drop_constraint('validation_runs_batch_id_fkey', 'validation_runs', type_='foreignkey')
    op.drop_index(op.f('ix_validation_runs_batch_id'), table_name='validation_runs')
    op.drop_column('validation_runs', 'batch_id')
    op.drop_index(op.f('ix_batches_user_id'), table_name='batches')
    op.drop_index(op.f('ix_batches_organization_id'), table_name='batches')
    op.drop_table('batches')
