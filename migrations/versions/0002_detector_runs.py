"""Detector runs with per-head scores and labels.

Revision ID: 0002
Revises: 0001
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = '0001'
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table('detector_runs',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('model_id', sa.Integer(), nullable=False),
    sa.Column('detector', sa.String(length=100), nullable=False),
    sa.Column('detector_version', sa.String(length=32), nullable=False),
    sa.Column('config', sa.JSON(), nullable=False),
    sa.Column('config_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('data_fingerprint', sa.String(length=64), nullable=False),
    sa.Column('weights_fingerprint', sa.String(length=64), nullable=True),
    sa.Column('library_versions', sa.JSON(), nullable=False),
    sa.Column('device', sa.String(length=32), nullable=False),
    sa.Column('dtype', sa.String(length=32), nullable=False),
    sa.Column('started_at', sa.DateTime(), nullable=False),
    sa.Column('finished_at', sa.DateTime(), nullable=True),
    sa.Column('duration_s', sa.Float(), nullable=True),
    sa.Column('status', sa.String(length=16), nullable=False),
    sa.Column('error', sa.Text(), nullable=True),
    sa.CheckConstraint("status IN ('succeeded', 'failed')", name=op.f('ck_detector_runs_status')),
    sa.ForeignKeyConstraint(['model_id'], ['models.id'], name=op.f('fk_detector_runs_model_id_models'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_detector_runs'))
    )
    with op.batch_alter_table('detector_runs', schema=None) as batch_op:
        batch_op.create_index('ix_detector_runs_lookup', ['model_id', 'detector', 'detector_version', 'status'], unique=False)
    op.create_table('head_labels',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('head_type_id', sa.Integer(), nullable=False),
    sa.Column('head_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.ForeignKeyConstraint(['head_id'], ['heads.id'], name=op.f('fk_head_labels_head_id_heads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['head_type_id'], ['head_types.id'], name=op.f('fk_head_labels_head_type_id_head_types'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['run_id'], ['detector_runs.id'], name=op.f('fk_head_labels_run_id_detector_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'head_type_id', 'head_id', name=op.f('pk_head_labels'))
    )
    with op.batch_alter_table('head_labels', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_head_labels_head_id'), ['head_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_head_labels_head_type_id'), ['head_type_id'], unique=False)
    op.create_table('head_scores',
    sa.Column('run_id', sa.Integer(), nullable=False),
    sa.Column('head_type_id', sa.Integer(), nullable=False),
    sa.Column('head_id', sa.Integer(), nullable=False),
    sa.Column('score', sa.Float(), nullable=False),
    sa.Column('rank', sa.Integer(), nullable=False),
    sa.Column('components', sa.JSON(), nullable=True),
    sa.ForeignKeyConstraint(['head_id'], ['heads.id'], name=op.f('fk_head_scores_head_id_heads'), ondelete='CASCADE'),
    sa.ForeignKeyConstraint(['head_type_id'], ['head_types.id'], name=op.f('fk_head_scores_head_type_id_head_types'), ondelete='RESTRICT'),
    sa.ForeignKeyConstraint(['run_id'], ['detector_runs.id'], name=op.f('fk_head_scores_run_id_detector_runs'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('run_id', 'head_type_id', 'head_id', name=op.f('pk_head_scores'))
    )
    with op.batch_alter_table('head_scores', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_head_scores_head_id'), ['head_id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('head_scores', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_head_scores_head_id'))
    op.drop_table('head_scores')
    with op.batch_alter_table('head_labels', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_head_labels_head_type_id'))
        batch_op.drop_index(batch_op.f('ix_head_labels_head_id'))
    op.drop_table('head_labels')
    with op.batch_alter_table('detector_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_detector_runs_lookup')
    op.drop_table('detector_runs')
