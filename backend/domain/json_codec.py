"""JSON for the bulk paths: orjson's speed, the standard library's values and text.

orjson reads and writes JSON several times faster than ``json``, but not always the same way:
it reads integers past 64 bits as floats, refuses NaN, Infinity and lone surrogates (which
``json`` accepts), writes NaN and Infinity as null, and writes floats below 1e-4 without
``json``'s exponent (``0.00001``, ``1e-7`` where ``json`` writes ``1e-05``, ``1e-07``). Each
function here looks for those cases cheaply (a false alarm only costs time) and hands them to
``json``, so the values read and the text written are exactly what ``json`` gives: stored
texts and anything hashed from them do not change.
"""

from __future__ import annotations

import json
from typing import Any

import orjson

_DIGITS_AS_ZERO = bytes.maketrans(b"123456789", b"000000000")
_LONG_RUN = b"0" * 19  # 19 digits or more: perhaps past 64 bits (18 always fit)
_BEFORE_NUMBER = frozenset(b":[,")
_DECODER = json.JSONDecoder()
_ENCODER = json.JSONEncoder(separators=(",", ":"), ensure_ascii=False)


def _long_number(data: bytes) -> bool:
    """Whether ``data`` may hold a number of 19 digits or more (a run in a string may also say
    yes). A byte translation and a search: cheaper than a regular expression by far."""
    digits = data.translate(_DIGITS_AS_ZERO)
    start = digits.find(_LONG_RUN)
    while start >= 0:
        before = digits[:start].rstrip(b" \t\r\n-")
        if not before or before[-1] in _BEFORE_NUMBER:
            return True
        start = digits.find(_LONG_RUN, start + len(_LONG_RUN))
    return False


def loads(data: bytes | str) -> Any:
    """``json.loads(data)``: the same value, or ValueError (UnicodeDecodeError for bytes that
    are not UTF-8) where ``json`` refuses the text."""
    if isinstance(data, str):
        try:
            raw = data.encode()
        except UnicodeEncodeError:  # a lone surrogate: json's to judge
            return _DECODER.decode(data)
    else:
        raw = data
    if not _long_number(raw):
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError:
            pass  # NaN, Infinity, a lone surrogate escape, a float that overflows, or bad JSON
    return _DECODER.decode(data if isinstance(data, str) else data.decode())


def dumps(value: Any) -> str:
    """``json.dumps(value, separators=(",", ":"), ensure_ascii=False)``, the same text."""
    try:
        text = orjson.dumps(value).decode()
    except TypeError:  # integers past 64 bits, lone surrogates, keys that are not strings …
        return _ENCODER.encode(value)
    if "null" in text or "e-" in text or "0.0000" in text:  # (faster on str than on bytes)
        return _ENCODER.encode(value)  # NaN or Infinity (written as null) or a tiny float
    return text
