"""indicator history, grid-hotline links, indicator runs

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-01 12:50:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None

TS = sa.DateTime(timezone=True)


def upgrade() -> None:
    op.add_column('indicator_value', sa.Column(
        'period_end', sa.Date(), nullable=True,
        comment="the period's last day computed (a month to date runs through the last loaded "
                "day)"), schema='shared')
    op.create_table('indicator_value_history',
    sa.Column('indicator_code', sa.String(length=64), nullable=False),
    sa.Column('period_kind', sa.String(length=8), nullable=False),
    sa.Column('period_start', sa.Date(), nullable=False),
    sa.Column('period_end', sa.Date(), nullable=True),
    sa.Column('division_code', sa.String(length=12), nullable=False),
    sa.Column('dimension', sa.String(length=64), nullable=True),
    sa.Column('value', sa.Double(), nullable=True, comment='the value before it was replaced'),
    sa.Column('numerator', sa.Double(), nullable=True),
    sa.Column('denominator', sa.Double(), nullable=True),
    sa.Column('computed_at', TS, nullable=False, comment='when the replaced value was computed'),
    sa.Column('run_id', sa.String(length=256), nullable=True, comment='the run that computed the replaced value'),
    sa.Column('replaced_at', TS, nullable=False),
    sa.Column('replaced_by_run', sa.String(length=256), nullable=False),
    schema='shared'
    )
    op.create_index('ix_indicator_value_history_key', 'indicator_value_history',
                    ['indicator_code', 'period_kind', 'period_start', 'division_code',
                     'dimension'], unique=False, schema='shared')
    op.create_table('grid_hotline_link',
    sa.Column('event_id', sa.String(length=64), nullable=False),
    sa.Column('ticket_id', sa.String(length=64), nullable=False),
    sa.Column('match_reason', sa.String(length=32), nullable=False, comment='hotline_ticket_id, related_grid_event_id or same_problem'),
    sa.Column('score', sa.Double(), nullable=False, comment='1 for an id link; the text and place similarity of a matched pair'),
    sa.Column('hours_apart', sa.Double(), nullable=True, comment='event reported_at - ticket received_at'),
    sa.Column('community_code', sa.String(length=12), nullable=True, comment="the event's community"),
    sa.Column('run_id', sa.String(length=256), nullable=False),
    sa.Column('linked_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('event_id', 'ticket_id'),
    schema='shared'
    )
    op.create_index('ix_grid_hotline_link_ticket', 'grid_hotline_link', ['ticket_id'],
                    unique=False, schema='shared')
    op.create_table('indicator_run',
    sa.Column('run_id', sa.String(length=256), nullable=False),
    sa.Column('day', sa.Date(), nullable=False, comment='the day computed (and its month to date)'),
    sa.Column('settings_hash', sa.String(length=64), nullable=False, comment='sha256 of settings_json'),
    sa.Column('settings_json', sa.Text(), nullable=False, comment='time limits, weights and scores used (config/indicators.yaml)'),
    sa.Column('rows_written', sa.Integer(), nullable=False),
    sa.Column('rows_revised', sa.Integer(), nullable=False),
    sa.Column('started_at', TS, nullable=False),
    sa.Column('ended_at', TS, nullable=False),
    sa.PrimaryKeyConstraint('run_id', 'day'),
    schema='ops'
    )


def downgrade() -> None:
    op.drop_table('indicator_run', schema='ops')
    op.drop_index('ix_grid_hotline_link_ticket', table_name='grid_hotline_link', schema='shared')
    op.drop_table('grid_hotline_link', schema='shared')
    op.drop_index('ix_indicator_value_history_key', table_name='indicator_value_history',
                  schema='shared')
    op.drop_table('indicator_value_history', schema='shared')
    op.drop_column('indicator_value', 'period_end', schema='shared')
