"""One propagation stack for a trial: a database, our Redis, the Braze fake over HTTP, the real
app saving through the widget API, and helpers comparing Braze's final state with Optline's."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
from flask.testing import FlaskClient
from sqlalchemy import select

from backend.app import create_app
from backend.db import models
from backend.domain.outbox_plan import KIND_GROUP
from backend.services.deps import Deps
from backend.settings import Settings
from backend.wiring import build_deps
from tests.fakes.braze_fake import BrazeFake
from tests.faults.services import RedisProcess, WorkerProcess, start_worker
from tests.integration.preferences.conftest import GROUPS, PROPERTY, auth, configure, token

ENCRYPTION_KEY = "faults-encryption-key"
EMAIL_GROUPS = {k: v for k, v in GROUPS.items() if k[1] == "email"}
STATUS_SET = "/subscription/status/set"
DONE = {"sent", "superseded", "dead"}


@dataclass
class PropagationStack:
    deps: Deps
    client: FlaskClient
    fake: BrazeFake
    redis: RedisProcess
    database_url: str
    instance: Path
    saves: int = 0

    def save(self, sub: str, changes: list[tuple[str, str]]) -> int:
        body = {
            "property": PROPERTY,
            "changes": [
                {"subscription": topic, "channel": "email", "state": state}
                for topic, state in changes
            ],
        }
        self.saves += 1  # one address per save: the per-IP limit is not what is under test
        address = f"10.{self.saves // 65536 % 256}.{self.saves // 256 % 256}.{self.saves % 256}"
        response = self.client.post(
            "/api/public/v1/preferences",
            json=body,
            headers=auth(token(sub)),
            environ_base={"REMOTE_ADDR": address},
        )
        return response.status_code

    def worker(self, **options: Any) -> WorkerProcess:
        return start_worker(
            database_url=self.database_url,
            redis_url=self.redis.url,
            instance=self.instance,
            encryption_key=ENCRYPTION_KEY,
            **options,
        )

    def statuses(self) -> Counter[str]:
        with self.deps.session() as session:
            return Counter(session.scalars(select(models.OutboxEntry.status)))

    def settled(self) -> bool:
        counts = self.statuses()
        return bool(counts) and set(counts) <= DONE

    def wait(self, done: Callable[[], bool], timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if done():
                return True
            time.sleep(0.1)
        return done()

    def expected(self) -> dict[tuple[str, str], str]:
        """(group, external id) -> the state Optline holds now."""
        with self.deps.session() as session:
            rows = session.execute(
                select(
                    models.Subscription.code,
                    models.Preference.channel,
                    models.Subject.external_id,
                    models.Preference.state,
                )
                .join(
                    models.Preference, models.Preference.subscription_id == models.Subscription.id
                )
                .join(models.Subject, models.Subject.id == models.Preference.subject_id)
            ).all()
        return {(GROUPS[(code, ch)], str(ext)): state for code, ch, ext, state in rows}

    def compare(self) -> dict[str, Any]:
        """Lost = a final state Braze does not hold; doubled = (group, id) sent more often than
        outbox rows were marked sent for it (re-sends of an absolute state: harmless, counted)."""
        expected = self.expected()
        lost = {
            key: (state, self.fake.group_state(key[0], external_id=key[1]))
            for key, state in expected.items()
            if self.fake.group_state(key[0], external_id=key[1]) != state
        }
        delivered: Counter[tuple[str, str]] = Counter()
        for req in self.fake.requests_to(STATUS_SET):
            if req.status >= 300 or not isinstance(req.body, dict):
                continue
            for body in req.body.get("subscription_groups", [req.body]):
                for ident in body.get("external_ids") or body.get("external_id") or []:
                    delivered[(body["subscription_group_id"], ident)] += 1
        with self.deps.session() as session:
            sent_rows = Counter(
                (target, ident)
                for target, ident in session.execute(
                    select(models.OutboxEntry.target, models.OutboxEntry.identifier).where(
                        models.OutboxEntry.kind == KIND_GROUP, models.OutboxEntry.status == "sent"
                    )
                )
            )
        resent = sum(max(0, n - sent_rows[key]) for key, n in delivered.items())
        return {
            "expected": len(expected),
            "lost": lost,
            "resent": resent,
            "dead": self.statuses().get("dead", 0),
        }


def build_stack(
    database_url: str, instance: Path, fake: BrazeFake, server: RedisProcess
) -> PropagationStack:
    instance.mkdir(parents=True, exist_ok=True)
    settings = Settings(
        env="development",
        instance_path=instance,
        database_url=database_url,
        redis_url="",
        secret_key="faults-secret-key",
        encryption_key=ENCRYPTION_KEY,
        public_url="http://127.0.0.1:8000",
        allow_custom_braze_endpoints=True,
    )
    conn = redis.Redis.from_url(server.url, socket_connect_timeout=0.5, socket_timeout=2)
    deps = build_deps(settings, redis=conn)
    for group in GROUPS.values():
        fake.add_subscription_group(group)
    configure(deps, fake.url)
    app = create_app(settings, deps)
    app.config["TESTING"] = True
    return PropagationStack(deps, app.test_client(), fake, server, database_url, instance)
