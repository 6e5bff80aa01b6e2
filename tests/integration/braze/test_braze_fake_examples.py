"""Every real Braze request body we collected must get the documented verdict from the fake.

The examples (tests/fakes/braze_examples/*.json) come from Braze's docs and from RudderStack's
Braze destination tests; their README explains ``setup``, ``expect`` and ``expect_with_flags``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fakes.braze_fake import FLAGS, BrazeFake

pytestmark = pytest.mark.integration

EXAMPLES_DIR = Path(__file__).resolve().parents[2] / "fakes" / "braze_examples"


def load_examples() -> list[Any]:
    cases = []
    for path in sorted(EXAMPLES_DIR.glob("*.json")):
        for number, example in enumerate(json.loads(path.read_text())["examples"]):
            case_id = f"{path.stem}[{number}] {example['name']}"
            cases.append(pytest.param(example, None, id=case_id))
            for flag in example.get("expect_with_flags") or {}:
                cases.append(pytest.param(example, flag, id=f"{case_id} {flag}"))
    return cases


EXAMPLES = load_examples()


def test_both_example_files_are_present_and_non_trivial() -> None:
    assert {p.name for p in EXAMPLES_DIR.glob("*.json")} == {
        "braze_docs_examples.json",
        "rudderstack_braze_payloads.json",
    }
    assert len(EXAMPLES) > 60


def prepare(fake: BrazeFake, example: dict[str, Any], flag: str | None) -> None:
    setup = example.get("setup") or {}
    for group in setup.get("subscription_groups", []):
        fake.add_subscription_group(group["id"], group["channel"])
    # Declared groups are checked strictly, so a wrong setup (or channel) would fail the case.
    fake.strict_groups = bool(setup.get("subscription_groups"))
    for segment in setup.get("segments", []):
        fake.add_segment(segment["id"], segment["name"], segment.get("members", []))
    if flag is not None:
        assert flag in FLAGS, f"example uses a flag the fake does not know: {flag}"
        fake.configure_flag(flag)


@pytest.mark.parametrize(("example", "flag"), EXAMPLES)
def test_example_gets_its_documented_verdict(
    braze_fake: BrazeFake, example: dict[str, Any], flag: str | None
) -> None:
    prepare(braze_fake, example, flag)
    expect = example["expect"] if flag is None else example["expect_with_flags"][flag]
    url = braze_fake.url + example["path"]
    if example.get("query"):
        url += "?" + example["query"]
    response = requests.request(
        example["method"],
        url,
        json=example.get("body") if example["method"] == "POST" else None,
        headers={"Authorization": f"Bearer {braze_fake.api_key}"},
        timeout=5,
    )
    body = response.json()
    if expect["accepted"]:
        assert 200 <= response.status_code < 300, body
        assert "errors" not in body, body
    else:
        assert 400 <= response.status_code < 500, body
    if "status" in expect:
        assert response.status_code == expect["status"]
    if "response" in expect:
        assert body == expect["response"]
    for key in expect.get("response_keys", []):
        assert key in body, f"{key} missing from {body}"
    assert braze_fake.requests[-1].status == response.status_code
