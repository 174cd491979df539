"""when each version entered staging (staging.record_version.staged_at)

Incremental resolution and publication read the versions staged since their last run; a
record released from quarantine is staged long after it landed, so selecting by landed_at
missed it. Existing versions were staged when they landed.

Revision ID: 0009
Revises: 0006
Create Date: 2026-12-01 12:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0009'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column('record_version', sa.Column(
        'staged_at', sa.DateTime(timezone=True), nullable=True,
        comment='when this version entered staging (a replay stages it after it landed)'),
        schema='staging')
    op.execute("UPDATE staging.record_version SET staged_at = landed_at")
    op.alter_column('record_version', 'staged_at', nullable=False, schema='staging')


def downgrade() -> None:
    op.drop_column('record_version', 'staged_at', schema='staging')
