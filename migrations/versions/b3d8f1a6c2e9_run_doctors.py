"""run doctors

A run's `Doctor Info` texts are stored once per run in `run_doctors`, and each row keeps the
text's number: the text was about 50 of a stored row's 215 bytes. The rows move to the table
`billing_rows`; `billing_records` becomes a view with the contract's columns (`doctor_info`
as text), so what operators and exports read does not change. Rows stored before keep their
text in `billing_rows.doctor_info` with no number, which the view reads as it is.

Revision ID: b3d8f1a6c2e9
Revises: f7a2c9e4d1b8
Create Date: 2027-01-20 10:00:00

"""
import sqlalchemy as sa
from alembic import op

revision = 'b3d8f1a6c2e9'
down_revision = 'f7a2c9e4d1b8'
branch_labels = None
depends_on = None

#: The contract's `billing_records` (docs/architecture.md § The database), over the two tables.
VIEW = """
CREATE VIEW billing_records AS
SELECT r.validation_run_id, r.row_number, r.facture, r.id_ramq, r.date_service, r.debut,
       r.fin, r.periode, r.lieu_pratique, r.secteur_activite, r.diagnostic, r.code, r.unites,
       r.role, r.element_contexte, r.montant_preliminaire, r.montant_paye,
       CASE WHEN r.doctor IS NULL THEN r.doctor_info ELSE d.doctor_info END AS doctor_info,
       r.patient
FROM billing_rows r
LEFT JOIN run_doctors d ON d.validation_run_id = r.validation_run_id AND d.number = r.doctor
"""


def upgrade():
    op.create_table(
        'run_doctors',
        sa.Column('validation_run_id', sa.BigInteger(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        sa.Column('doctor_info', sa.Text(), nullable=False),
        sa.PrimaryKeyConstraint('validation_run_id', 'number'),
    )
    op.rename_table('billing_records', 'billing_rows')
    op.execute('ALTER INDEX billing_records_pkey RENAME TO billing_rows_pkey')
    op.add_column('billing_rows', sa.Column('doctor', sa.Integer(), nullable=True))
    op.execute(VIEW)


def downgrade():
    op.execute('DROP VIEW billing_records')
    op.execute("""
        UPDATE billing_rows r SET doctor_info = d.doctor_info, doctor = NULL
        FROM run_doctors d
        WHERE d.validation_run_id = r.validation_run_id AND d.number = r.doctor
    """)
    op.drop_column('billing_rows', 'doctor')
    op.execute('ALTER INDEX billing_rows_pkey RENAME TO billing_records_pkey')
    op.rename_table('billing_rows', 'billing_records')
    op.drop_table('run_doctors')
