from dataclasses import replace

from backend.db.models import BrazeConnection
from backend.integrations.secret_box import SecretBox
from backend.services.deps import Deps
from backend.services.key_rotation import rotate_encryption
from backend.wiring import build_deps


def test_rotation_re_encrypts_with_the_newest_key(deps: Deps) -> None:
    with deps.session() as session:
        session.add(
            BrazeConnection(
                code="main",
                name="Main",
                rest_endpoint="https://rest.iad-01.braze.com",
                api_key_encrypted=deps.secrets.encrypt("braze-key-1"),
            )
        )
    rotated_settings = replace(
        deps.settings, encryption_key="brand-new-key," + deps.settings.encryption_key
    )
    rotated_deps = build_deps(rotated_settings, jobs=deps.jobs)
    assert rotate_encryption(rotated_deps).rotated == 1
    with deps.session() as session:
        stored = session.query(BrazeConnection).one().api_key_encrypted
    assert SecretBox("brand-new-key").decrypt(stored) == "braze-key-1"
