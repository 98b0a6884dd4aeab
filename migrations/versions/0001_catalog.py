"""Catalog: head types and aliases, papers with links and head types, models, heads, claims.

Revision ID: 0001
Revises: 
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('head_types',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=80), nullable=False),
    sa.Column('name', sa.String(length=200), nullable=False),
    sa.Column('stage', sa.String(length=8), nullable=True),
    sa.Column('group', sa.String(length=200), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.Column('model_families', sa.JSON(), nullable=False),
    sa.CheckConstraint("stage IS NULL OR stage IN ('KR', 'ICI', 'LR', 'EP')", name=op.f('ck_head_types_stage')),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_head_types')),
    sa.UniqueConstraint('name', name=op.f('uq_head_types_name')),
    sa.UniqueConstraint('slug', name=op.f('uq_head_types_slug'))
    )
    with op.batch_alter_table('head_types', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_head_types_stage'), ['stage'], unique=False)
    op.create_table('models',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('name', sa.String(length=300), nullable=False),
    sa.Column('family', sa.String(length=100), nullable=True),
    sa.Column('source', sa.String(length=1000), nullable=True),
    sa.Column('revision', sa.String(length=100), nullable=True),
    sa.Column('weights_fingerprint', sa.String(length=64), nullable=True),
    sa.Column('architecture', sa.String(length=100), nullable=True),
    sa.Column('n_layers', sa.Integer(), nullable=True),
    sa.Column('n_heads', sa.Integer(), nullable=True),
    sa.Column('n_kv_heads', sa.Integer(), nullable=True),
    sa.Column('d_model', sa.Integer(), nullable=True),
    sa.Column('d_head', sa.Integer(), nullable=True),
    sa.Column('d_vocab', sa.Integer(), nullable=True),
    sa.Column('n_params', sa.Integer(), nullable=True),
    sa.Column('description', sa.Text(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_models')),
    sa.UniqueConstraint('name', name=op.f('uq_models_name'))
    )
    op.create_table('papers',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('slug', sa.String(length=200), nullable=False),
    sa.Column('title', sa.String(length=500), nullable=False),
    sa.Column('published_date', sa.Date(), nullable=False),
    sa.Column('date_precision', sa.String(length=8), nullable=False),
    sa.Column('venue', sa.String(length=200), nullable=False),
    sa.Column('arxiv_id', sa.String(length=32), nullable=True),
    sa.Column('authors', sa.JSON(), nullable=False),
    sa.Column('innovation', sa.Text(), nullable=False),
    sa.Column('tasks', sa.Text(), nullable=False),
    sa.Column('significant_result', sa.Text(), nullable=False),
    sa.Column('source_file', sa.String(length=500), nullable=False),
    sa.Column('content_hash', sa.String(length=64), nullable=False),
    sa.Column('updated_at', sa.DateTime(), nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_papers')),
    sa.UniqueConstraint('arxiv_id', name=op.f('uq_papers_arxiv_id')),
    sa.UniqueConstraint('slug', name=op.f('uq_papers_slug')),
    sa.UniqueConstraint('title', name=op.f('uq_papers_title'))
    )
    with op.batch_alter_table('papers', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_papers_published_date'), ['published_date'], unique=False)
        batch_op.create_index(batch_op.f('ix_papers_venue'), ['venue'], unique=False)
    op.create_table('head_type_aliases',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('head_type_id', sa.Integer(), nullable=False),
    sa.Column('alias', sa.String(length=200), nullable=False),
    sa.ForeignKeyConstraint(['head_type_id'], ['head_types.id'], name=op.f('fk_head_type_aliases_head_type_id_head_types'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_head_type_aliases')),
    sa.UniqueConstraint('alias', name=op.f('uq_head_type_aliases_alias'))
    )
    with op.batch_alter_table('head_type_aliases', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_head_type_aliases_head_type_id'), ['head_type_id'], unique=False)
    op.create_table('heads',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('layer', sa.Integer(), nullable=False),
    sa.Column('head', sa.Integer(), nullable=False),
    sa.CheckConstraint('layer >= 0 AND head >= 0', name=op.f('ck_heads_coordinates')),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_heads_model_id_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_heads')),
    sa.UniqueConstraint('model_id', 'layer', 'head', name=op.f('uq_heads_model_id_layer_head'))
    )
    op.create_table('paper_head_types',
    sa.Column('paper_id', sa.Integer(), nullable=False),
    sa.Column('head_type_id', sa.Integer(), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['head_type_id'], ['head_types.id'], name=op.f('fk_paper_head_types_head_type_id_head_types'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['paper_id'], ['papers.id'], name=op.f('fk_paper_head_types_paper_id_papers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('paper_id', 'head_type_id', name=op.f('pk_paper_head_types'))
    )
    with op.batch_alter_table('paper_head_types', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_paper_head_types_head_type_id'), ['head_type_id'], unique=False)
    op.create_table('paper_links',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('paper_id', sa.Integer(), nullable=False),
    sa.Column('url', sa.String(length=1000), nullable=False),
    sa.Column('kind', sa.String(length=32), nullable=False),
    sa.Column('position', sa.Integer(), nullable=False),
    sa.ForeignKeyConstraint(['paper_id'], ['papers.id'], name=op.f('fk_paper_links_paper_id_papers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_paper_links')),
    sa.UniqueConstraint('paper_id', 'url', name=op.f('uq_paper_links_paper_id_url'))
    )
    op.create_table('claims',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('paper_id', sa.Integer(), nullable=False),
    sa.Column('head_id', sa.Integer(), nullable=False),
    sa.Column('head_type_id', sa.Integer(), nullable=True),
    sa.Column('role', sa.String(length=300), nullable=True),
    sa.Column('note', sa.Text(), nullable=True),
    sa.Column('source', sa.Text(), nullable=False),
    sa.Column('confidence', sa.String(length=8), nullable=False),
    sa.CheckConstraint("confidence IN ('high', 'medium', 'low')", name=op.f('ck_claims_confidence')),
    sa.CheckConstraint('head_type_id IS NOT NULL OR role IS NOT NULL', name=op.f('ck_claims_type_or_role')),
    sa.ForeignKeyConstraint(['head_id'], ['heads.id'], name=op.f('fk_claims_head_id_heads'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['head_type_id'], ['head_types.id'], name=op.f('fk_claims_head_type_id_head_types'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['paper_id'], ['papers.id'], name=op.f('fk_claims_paper_id_papers'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_claims')),
    sa.UniqueConstraint('paper_id', 'head_id', 'head_type_id', 'role', name=op.f('uq_claims_paper_id_head_id_head_type_id_role'))
    )
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_claims_head_id'), ['head_id'], unique=False)
        batch_op.create_index('ix_claims_head_type_head', ['head_type_id', 'head_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_claims_paper_id'), ['paper_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('claims', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_claims_paper_id'))
        batch_op.drop_index('ix_claims_head_type_head')
        batch_op.drop_index(batch_op.f('ix_claims_head_id'))
    op.drop_table('claims')
    op.drop_table('paper_links')
    with op.batch_alter_table('paper_head_types', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_paper_head_types_head_type_id'))
    op.drop_table('paper_head_types')
    op.drop_table('heads')
    with op.batch_alter_table('head_type_aliases', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_head_type_aliases_head_type_id'))
    op.drop_table('head_type_aliases')
    with op.batch_alter_table('papers', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_papers_venue'))
        batch_op.drop_index(batch_op.f('ix_papers_published_date'))
    op.drop_table('papers')
    op.drop_table('models')
    with op.batch_alter_table('head_types', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_head_types_stage'))
    op.drop_table('head_types')
