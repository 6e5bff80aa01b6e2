"""All models, imported here so Alembic and ``Base.metadata`` see every table."""

from backend.db.models.admin import AdminUser, ApiToken, AuditEntry
from backend.db.models.base import Base
from backend.db.models.braze_log import BrazeRequestRecord
from backend.db.models.config import (
    BrazeConnection,
    Property,
    SigningKey,
    Subscription,
    SubscriptionChannel,
)
from backend.db.models.preferences import (
    EmailCode,
    LedgerEntry,
    LedgerHead,
    MailMessage,
    OutboxEntry,
    Preference,
    Subject,
)
from backend.db.models.profiles import Profile, Segment, SegmentMember
from backend.db.models.rights import (
    InstallationSecret,
    ReconcileState,
    RightsExport,
    RightsRequest,
    Suppression,
)
from backend.db.models.sync import (
    ExportGoal,
    ExportProfileState,
    ImportGoal,
    ImportRowState,
    SyncConnection,
    SyncRun,
    SyncRunError,
)

__all__ = [
    "AdminUser",
    "ApiToken",
    "AuditEntry",
    "Base",
    "BrazeConnection",
    "BrazeRequestRecord",
    "EmailCode",
    "ExportGoal",
    "ExportProfileState",
    "ImportGoal",
    "ImportRowState",
    "InstallationSecret",
    "LedgerEntry",
    "LedgerHead",
    "MailMessage",
    "OutboxEntry",
    "Preference",
    "Profile",
    "Property",
    "ReconcileState",
    "RightsExport",
    "RightsRequest",
    "Segment",
    "SegmentMember",
    "SigningKey",
    "Subject",
    "Subscription",
    "SubscriptionChannel",
    "Suppression",
    "SyncConnection",
    "SyncRun",
    "SyncRunError",
]
