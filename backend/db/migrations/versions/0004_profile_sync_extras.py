"""profile sync extras: one active run per goal (partial unique index), run look-ups by goal

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23 19:30:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = '0004'
down_revision = '0003'
branch_labels = None
depends_on = None

# A run holds its goal while queued or running, and while a cancellation is being acknowledged.
ACTIVE = "status IN ('queued', 'running') OR (status = 'cancelled' AND finished_at IS NULL)"


def upgrade() -> None:
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.create_index(
            'uq_sync_runs_active_goal',
            ['goal_kind', 'goal_id'],
            unique=True,
            sqlite_where=sa.text(ACTIVE),
            postgresql_where=sa.text(ACTIVE),
        )
        batch_op.create_index('ix_sync_runs_goal', ['goal_kind', 'goal_id', 'id'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('sync_runs', schema=None) as batch_op:
        batch_op.drop_index('ix_sync_runs_goal')
        batch_op.drop_index('uq_sync_runs_active_goal')
