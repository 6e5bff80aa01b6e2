"""Every text the widget shows exists in English and Spanish, and server-only texts (mail, the
hosted pages) never travel to the widget."""

from __future__ import annotations

import re
from pathlib import Path

from backend.domain.texts import CATALOGUE, SERVER_ONLY_PREFIXES, texts_for
from backend.services.tag_config import CHROME_KEYS, EMAIL_KEYS

SOURCES = Path(__file__).resolve().parents[3] / "widget" / "src"
# t.key, texts().key — how the UI reads its texts.
USED = re.compile(r"\b(?:t|texts\(\))\.([a-z_]+)\b")


def used_keys() -> set[str]:
    return {m for path in SOURCES.rglob("*.js") for m in USED.findall(path.read_text())}


def test_both_languages_have_the_same_keys() -> None:
    assert set(CATALOGUE["en"]) == set(CATALOGUE["es"])
    assert all(value.strip() for lang in CATALOGUE for value in CATALOGUE[lang].values())


def test_every_text_the_widget_reads_is_sent_to_it() -> None:
    used = used_keys()
    assert {"access_request", "erasure_confirm", "receipt_download", "rights_failed"} <= used
    for lang in ("en", "es"):
        missing = used - set(texts_for(lang)) - set(CHROME_KEYS) - set(EMAIL_KEYS)
        assert not missing, f"{lang}: the widget reads texts the bootstrap does not send: {missing}"


def test_server_only_texts_stay_on_the_server() -> None:
    sent = texts_for("es")
    assert not [key for key in sent if key.startswith(SERVER_ONLY_PREFIXES)]
    assert any(key.startswith("page_") for key in CATALOGUE["es"])
