"""organizations

A user belongs to one organization (admins to none) and a run to its uploader's. Each
existing user gets an organization of their own, named after their e-mail, and each run its
owner's: nobody starts seeing anybody else's runs. Runs without an owner, or an admin's,
stay without one (only admins see them, as before).

Revision ID: e5f1a7c3b9d2
Revises: c4e8a1d5f920
Create Date: 2027-01-05 10:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'e5f1a7c3b9d2'
down_revision = 'c4e8a1d5f920'
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        'organizations',
        sa.Column('id', sa.BigInteger(), nullable=False),
        sa.Column('name', sa.String(length=320), nullable=False),
        sa.Column('plan', sa.String(length=16), server_default='standard', nullable=False),
        sa.Column('max_parallel', sa.Integer(), server_default='2', nullable=False),
        sa.Column('active', sa.Boolean(), server_default='true', nullable=False),
        sa.Column('created_at', sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint('id'),
        sa.UniqueConstraint('name'),
    )
    op.add_column('users', sa.Column('organization_id', sa.BigInteger(), nullable=True))
    op.create_index(op.f('ix_users_organization_id'), 'users', ['organization_id'])
    op.create_foreign_key('users_organization_id_fkey', 'users', 'organizations',
                          ['organization_id'], ['id'])
    op.add_column('validation_runs',
                  sa.Column('organization_id', sa.BigInteger(), nullable=True))
    op.create_index(op.f('ix_validation_runs_organization_id'), 'validation_runs',
                    ['organization_id'])
    op.create_foreign_key('validation_runs_organization_id_fkey', 'validation_runs',
                          'organizations', ['organization_id'], ['id'])
    op.execute("""
        INSERT INTO organizations (name, created_at)
        SELECT email, created_at FROM users WHERE role <> 'admin'
    """)
    op.execute("""
        UPDATE users SET organization_id = organizations.id
        FROM organizations WHERE organizations.name = users.email AND users.role <> 'admin'
    """)
    op.execute("""
        UPDATE validation_runs SET organization_id = users.organization_id
        FROM users WHERE users.id = validation_runs.user_id
    """)
    op.create_check_constraint('ck_users_organization_by_role', 'users',
                               "(role = 'admin') = (organization_id IS NULL)")


def downgrade():
    op.drop_constraint('ck_users_organization_by_role', 'users', type_='check')
    op.drop_constraint('validation_runs_organization_id_fkey', 'validation_runs',
                       type_='foreignkey')
    op.drop_index(op.f('ix_validation_runs_organization_id'), table_name='validation_runs')
    op.drop_column('validation_runs', 'organization_id')
    op.drop_constraint('users_organization_id_fkey', 'users', type_='foreignkey')
    op.drop_index(op.f('ix_users_organization_id'), table_name='users')
    op.drop_column('users', 'organization_id')
    op.drop_table('organizations')
