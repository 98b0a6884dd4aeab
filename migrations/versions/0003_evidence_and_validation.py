"""Calibrated scores (interval, p-value, adjusted p-value), label evidence, and the detector
validation report.

Revision ID: 0003
Revises: 0002
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("head_scores", schema=None) as batch_op:
        batch_op.add_column(sa.Column("ci_low", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("ci_high", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("p_value", sa.Float(), nullable=True))
        batch_op.add_column(sa.Column("q_value", sa.Float(), nullable=True))
    with op.batch_alter_table("head_labels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("evidence", sa.JSON(), nullable=True))

    op.create_table(
        "validation_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subset", sa.String(length=16), nullable=False),
        sa.Column("zoo", sa.JSON(), nullable=False),
        sa.Column("detector_versions", sa.JSON(), nullable=False),
        sa.Column("library_versions", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("duration_s", sa.Float(), nullable=True),
        sa.Column("stability", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_validation_runs")),
    )
    op.create_table(
        "validation_results",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("validation_run_id", sa.Integer(), nullable=False),
        sa.Column("model", sa.String(length=300), nullable=False),
        sa.Column("model_kind", sa.String(length=16), nullable=False),
        sa.Column("detector", sa.String(length=100), nullable=False),
        sa.Column("detector_version", sa.String(length=32), nullable=False),
        sa.Column("head_type", sa.String(length=80), nullable=False),
        sa.Column("detector_run_id", sa.Integer(), nullable=True),
        sa.Column("n_positive", sa.Integer(), nullable=False),
        sa.Column("n_negative", sa.Integer(), nullable=False),
        sa.Column("n_ambiguous", sa.Integer(), nullable=False),
        sa.Column("true_positives", sa.Integer(), nullable=False),
        sa.Column("false_positives", sa.Integer(), nullable=False),
        sa.Column("false_negatives", sa.Integer(), nullable=False),
        sa.Column("precision", sa.Float(), nullable=True),
        sa.Column("recall", sa.Float(), nullable=True),
        sa.Column("auroc", sa.Float(), nullable=True),
        sa.Column("true_head_ranks", sa.JSON(), nullable=False),
        sa.Column("labelled", sa.JSON(), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(["detector_run_id"], ["detector_runs.id"],
                                name=op.f("fk_validation_results_detector_run_id_detector_runs"), ondelete="SET NULL"),
        sa.ForeignKeyConstraint(["validation_run_id"], ["validation_runs.id"],
                                name=op.f("fk_validation_results_validation_run_id_validation_runs"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_validation_results")),
        sa.UniqueConstraint("validation_run_id", "model", "detector", "head_type",
                            name=op.f("uq_validation_results_validation_run_id_model_detector_head_type")),
    )
    with op.batch_alter_table("validation_results", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_validation_results_validation_run_id"), ["validation_run_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("validation_results", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_validation_results_validation_run_id"))
    op.drop_table("validation_results")
    op.drop_table("validation_runs")
    with op.batch_alter_table("head_labels", schema=None) as batch_op:
        batch_op.drop_column("evidence")
    with op.batch_alter_table("head_scores", schema=None) as batch_op:
        batch_op.drop_column("q_value")
        batch_op.drop_column("p_value")
        batch_op.drop_column("ci_high")
        batch_op.drop_column("ci_low")
