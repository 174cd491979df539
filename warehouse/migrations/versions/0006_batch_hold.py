"""held batches (ops.batch_hold)

Revision ID: 0006
Revises: 0003
Create Date: 2026-12-01 10:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0006'
down_revision = '0003'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('batch_hold',
    sa.Column('source', sa.String(length=64), nullable=False),
    sa.Column('run_id', sa.String(length=256), nullable=False),
    sa.Column('run_date', sa.Date(), nullable=False, comment='the landing partition held'),
    sa.Column('reason', sa.Text(), nullable=False, comment='the batch rule and what it saw'),
    sa.Column('held_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('released_at', sa.DateTime(timezone=True), nullable=True, comment='when the batch was validated again and loaded'),
    sa.Column('release_reason', sa.Text(), nullable=True),
    sa.PrimaryKeyConstraint('source', 'run_id'),
    schema='ops'
    )


def downgrade() -> None:
    op.drop_table('batch_hold', schema='ops')
