"""report delivery audit (ops.delivery_attempt)

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01 12:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0008'
down_revision = '0007'
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table('delivery_attempt',
    sa.Column('attempt_id', sa.String(length=36), nullable=False),
    sa.Column('report_date', sa.Date(), nullable=False, comment='the day the report is about'),
    sa.Column('recipient', sa.String(length=128), nullable=False, comment="the recipient's name in the recipients file"),
    sa.Column('channel', sa.String(length=16), nullable=False, comment='email or webhook'),
    sa.Column('target', sa.String(length=512), nullable=False, comment='mail addresses or the webhook URL without its query and credentials'),
    sa.Column('division_code', sa.String(length=12), nullable=True, comment='the division the recipient gets'),
    sa.Column('attempt', sa.Integer(), nullable=False, comment='1 for the first try'),
    sa.Column('status', sa.String(length=16), nullable=False, comment='delivered or failed'),
    sa.Column('detail', sa.Text(), nullable=True, comment='the error, masked, when the attempt failed'),
    sa.Column('started_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('ended_at', sa.DateTime(timezone=True), nullable=False),
    sa.Column('run_id', sa.String(length=256), nullable=False),
    sa.PrimaryKeyConstraint('attempt_id'),
    schema='ops'
    )
    op.create_index('ix_delivery_attempt_day', 'delivery_attempt', ['report_date', 'recipient'],
                    unique=False, schema='ops')


def downgrade() -> None:
    op.drop_index('ix_delivery_attempt_day', table_name='delivery_attempt', schema='ops')
    op.drop_table('delivery_attempt', schema='ops')
