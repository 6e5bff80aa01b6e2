"""Reading a configuration file: YAML or JSON, strict about duplicates, ``${VAR}`` filled in."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from backend.domain.config_document import interpolate
from backend.domain.errors import ValidationError


class _StrictYamlLoader(yaml.SafeLoader):
    """Safe YAML that refuses duplicate keys, which PyYAML would otherwise silently merge."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r}", key_node.start_mark
                )
            seen.add(key if isinstance(key, str) else id(key))
        return super().construct_mapping(node, deep=deep)


def _json_pairs(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    keys = [k for k, _ in pairs]
    duplicates = sorted({k for k in keys if keys.count(k) > 1})
    if duplicates:
        raise ValueError(f"duplicate key {duplicates[0]!r}")
    return dict(pairs)


def _load_json(text: str, name: str) -> Any:
    try:
        return json.loads(text, object_pairs_hook=_json_pairs)
    except json.JSONDecodeError as exc:
        raise ValidationError(
            f"{name}: not valid JSON: {exc.msg} at line {exc.lineno}, column {exc.colno}"
        ) from None
    except ValueError as exc:
        raise ValidationError(f"{name}: not valid JSON: {exc}") from None


def _load_yaml(text: str, name: str) -> Any:
    try:
        return yaml.load(text, Loader=_StrictYamlLoader)  # noqa: S506  (a SafeLoader subclass)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        raise ValidationError(f"{name}: not valid YAML: {problem}{where}") from None


def read_configuration_file(path: str, environ: Mapping[str, str]) -> dict[str, Any]:
    """Read YAML or JSON (by extension; otherwise JSON, then YAML) and fill in ``${VARS}``."""
    name = path
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ValidationError(f"{path}: no such file") from None
    except UnicodeDecodeError:
        raise ValidationError(f"{path}: not UTF-8 text") from None
    except OSError as exc:
        raise ValidationError(f"{path}: cannot read: {exc.strerror or exc}") from None
    suffix = Path(path).suffix.lower()
    if suffix == ".json":
        raw = _load_json(text, name)
    elif suffix in (".yaml", ".yml"):
        raw = _load_yaml(text, name)
    else:
        try:
            raw = _load_json(text, name)
        except ValidationError:
            raw = _load_yaml(text, name)  # YAML's error is the useful one for non-JSON text
    if raw is None:
        raise ValidationError(f"{name}: the file is empty")
    if not isinstance(raw, dict):
        raise ValidationError(f"{name}: expected a mapping of sections such as braze_connections")
    result: dict[str, Any] = interpolate(raw, environ)
    return result
