"""typed findings: date, licence, masked doctor and person, file lines, severity rank

A finding's service date, doctor licence and file lines become columns (were only inside
`data`, for some rules), so pages filter and group on them; `severity_rank` lets a page of
findings be read in order from an index instead of sorting the whole run (131 000 findings).
Existing findings get their rank; the other new columns stay empty for them.

Revision ID: f39adeccd216
Revises: f2b7d4a8c1e6
Create Date: 2026-12-03 10:00:00

"""
import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = 'f39adeccd216'
down_revision = 'f2b7d4a8c1e6'
branch_labels = None
depends_on = None

RANKS = {'error': 0, 'warning': 1, 'optimization': 2, 'info': 3}
INDEXES = (
    ('ix_validation_results_run_order', ['validation_run_id', 'severity_rank', 'rule', 'id']),
    ('ix_validation_results_run_rule_scenario', ['validation_run_id', 'rule', 'scenario']),
    ('ix_validation_results_run_doctor_date', ['validation_run_id', 'doctor', 'service_date']),
    ('ix_validation_results_run_date', ['validation_run_id', 'service_date']),
)


def upgrade():
    op.add_column('validation_results', sa.Column('severity_rank', sa.SmallInteger(),
                                                  nullable=True))
    op.add_column('validation_results', sa.Column('service_date', sa.Date(), nullable=True))
    op.add_column('validation_results', sa.Column('doctor', sa.String(length=7), nullable=True))
    op.add_column('validation_results', sa.Column('doctor_label', sa.String(length=32),
                                                  nullable=True))
    op.add_column('validation_results', sa.Column('person', sa.String(length=32),
                                                  nullable=True))
    op.add_column('validation_results', sa.Column(
        'lines', postgresql.ARRAY(sa.Integer()), server_default='{}', nullable=False))
    cases = ' '.join(f"WHEN '{severity}' THEN {rank}" for severity, rank in RANKS.items())
    op.execute(f"UPDATE validation_results SET severity_rank = CASE severity {cases} ELSE 4 END")
    op.alter_column('validation_results', 'severity_rank', nullable=False)
    for name, columns in INDEXES:
        op.create_index(name, 'validation_results', columns)
    op.create_index('ix_validation_results_claims', 'validation_results', ['id_ramq'],
                    postgresql_using='gin')


def downgrade():
    op.drop_index('ix_validation_results_claims', table_name='validation_results')
    for name, _ in reversed(INDEXES):
        op.drop_index(name, table_name='validation_results')
    for column in ('lines', 'person', 'doctor_label', 'doctor', 'service_date', 'severity_rank'):
        op.drop_column('validation_results', column)
