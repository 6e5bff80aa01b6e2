"""outbox: hold_until, so a newer change waits out a request that timed out but may still land

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-07 14:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import backend.db.models.base

revision = '0007'
down_revision = '0006'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('outbox_entries', schema=None) as batch_op:
        batch_op.add_column(sa.Column('hold_until', backend.db.models.base.UTCDateTime(timezone=True), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table('outbox_entries', schema=None) as batch_op:
        batch_op.drop_column('hold_until')
