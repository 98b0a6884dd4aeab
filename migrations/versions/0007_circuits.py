"""Circuits: discovery runs with their nodes and scored edges; labels may point to a circuit.

Revision ID: 0007
Revises: 0006
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "circuits",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("task", sa.String(length=100), nullable=False),
        sa.Column("data_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("n_prompts", sa.Integer(), nullable=False),
        sa.Column("metric", sa.String(length=100), nullable=False),
        sa.Column("method", sa.String(length=32), nullable=False),
        sa.Column("config", sa.JSON(), nullable=False),
        sa.Column("config_fingerprint", sa.String(length=64), nullable=False),
        sa.Column("weights_fingerprint", sa.String(length=64), nullable=True),
        sa.Column("library_versions", sa.JSON(), nullable=False),
        sa.Column("started_at", sa.DateTime(), nullable=False),
        sa.Column("timings", sa.JSON(), nullable=False),
        sa.Column("clean_metric", sa.Float(), nullable=False),
        sa.Column("corrupted_metric", sa.Float(), nullable=False),
        sa.Column("circuit_metric", sa.Float(), nullable=False),
        sa.Column("faithfulness", sa.Float(), nullable=True),
        sa.Column("n_edges_total", sa.Integer(), nullable=False),
        sa.Column("n_edges", sa.Integer(), nullable=False),
        sa.Column("n_nodes", sa.Integer(), nullable=False),
        sa.Column("curve", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f("fk_circuits_model_id_models"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circuits")),
    )
    with op.batch_alter_table("circuits", schema=None) as batch_op:
        batch_op.create_index("ix_circuits_model_task", ["model_id", "task"], unique=False)
    op.create_table(
        "circuit_nodes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("circuit_id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=40), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("layer", sa.Integer(), nullable=True),
        sa.Column("head", sa.Integer(), nullable=True),
        sa.Column("in_circuit", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["circuit_id"], ["circuits.id"], name=op.f("fk_circuit_nodes_circuit_id_circuits"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circuit_nodes")),
        sa.UniqueConstraint("circuit_id", "name", name=op.f("uq_circuit_nodes_circuit_id_name")),
    )
    op.create_table(
        "circuit_edges",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("circuit_id", sa.Integer(), nullable=False),
        sa.Column("sender", sa.String(length=40), nullable=False),
        sa.Column("receiver", sa.String(length=40), nullable=False),
        sa.Column("score", sa.Float(), nullable=False),
        sa.Column("in_circuit", sa.Boolean(), nullable=False),
        sa.ForeignKeyConstraint(["circuit_id"], ["circuits.id"], name=op.f("fk_circuit_edges_circuit_id_circuits"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_circuit_edges")),
    )
    with op.batch_alter_table("circuit_edges", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_circuit_edges_circuit_id"), ["circuit_id"], unique=False)
    with op.batch_alter_table("head_labels", schema=None) as batch_op:
        batch_op.add_column(sa.Column("circuit_id", sa.Integer(), nullable=True))
        batch_op.create_index(batch_op.f("ix_head_labels_circuit_id"), ["circuit_id"], unique=False)
        batch_op.create_foreign_key(batch_op.f("fk_head_labels_circuit_id_circuits"), "circuits", ["circuit_id"], ["id"],
                                    ondelete="SET NULL")


def downgrade() -> None:
    with op.batch_alter_table("head_labels", schema=None) as batch_op:
        batch_op.drop_constraint(batch_op.f("fk_head_labels_circuit_id_circuits"), type_="foreignkey")
        batch_op.drop_index(batch_op.f("ix_head_labels_circuit_id"))
        batch_op.drop_column("circuit_id")
    with op.batch_alter_table("circuit_edges", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_circuit_edges_circuit_id"))
    op.drop_table("circuit_edges")
    op.drop_table("circuit_nodes")
    with op.batch_alter_table("circuits", schema=None) as batch_op:
        batch_op.drop_index("ix_circuits_model_task")
    op.drop_table("circuits")
