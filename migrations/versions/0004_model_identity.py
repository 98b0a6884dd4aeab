"""Model identity: a normalised name key and the revision (hub revision or checkpoint) together
identify a model; parameter counts past 2^31 fit.

Revision ID: 0004
Revises: 0003
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key(name: str) -> str:  # the rule of headdb.db.models.model_name_key, as of this revision
    return re.sub(r"[\s_\-]+", "-", name.strip()).casefold()


def upgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.add_column(sa.Column("name_key", sa.String(length=300), nullable=True))
        batch_op.add_column(sa.Column("source_kind", sa.String(length=16), nullable=True))
        batch_op.add_column(sa.Column("step", sa.Integer(), nullable=True))
    models = sa.table("models", sa.column("id", sa.Integer), sa.column("name", sa.String),
                      sa.column("name_key", sa.String), sa.column("revision", sa.String))
    connection = op.get_bind()
    for row in connection.execute(sa.select(models.c.id, models.c.name)).all():
        connection.execute(models.update().where(models.c.id == row.id).values(name_key=_key(row.name)))
    connection.execute(models.update().where(models.c.revision.is_(None)).values(revision=""))
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.alter_column("name_key", existing_type=sa.String(length=300), nullable=False)
        batch_op.alter_column("revision", existing_type=sa.String(length=100), type_=sa.String(length=200),
                              nullable=False, server_default="")
        batch_op.alter_column("n_params", existing_type=sa.Integer(), type_=sa.BigInteger())
        batch_op.drop_constraint("uq_models_name", type_="unique")
        batch_op.create_unique_constraint(batch_op.f("uq_models_name_key_revision"), ["name_key", "revision"])
        batch_op.create_index(batch_op.f("ix_models_name"), ["name"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_models_name"))
        batch_op.drop_constraint(batch_op.f("uq_models_name_key_revision"), type_="unique")
    # Revisions other than the published model have no place in the old schema.
    op.execute("DELETE FROM models WHERE revision <> ''")
    with op.batch_alter_table("models", schema=None) as batch_op:
        batch_op.create_unique_constraint("uq_models_name", ["name"])
        batch_op.alter_column("n_params", existing_type=sa.BigInteger(), type_=sa.Integer())
        batch_op.alter_column("revision", existing_type=sa.String(length=200), type_=sa.String(length=100),
                              nullable=True, server_default=None)
        batch_op.drop_column("step")
        batch_op.drop_column("source_kind")
        batch_op.drop_column("name_key")
