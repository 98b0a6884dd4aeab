"""Indexed name lookups: the lookup keys of head-type slugs, names, bare names and aliases, stored
and indexed, so that resolving a name is one indexed query instead of loading the taxonomy.

Revision ID: 0006
Revises: 0005
"""

import re
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _key(name: str) -> str:  # headdb.db.models.lookup_key, as of this revision
    return re.sub(r"[\s_\-]+", " ", name).strip().casefold()


def _short(name: str) -> str | None:  # headdb.db.models.short_key, as of this revision
    key = _key(name)
    return key[: -len(" head")] if key.endswith(" head") and len(key) > len(" head") else None


def upgrade() -> None:
    with op.batch_alter_table("head_types", schema=None) as batch_op:
        batch_op.add_column(sa.Column("slug_key", sa.String(length=80), nullable=True))
        batch_op.add_column(sa.Column("name_key", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("short_key", sa.String(length=200), nullable=True))
    with op.batch_alter_table("head_type_aliases", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alias_key", sa.String(length=200), nullable=True))

    connection = op.get_bind()
    head_types = sa.table("head_types", sa.column("id", sa.Integer), sa.column("slug", sa.String),
                          sa.column("name", sa.String), sa.column("slug_key", sa.String),
                          sa.column("name_key", sa.String), sa.column("short_key", sa.String))
    for row in connection.execute(sa.select(head_types.c.id, head_types.c.slug, head_types.c.name)).all():
        connection.execute(head_types.update().where(head_types.c.id == row.id).values(
            slug_key=_key(row.slug), name_key=_key(row.name), short_key=_short(row.name)))
    aliases = sa.table("head_type_aliases", sa.column("id", sa.Integer), sa.column("alias", sa.String),
                       sa.column("alias_key", sa.String))
    for row in connection.execute(sa.select(aliases.c.id, aliases.c.alias)).all():
        connection.execute(aliases.update().where(aliases.c.id == row.id).values(alias_key=_key(row.alias)))

    with op.batch_alter_table("head_types", schema=None) as batch_op:
        batch_op.alter_column("slug_key", existing_type=sa.String(length=80), nullable=False)
        batch_op.alter_column("name_key", existing_type=sa.String(length=200), nullable=False)
        batch_op.create_index(batch_op.f("ix_head_types_slug_key"), ["slug_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_head_types_name_key"), ["name_key"], unique=False)
        batch_op.create_index(batch_op.f("ix_head_types_short_key"), ["short_key"], unique=False)
    with op.batch_alter_table("head_type_aliases", schema=None) as batch_op:
        batch_op.alter_column("alias_key", existing_type=sa.String(length=200), nullable=False)
        batch_op.create_index(batch_op.f("ix_head_type_aliases_alias_key"), ["alias_key"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("head_type_aliases", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_head_type_aliases_alias_key"))
        batch_op.drop_column("alias_key")
    with op.batch_alter_table("head_types", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_head_types_short_key"))
        batch_op.drop_index(batch_op.f("ix_head_types_name_key"))
        batch_op.drop_index(batch_op.f("ix_head_types_slug_key"))
        batch_op.drop_column("short_key")
        batch_op.drop_column("name_key")
        batch_op.drop_column("slug_key")
