"""preference center: unsubscribe-all flag and global Braze states per subject; outbox status index

Revision ID: 0005
Revises: 0002
Create Date: 2026-11-23 19:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import backend.db.models.base
from sqlalchemy.dialects import postgresql

revision = '0005'
down_revision = '0002'
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.add_column(sa.Column('unsubscribed_all_at', backend.db.models.base.UTCDateTime(timezone=True), nullable=True))
        batch_op.add_column(sa.Column('global_states', sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql'), nullable=True))
    with op.batch_alter_table('outbox_entries', schema=None) as batch_op:
        batch_op.create_index('ix_outbox_status', ['status', 'next_attempt_at'], unique=False)


def downgrade() -> None:
    with op.batch_alter_table('outbox_entries', schema=None) as batch_op:
        batch_op.drop_index('ix_outbox_status')
    with op.batch_alter_table('subjects', schema=None) as batch_op:
        batch_op.drop_column('global_states')
        batch_op.drop_column('unsubscribed_all_at')
