"""run page and calendar indexes: group totals, billing rows by date and by invoice

The run page sums every finding of a run per (severity, rule, scenario) on each view; on a
131 000-finding run a heap scan took 300-500 ms. With severity and amount in the index the
sums are an index-only scan (about 50-100 ms on the same run). The calendar reads one month
of a million-row run's billing rows (a whole-run scan took about 1 s), and the run page's
search looks an invoice up among them (1.2 s without an index).

Revision ID: f6a2c8e4d1b7
Revises: f39adeccd216
Create Date: 2026-12-03 16:00:00

"""
from alembic import op

revision = 'f6a2c8e4d1b7'
down_revision = 'f39adeccd216'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index('ix_validation_results_run_groups', 'validation_results',
                    ['validation_run_id', 'severity_rank', 'rule', 'scenario'],
                    postgresql_include=['severity', 'monetary_impact'])
    op.create_index('ix_billing_records_run_date', 'billing_records',
                    ['validation_run_id', 'date_service'])
    op.create_index('ix_billing_records_run_invoice', 'billing_records',
                    ['validation_run_id', 'facture'])


def downgrade() -> None:
    op.drop_index('ix_billing_records_run_invoice', table_name='billing_records')
    op.drop_index('ix_billing_records_run_date', table_name='billing_records')
    op.drop_index('ix_validation_results_run_groups', table_name='validation_results')
