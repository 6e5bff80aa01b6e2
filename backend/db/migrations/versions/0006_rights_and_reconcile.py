"""rights requests, access exports, suppressions, installation secrets, reconcile state
(merges the profile-sync and preference-center heads)

Revision ID: 0006
Revises: 0004, 0005
Create Date: 2026-11-24 10:00:00.000000
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import backend.db.models.base
from sqlalchemy.dialects import postgresql

revision = '0006'
down_revision = ('0004', '0005')
branch_labels = None
depends_on = None

JSON = sa.JSON().with_variant(postgresql.JSONB(astext_type=sa.Text()), 'postgresql')
UTC = backend.db.models.base.UTCDateTime(timezone=True)


def upgrade() -> None:
    op.create_table('installation_secrets',
    sa.Column('name', sa.String(length=50), nullable=False),
    sa.Column('value_encrypted', sa.Text(), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.PrimaryKeyConstraint('name', name=op.f('pk_installation_secrets'))
    )
    op.create_table('suppressions',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('kind', sa.String(length=12), nullable=False),
    sa.Column('digest', sa.String(length=64), nullable=False),
    sa.Column('reason', sa.String(length=30), nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_suppressions')),
    sa.UniqueConstraint('kind', 'digest', name=op.f('uq_suppressions_kind'))
    )
    op.create_table('reconcile_states',
    sa.Column('connection_id', sa.Integer(), nullable=False),
    sa.Column('last_success_at', UTC, nullable=True),
    sa.Column('last_started_at', UTC, nullable=True),
    sa.Column('last_report', JSON, nullable=True),
    sa.Column('last_error', sa.Text(), nullable=True),
    sa.ForeignKeyConstraint(['connection_id'], ['braze_connections.id'], name=op.f('fk_reconcile_states_connection_id_braze_connections'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('connection_id', name=op.f('pk_reconcile_states'))
    )
    op.create_table('rights_requests',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('public_id', sa.String(length=40), nullable=False),
    sa.Column('type', sa.String(length=10), nullable=False),
    sa.Column('source', sa.String(length=10), nullable=False),
    sa.Column('status', sa.String(length=12), nullable=False),
    sa.Column('subject_id', sa.Integer(), nullable=True),
    sa.Column('subject_key', sa.String(length=36), nullable=True),
    sa.Column('requester_hash', sa.String(length=64), nullable=True),
    sa.Column('external_id', sa.String(length=255), nullable=True),
    sa.Column('email', sa.String(length=254), nullable=True),
    sa.Column('property', sa.String(length=64), nullable=True),
    sa.Column('error', sa.Text(), nullable=True),
    sa.Column('attempts', sa.Integer(), nullable=False),
    sa.Column('progress', JSON, nullable=False),
    sa.Column('download_token_hash', sa.String(length=64), nullable=True),
    sa.Column('download_token_encrypted', sa.Text(), nullable=True),
    sa.Column('download_expires_at', UTC, nullable=True),
    sa.Column('result_location', sa.String(length=300), nullable=True),
    sa.Column('created_at', UTC, nullable=False),
    sa.Column('updated_at', UTC, nullable=False),
    sa.Column('completed_at', UTC, nullable=True),
    sa.ForeignKeyConstraint(['subject_id'], ['subjects.id'], name=op.f('fk_rights_requests_subject_id_subjects'), ondelete='SET NULL'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rights_requests')),
    sa.UniqueConstraint('download_token_hash', name=op.f('uq_rights_requests_download_token_hash')),
    sa.UniqueConstraint('public_id', name=op.f('uq_rights_requests_public_id'))
    )
    with op.batch_alter_table('rights_requests', schema=None) as batch_op:
        batch_op.create_index(batch_op.f('ix_rights_requests_requester_hash'), ['requester_hash'], unique=False)
        batch_op.create_index('ix_rights_requests_status', ['status', 'updated_at'], unique=False)
        batch_op.create_index(batch_op.f('ix_rights_requests_subject_id'), ['subject_id'], unique=False)
        batch_op.create_index(batch_op.f('ix_rights_requests_subject_key'), ['subject_key'], unique=False)

    op.create_table('rights_exports',
    sa.Column('id', sa.Integer(), nullable=False),
    sa.Column('request_id', sa.Integer(), nullable=False),
    sa.Column('document', JSON, nullable=False),
    sa.Column('created_at', UTC, nullable=False),
    sa.ForeignKeyConstraint(['request_id'], ['rights_requests.id'], name=op.f('fk_rights_exports_request_id_rights_requests'), ondelete='CASCADE'),
    sa.PrimaryKeyConstraint('id', name=op.f('pk_rights_exports')),
    sa.UniqueConstraint('request_id', name=op.f('uq_rights_exports_request_id'))
    )


def downgrade() -> None:
    op.drop_table('rights_exports')
    with op.batch_alter_table('rights_requests', schema=None) as batch_op:
        batch_op.drop_index(batch_op.f('ix_rights_requests_subject_key'))
        batch_op.drop_index(batch_op.f('ix_rights_requests_subject_id'))
        batch_op.drop_index('ix_rights_requests_status')
        batch_op.drop_index(batch_op.f('ix_rights_requests_requester_hash'))
    op.drop_table('rights_requests')
    op.drop_table('reconcile_states')
    op.drop_table('suppressions')
    op.drop_table('installation_secrets')
