"""run practices: a stored row in fewer bytes

What each row repeated is stored once per run: a run's distinct (`Doctor Info`, `Lieu de
pratique`, `Secteur d'activité`) texts go to `run_practices`, numbered, and each row keeps
the number (the three texts were about 70 of a stored row's 215 bytes). The rows move to the
table `billing_rows`; `billing_records` becomes a view with the contract's columns, so what
operators and exports read does not change. Rows stored before keep their texts, with no
number, which the view reads as they are.

The rows' run id becomes a 4-byte integer (a row's key, 12 bytes instead of 16, fits the
index's 8-byte alignment: the primary key is a third smaller), the primary key is packed full
(rows are appended, never updated), and the invoice search's B-tree becomes a BRIN index
(exports list an invoice's lines together, in invoice order: a block range holds it;
ranges are summarized as they fill, and `runs.py` forgets a deleted run's ranges). An
existing installation keeps the claims index it has until a `REINDEX`.
The findings' claims index stops queueing inserts in a pending list (`fastupdate`): findings
are written once, and the list's merge left the index twice the size of direct inserts.

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

#: The three texts a practice number stands for, in `billing_rows` and `run_practices`.
TEXTS = ('doctor_info', 'lieu_pratique', 'secteur_activite')

#: The contract's `billing_records` (docs/architecture.md § The database), over the two tables.
VIEW = """
CREATE VIEW billing_records AS
SELECT r.validation_run_id, r.row_number, r.facture, r.id_ramq, r.date_service, r.debut,
       r.fin, r.periode,
       CASE WHEN r.practice IS NULL THEN r.lieu_pratique ELSE p.lieu_pratique END
           AS lieu_pratique,
       CASE WHEN r.practice IS NULL THEN r.secteur_activite ELSE p.secteur_activite END
           AS secteur_activite,
       r.diagnostic, r.code, r.unites, r.role, r.element_contexte, r.montant_preliminaire,
       r.montant_paye,
       CASE WHEN r.practice IS NULL THEN r.doctor_info ELSE p.doctor_info END AS doctor_info,
       r.patient
FROM billing_rows r
LEFT JOIN run_practices p
    ON p.validation_run_id = r.validation_run_id AND p.number = r.practice
"""


def upgrade():
    op.create_table(
        'run_practices',
        sa.Column('validation_run_id', sa.Integer(), nullable=False),
        sa.Column('number', sa.Integer(), nullable=False),
        *(sa.Column(name, sa.Text(), nullable=False) for name in TEXTS),
        sa.PrimaryKeyConstraint('validation_run_id', 'number'),
    )
    op.rename_table('billing_records', 'billing_rows')
    op.execute('ALTER INDEX billing_records_pkey RENAME TO billing_rows_pkey')
    op.execute('ALTER INDEX billing_rows_pkey SET (fillfactor = 100)')
    op.drop_index('ix_billing_records_run_invoice', table_name='billing_rows')
    op.alter_column('billing_rows', 'validation_run_id', type_=sa.Integer(),
                    existing_type=sa.BigInteger(), existing_nullable=False)
    op.add_column('billing_rows', sa.Column('practice', sa.Integer(), nullable=True))
    op.create_index('ix_billing_records_run_invoice', 'billing_rows',
                    ['validation_run_id', 'facture'], postgresql_using='brin',
                    postgresql_with={'autosummarize': 'on'})
    op.execute(VIEW)
    op.execute('ALTER INDEX ix_validation_results_claims SET (fastupdate = off)')
    op.execute("SELECT gin_clean_pending_list('ix_validation_results_claims')")


def downgrade():
    op.execute('ALTER INDEX ix_validation_results_claims RESET (fastupdate)')
    op.execute('DROP VIEW billing_records')
    op.execute(f"""
        UPDATE billing_rows r SET {', '.join(f'{name} = p.{name}' for name in TEXTS)},
                                  practice = NULL
        FROM run_practices p
        WHERE p.validation_run_id = r.validation_run_id AND p.number = r.practice
    """)
    op.drop_index('ix_billing_records_run_invoice', table_name='billing_rows')
    op.drop_column('billing_rows', 'practice')
    op.alter_column('billing_rows', 'validation_run_id', type_=sa.BigInteger(),
                    existing_type=sa.Integer(), existing_nullable=False)
    op.execute('ALTER INDEX billing_rows_pkey RESET (fillfactor)')
    op.execute('ALTER INDEX billing_rows_pkey RENAME TO billing_records_pkey')
    op.rename_table('billing_rows', 'billing_records')
    op.create_index('ix_billing_records_run_invoice', 'billing_records',
                    ['validation_run_id', 'facture'])
    op.drop_table('run_practices')
