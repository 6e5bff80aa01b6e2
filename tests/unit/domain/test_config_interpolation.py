import pytest

from backend.domain.config_document import interpolate
from backend.domain.errors import ValidationError


def test_variables_are_replaced_in_every_string_at_any_depth() -> None:
    doc = {"a": "${X}", "b": [{"c": "pre-${X}-${Y}-post"}], "n": 3, "t": True, "z": None}
    result = interpolate(doc, {"X": "1", "Y": "two"})
    assert result == {"a": "1", "b": [{"c": "pre-1-two-post"}], "n": 3, "t": True, "z": None}


def test_keys_are_left_alone_and_values_are_not_reinterpolated() -> None:
    result = interpolate({"${X}": "${X}"}, {"X": "${Y}", "Y": "no"})
    assert result == {"${X}": "${Y}"}


def test_dollar_dollar_escapes_a_literal() -> None:
    assert interpolate({"a": "$${X} and $$ and $5"}, {}) == {"a": "${X} and $$ and $5"}


def test_undefined_variable_names_the_path_and_every_error_is_reported() -> None:
    doc = {
        "braze_connections": [{"api_key": "${BRAZE_API_KEY}", "name": "${NAME}"}],
        "properties": [{"signing_keys": [{"secret": "${SECRET}"}]}],
    }
    with pytest.raises(ValidationError) as caught:
        interpolate(doc, {"NAME": "ok"})
    assert [str(e) for e in caught.value.errors] == [
        "braze_connections[0].api_key: undefined variable ${BRAZE_API_KEY}",
        "properties[0].signing_keys[0].secret: undefined variable ${SECRET}",
    ]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("${UNCLOSED", "a: unterminated ${ (write $${ for a literal ${)"),
        ("${1BAD}", "a: invalid variable reference ${1BAD} (write $${ for a literal ${)"),
        ("${}", "a: invalid variable reference ${} (write $${ for a literal ${)"),
    ],
)
def test_malformed_references_are_errors(value: str, message: str) -> None:
    with pytest.raises(ValidationError) as caught:
        interpolate({"a": value}, {"UNCLOSED": "x"})
    assert str(caught.value) == message


def test_the_input_is_not_modified() -> None:
    doc = {"a": ["${X}"]}
    interpolate(doc, {"X": "1"})
    assert doc == {"a": ["${X}"]}
