"""The catalog as a reference: bibliographic fields (first public version, where it appeared,
peer-reviewed venue and year, why a field is missing, per-field sources), head-type kind and
placement, claim conflicts, published per-head data, and the merge of duplicate head types.

Merging moves everything stored for a duplicate type (claims, paper links, detector scores and
labels, validation results) onto the type it duplicates and keeps its slug and name as aliases
of that type. The downgrade keeps them that way: the merged types do not come back, but no row
is lost. Papers are marked for a fresh sync (``content_hash`` cleared) in both directions, so
the next ``headdb ingest`` fills the new columns from the entries.

Revision ID: 0005
Revises: 0004
"""

import json
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Duplicate head types as of this revision: merged slug -> surviving slug (taxonomy.yaml's
# `merged:` entries give each reason).
MERGES = {
    "answer": "correct",
    "copy-suppression": "negative-name-mover",
    "syntactic-dependency": "syntactic",
    "local-context": "streaming",
    "attribute-extraction": "mover",
    "addition": "arithmetic",
    "global-retrieval": "retrieval",
    "cmr-like": "induction",
}
REASON = "merged as a duplicate by migration 0005; taxonomy.yaml gives the reason"


def _one(connection, sql: str, **params):  # type: ignore[no-untyped-def]
    return connection.execute(sa.text(sql), params).first()


def _merge(connection, old, new) -> None:  # type: ignore[no-untyped-def]
    """Move every row that names head type ``old`` onto ``new``; then delete ``old``."""
    claims = connection.execute(
        sa.text("SELECT id, paper_id, head_id, role, source, note FROM claims WHERE head_type_id = :o"), {"o": old.id}
    ).all()
    for claim in claims:
        role_test = "role = :role" if claim.role is not None else "role IS NULL"
        twin = _one(
            connection,
            f"SELECT id, source, note FROM claims WHERE paper_id = :p AND head_id = :h AND head_type_id = :n AND {role_test}",
            p=claim.paper_id, h=claim.head_id, n=new.id, **({"role": claim.role} if claim.role is not None else {}),
        )
        if twin is None:
            connection.execute(sa.text("UPDATE claims SET head_type_id = :n WHERE id = :i"), {"n": new.id, "i": claim.id})
            continue
        note = twin.note if not claim.note else (f"{twin.note}; {claim.note}" if twin.note else claim.note)
        connection.execute(
            sa.text("UPDATE claims SET source = :s, note = :note WHERE id = :i"),
            {"s": f"{twin.source}; as {old.name}: {claim.source}", "note": note, "i": twin.id},
        )
        connection.execute(sa.text("DELETE FROM claims WHERE id = :i"), {"i": claim.id})

    links = connection.execute(
        sa.text("SELECT paper_id, position FROM paper_head_types WHERE head_type_id = :o"), {"o": old.id}
    ).all()
    for link in links:
        if _one(connection, "SELECT 1 FROM paper_head_types WHERE paper_id = :p AND head_type_id = :n", p=link.paper_id, n=new.id):
            connection.execute(sa.text("DELETE FROM paper_head_types WHERE paper_id = :p AND head_type_id = :o"),
                               {"p": link.paper_id, "o": old.id})
        else:
            connection.execute(sa.text("UPDATE paper_head_types SET head_type_id = :n WHERE paper_id = :p AND head_type_id = :o"),
                               {"n": new.id, "p": link.paper_id, "o": old.id})

    for table in ("head_scores", "head_labels"):
        clash = _one(
            connection,
            f"SELECT a.run_id FROM {table} a JOIN {table} b ON a.run_id = b.run_id AND a.head_id = b.head_id "
            "WHERE a.head_type_id = :o AND b.head_type_id = :n",
            o=old.id, n=new.id,
        )
        if clash is not None:
            raise RuntimeError(
                f"detector run {clash.run_id} stored {table} for both {old.slug!r} and {new.slug!r}, which this "
                "migration merges; delete that run (or one of its types' rows) and upgrade again"
            )
        connection.execute(sa.text(f"UPDATE {table} SET head_type_id = :n WHERE head_type_id = :o"), {"n": new.id, "o": old.id})
    connection.execute(sa.text("UPDATE validation_results SET head_type = :n WHERE head_type = :o"),
                       {"n": new.slug, "o": old.slug})

    connection.execute(sa.text("UPDATE head_type_aliases SET head_type_id = :n WHERE head_type_id = :o"), {"n": new.id, "o": old.id})
    taken = {row.alias for row in connection.execute(sa.text("SELECT alias FROM head_type_aliases"))}
    for alias in (old.name, old.slug):
        if alias not in taken:
            connection.execute(sa.text("INSERT INTO head_type_aliases (head_type_id, alias) VALUES (:n, :a)"), {"n": new.id, "a": alias})
            taken.add(alias)
    merged = json.loads(new.merged) if isinstance(new.merged, str) else list(new.merged or [])
    merged.append({"slug": old.slug, "name": old.name, "reason": REASON, "description": old.description})
    connection.execute(sa.text("DELETE FROM head_types WHERE id = :o"), {"o": old.id})
    head_types = sa.table("head_types", sa.column("id", sa.Integer), sa.column("merged", sa.JSON))
    connection.execute(head_types.update().where(head_types.c.id == new.id).values(merged=merged))


def upgrade() -> None:
    connection = op.get_bind()

    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.add_column(sa.Column("published_in", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("venue_year", sa.Integer(), nullable=True))
        batch_op.add_column(sa.Column("missing", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("sources", sa.JSON(), nullable=True))
        batch_op.alter_column("venue", existing_type=sa.String(length=200), nullable=True)
    papers = sa.table("papers", sa.column("id", sa.Integer), sa.column("venue", sa.String), sa.column("arxiv_id", sa.String),
                      sa.column("published_in", sa.String), sa.column("venue_year", sa.Integer),
                      sa.column("missing", sa.JSON), sa.column("sources", sa.JSON), sa.column("content_hash", sa.String))
    for row in connection.execute(sa.select(papers.c.id, papers.c.venue, papers.c.arxiv_id)).all():
        years = [word for word in (row.venue or "").split() if word.isdigit() and len(word) == 4]
        if years:  # "ICLR 2024": a venue; the first version's place is not known here (ingest fills it)
            values = {"published_in": "arXiv" if row.arxiv_id else row.venue, "venue_year": int(years[-1])}
        else:  # "arXiv", "LessWrong": where it appeared, not a peer-reviewed venue
            values = {"published_in": row.venue or "unknown", "venue": None}
        connection.execute(papers.update().where(papers.c.id == row.id).values(missing={}, sources={}, content_hash="", **values))
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.alter_column("published_in", existing_type=sa.String(length=200), nullable=False)
        batch_op.alter_column("missing", existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("sources", existing_type=sa.JSON(), nullable=False)

    with op.batch_alter_table("head_types", schema=None) as batch_op:
        batch_op.add_column(sa.Column("kind", sa.String(length=32), nullable=True))
        batch_op.add_column(sa.Column("kind_note", sa.Text(), nullable=True))
        batch_op.add_column(sa.Column("placement", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("merged", sa.JSON(), nullable=True))
        batch_op.add_column(sa.Column("distinct_from", sa.JSON(), nullable=True))
    head_types = sa.table("head_types", sa.column("id", sa.Integer), sa.column("stage", sa.String), sa.column("kind", sa.String),
                          sa.column("placement", sa.JSON), sa.column("merged", sa.JSON), sa.column("distinct_from", sa.JSON))
    for row in connection.execute(sa.select(head_types.c.id, head_types.c.stage)).all():
        placement = {"by": "survey"} if row.stage else {"by": "unplaced", "reason": "not placed yet"}
        connection.execute(head_types.update().where(head_types.c.id == row.id)
                           .values(kind="mechanistic", placement=placement, merged=[], distinct_from=[]))
    with op.batch_alter_table("head_types", schema=None) as batch_op:
        for column in ("placement", "merged", "distinct_from"):
            batch_op.alter_column(column, existing_type=sa.JSON(), nullable=False)
        batch_op.alter_column("kind", existing_type=sa.String(length=32), nullable=False)
        batch_op.create_check_constraint(
            "kind", "kind IN ('mechanistic', 'intervention-selected', 'score-selected')"
        )

    for old_slug, new_slug in MERGES.items():
        old = _one(connection, "SELECT id, slug, name, description FROM head_types WHERE slug = :s", s=old_slug)
        if old is None:
            continue
        new = _one(connection, "SELECT id, slug, name, merged FROM head_types WHERE slug = :s", s=new_slug)
        if new is None:  # the surviving type is not stored yet: the duplicate becomes it
            connection.execute(sa.text("UPDATE head_types SET slug = :s WHERE id = :i"), {"s": new_slug, "i": old.id})
            connection.execute(sa.text("INSERT INTO head_type_aliases (head_type_id, alias) VALUES (:i, :a)"),
                               {"i": old.id, "a": old.slug})
            continue
        _merge(connection, old, new)

    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.add_column(sa.Column("conflict", sa.Text(), nullable=True))

    op.create_table(
        "published_datasets",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("slug", sa.String(length=300), nullable=False),
        sa.Column("paper_id", sa.Integer(), nullable=False),
        sa.Column("model_id", sa.Integer(), nullable=False),
        sa.Column("head_type_id", sa.Integer(), nullable=True),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("quantity", sa.Text(), nullable=False),
        sa.Column("repository", sa.String(length=1000), nullable=False),
        sa.Column("path", sa.String(length=1000), nullable=False),
        sa.Column("commit", sa.String(length=64), nullable=False),
        sa.Column("derivation", sa.Text(), nullable=False),
        sa.Column("derived_by", sa.String(length=500), nullable=True),
        sa.Column("n_samples", sa.Integer(), nullable=True),
        sa.Column("threshold", sa.Float(), nullable=True),
        sa.Column("threshold_op", sa.String(length=2), nullable=True),
        sa.Column("threshold_source", sa.Text(), nullable=True),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("source_file", sa.String(length=500), nullable=False),
        sa.Column("content_hash", sa.String(length=64), nullable=False),
        sa.CheckConstraint("kind IN ('scores', 'members')", name=op.f("ck_published_datasets_kind")),
        sa.CheckConstraint("threshold_op IS NULL OR threshold_op IN ('>', '>=')", name=op.f("ck_published_datasets_threshold_op")),
        sa.ForeignKeyConstraint(["head_type_id"], ["head_types.id"], name=op.f("fk_published_datasets_head_type_id_head_types"),
                                ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["model_id"], ["models.id"], name=op.f("fk_published_datasets_model_id_models"), ondelete="RESTRICT"),
        sa.ForeignKeyConstraint(["paper_id"], ["papers.id"], name=op.f("fk_published_datasets_paper_id_papers"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_published_datasets")),
        sa.UniqueConstraint("slug", name=op.f("uq_published_datasets_slug")),
    )
    with op.batch_alter_table("published_datasets", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_published_datasets_head_type_id"), ["head_type_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_published_datasets_model_id"), ["model_id"], unique=False)
        batch_op.create_index(batch_op.f("ix_published_datasets_paper_id"), ["paper_id"], unique=False)
    op.create_table(
        "published_values",
        sa.Column("dataset_id", sa.Integer(), nullable=False),
        sa.Column("head_id", sa.Integer(), nullable=False),
        sa.Column("value", sa.Float(), nullable=False),
        sa.Column("role", sa.String(length=300), nullable=True),
        sa.ForeignKeyConstraint(["dataset_id"], ["published_datasets.id"], name=op.f("fk_published_values_dataset_id_published_datasets"),
                                ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["head_id"], ["heads.id"], name=op.f("fk_published_values_head_id_heads"), ondelete="RESTRICT"),
        sa.PrimaryKeyConstraint("dataset_id", "head_id", name=op.f("pk_published_values")),
    )
    with op.batch_alter_table("published_values", schema=None) as batch_op:
        batch_op.create_index(batch_op.f("ix_published_values_head_id"), ["head_id"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("published_values", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_published_values_head_id"))
    op.drop_table("published_values")
    with op.batch_alter_table("published_datasets", schema=None) as batch_op:
        batch_op.drop_index(batch_op.f("ix_published_datasets_paper_id"))
        batch_op.drop_index(batch_op.f("ix_published_datasets_model_id"))
        batch_op.drop_index(batch_op.f("ix_published_datasets_head_type_id"))
    op.drop_table("published_datasets")

    with op.batch_alter_table("claims", schema=None) as batch_op:
        batch_op.drop_column("conflict")

    with op.batch_alter_table("head_types", schema=None) as batch_op:
        batch_op.drop_constraint(op.f("ck_head_types_kind"), type_="check")
        batch_op.drop_column("distinct_from")
        batch_op.drop_column("merged")
        batch_op.drop_column("placement")
        batch_op.drop_column("kind_note")
        batch_op.drop_column("kind")

    # The old schema's venue held "venue or source": the peer-reviewed venue where there is one,
    # else where the paper appeared.
    op.execute("UPDATE papers SET venue = published_in WHERE venue IS NULL")
    op.execute("UPDATE papers SET content_hash = ''")
    with op.batch_alter_table("papers", schema=None) as batch_op:
        batch_op.alter_column("venue", existing_type=sa.String(length=200), nullable=False)
        batch_op.drop_column("sources")
        batch_op.drop_column("missing")
        batch_op.drop_column("venue_year")
        batch_op.drop_column("published_in")
