from pathlib import Path

import pytest

from backend.domain.errors import ValidationError
from backend.services.configuration import read_configuration_file
from tests.config_samples import API_KEY, ENVIRON, SAMPLE_YAML


def write(tmp_path: Path, name: str, content: str) -> str:
    path = tmp_path / name
    path.write_text(content, encoding="utf-8")
    return str(path)


def error_of(path: str, environ: dict[str, str] | None = None) -> str:
    with pytest.raises(ValidationError) as caught:
        read_configuration_file(path, environ or {})
    return str(caught.value)


@pytest.mark.parametrize("name", ["optline.yaml", "optline.yml", "optline.conf"])
def test_yaml_is_read_and_interpolated(tmp_path: Path, name: str) -> None:
    doc = read_configuration_file(write(tmp_path, name, SAMPLE_YAML), ENVIRON)
    assert doc["braze_connections"][0]["api_key"] == API_KEY
    assert doc["subscriptions"][0]["name"] == {"en": "Newsletter", "es": "Boletín"}


@pytest.mark.parametrize("name", ["optline.json", "optline.txt"])
def test_json_is_read_and_interpolated(tmp_path: Path, name: str) -> None:
    path = write(tmp_path, name, '{"braze_connections": [{"api_key": "${BRAZE_API_KEY}"}]}')
    assert read_configuration_file(path, ENVIRON) == {"braze_connections": [{"api_key": API_KEY}]}


def test_yaml_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.yaml", "properties:\n  - code: a\n   name: b\n")
    message = error_of(path)
    assert message.startswith(f"{path}: not valid YAML: ")
    assert message.endswith("at line 3, column 4")
    assert "\n" not in message


def test_json_syntax_error_names_line_and_column(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.json", '{\n  "properties": [,]\n}')
    assert error_of(path) == f"{path}: not valid JSON: Expecting value at line 2, column 18"


def test_unknown_extension_reports_the_yaml_error(tmp_path: Path) -> None:
    path = write(tmp_path, "bad.conf", "a: [\n")
    assert f"{path}: not valid YAML:" in error_of(path)


@pytest.mark.parametrize(
    ("name", "content"),
    [("dup.yaml", "properties: []\nproperties: []\n"), ("dup.json", '{"a": 1, "a": 2}')],
)
def test_duplicate_keys_are_refused(tmp_path: Path, name: str, content: str) -> None:
    message = error_of(write(tmp_path, name, content))
    assert "duplicate key" in message


def test_empty_and_non_mapping_files(tmp_path: Path) -> None:
    empty = write(tmp_path, "empty.yaml", "# nothing\n")
    assert error_of(empty) == f"{empty}: the file is empty"
    listing = write(tmp_path, "list.yaml", "- a\n")
    assert error_of(listing) == (
        f"{listing}: expected a mapping of sections such as braze_connections"
    )


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = str(tmp_path / "missing.yaml")
    assert error_of(missing) == f"{missing}: no such file"
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00")
    assert error_of(str(binary)) == f"{binary}: not UTF-8 text"
    assert "cannot read" in error_of(str(tmp_path))


def test_undefined_variable_in_a_file(tmp_path: Path) -> None:
    path = write(tmp_path, "x.yaml", SAMPLE_YAML)
    message = error_of(path, {"BRAZE_API_KEY": "k", "AWS_ACCESS_KEY_ID": "i"})
    assert message == (
        "braze_connections[0].s3.secret_access_key: undefined variable ${AWS_SECRET_ACCESS_KEY}; "
        "properties[0].signing_keys[0].secret: undefined variable ${ACME_SIGNING_SECRET}"
    )


def test_yaml_only_builds_plain_data(tmp_path: Path) -> None:
    path = write(tmp_path, "evil.yaml", "a: !!python/object/apply:os.system ['true']\n")
    assert "not valid YAML" in error_of(path)
