"""The ``segments`` section: a named rule over profile properties and memberships, or a list.

```yaml
segments:
  - {code: vip, name: VIP customers, rule: {all: [{property: tier, op: eq, value: gold}]}}
  - {code: testers, name: Testers, static: true, members: [u1, u2]}   # external ids
```
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from backend.domain.config_registry import ParseContext, Reference, Section, register_section
from backend.domain.config_schema import Problems, Reader, join, unique_strings
from backend.domain.config_specs import CODE_HINT, CODE_RE
from backend.domain.segment_rules import parse_rule, rule_to_dict

NAME = "segments"
KEYS = ("code", "name", "rule", "static", "members")
MAX_STATIC_MEMBERS = 10_000


@dataclass(frozen=True)
class SegmentSpec:
    code: str
    name: str
    # The canonical rule (``rule_to_dict``); None for a static segment.
    rule: dict[str, Any] | None = None
    static: bool = False
    # External ids of a static segment's members, sorted.
    members: tuple[str, ...] = ()


def _member_problem(value: str) -> str | None:
    if not value.strip() or len(value) > 255:
        return "external ids are 1 to 255 characters"
    if any(ord(ch) < 32 for ch in value):
        return "must not contain control characters"
    return None


def parse(value: Any, path: str, problems: Problems, ctx: ParseContext) -> SegmentSpec | None:
    reader = Reader.of(value, path, problems, KEYS)
    if reader is None:
        return None
    before = len(problems.errors)
    code = reader.text("code", max_length=64, pattern=CODE_RE, hint=CODE_HINT)
    name = reader.text("name")
    static = reader.flag("static", False)
    rule: dict[str, Any] | None = None
    members: list[str] = []
    if static:
        if reader.has("rule"):
            reader.problem("rule", "a static segment lists its members; it takes no rule")
        members = unique_strings(
            reader.items("members", max_items=MAX_STATIC_MEMBERS), problems, _member_problem
        )
    else:
        if reader.has("members"):
            reader.problem("members", "only a static segment (static: true) lists members")
        if not reader.has("rule"):
            reader.problem("rule", "required (or static: true with members)")
        else:
            parsed = parse_rule(reader.get("rule"), reader.at("rule"), problems)
            if parsed is not None:
                rule = rule_to_dict(parsed)
                for ref_path, ref in memberships(rule, reader.at("rule")):
                    if ref == code:
                        problems.add(ref_path, "a segment cannot be a condition of itself")
                    else:
                        problems.refer(ref_path, NAME, ref)
    if len(problems.errors) > before:
        return None
    assert code and name
    return SegmentSpec(code, name, rule, static, tuple(sorted(members)))


def memberships(rule: Any, path: str = "rule") -> list[tuple[str, str]]:
    """(path, segment code) of every membership condition of a canonical rule."""
    found: list[tuple[str, str]] = []
    if not isinstance(rule, dict):
        return found
    if "segment" in rule:
        found.append((join(path, "segment"), str(rule["segment"])))
    for key in ("all", "any"):
        for i, item in enumerate(rule.get(key) or ()):
            found.extend(memberships(item, join(join(path, key), i)))
    if "not" in rule:
        found.extend(memberships(rule["not"], join(path, "not")))
    return found


def serialise(spec: SegmentSpec) -> dict[str, Any]:
    if spec.static:
        return {"code": spec.code, "name": spec.name, "static": True, "members": list(spec.members)}
    return {"code": spec.code, "name": spec.name, "rule": spec.rule}


def references(spec: SegmentSpec) -> list[Reference]:
    # Paths are relative to the entry, as the registry expects.
    return [
        Reference(ref_path, NAME, code) for ref_path, code in memberships(spec.rule or {}, "rule")
    ]


SECTION = register_section(
    Section(
        name=NAME,
        kind="segment",
        label="segment",
        order=40,
        parse=parse,
        serialise=serialise,
        references=references,
    )
)
