"""Pages reached from Braze emails (PRODUCT §2 flow 6) and from receipts, all without cookies:

- ``GET /p/<property>?uid=&ts=&sig=`` — the preference center full-page; a verified link mints a
  short widget session (proof ``hmac_link``; choices recorded with source "hosted").
- ``GET|POST /u/<property>?uid=&ts=&sig=[&topic=]`` — RFC 8058 one-click unsubscribe: POST with
  ``List-Unsubscribe=One-Click`` unsubscribes (200, no redirect); GET only shows a button, so a
  mail scanner that follows links changes nothing.
- ``GET /p/<property>/tag.js`` — the property's tag for the hosted page (identity from the queue).
- ``GET /receipt/<property>/<receipt id>?t=`` — a consent receipt, human-readable.

A forged, altered or expired link is a 403 page and nothing is read or written. Every answer is
``no-store``, sends no referrer (links carry signatures) and may not be framed.
"""

from __future__ import annotations

import hashlib
import secrets
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode, urlsplit

from flask import Blueprint, Response, current_app, render_template, request
from flask.typing import ResponseReturnValue
from jinja2.utils import htmlsafe_json_dumps

from backend.domain.errors import NotFoundError, ValidationError
from backend.domain.hosted_links import PAGE_LINK_TTL, UNSUBSCRIBE_LINK_TTL, LinkRejectedError
from backend.domain.texts import CATALOGUE, channel_label, choose_language, text
from backend.services import hosted_links, one_click, receipts
from backend.services.hosted_links import VerifiedLink
from backend.services.tag_config import load_tag_config
from backend.web import current_deps, openapi_fragments
from backend.web.security import csrf, limiter

bp = Blueprint("hosted", __name__)
csrf.exempt(bp)  # nothing here uses a cookie: each request carries its own signature

MAX_CODE = 64
PAGE_LIMIT = "60/minute"
# Mail providers send everyone's one-click POSTs from a few addresses: limit per link, mostly.
UNSUBSCRIBE_PER_IP = "600/minute"
UNSUBSCRIBE_PER_LINK = "10/minute"
TEXT = "text/plain; charset=utf-8"


def _link_key() -> str:
    who = f"{(request.view_args or {}).get('code')}\0{request.args.get('uid', '')}"
    return "link:" + hashlib.sha256(who.encode()).hexdigest()[:24]


def _secure(response: Response, nonce: str | None = None) -> Response:
    public = urlsplit(current_deps().settings.public_url)
    own = f"{public.scheme}://{public.netloc}"
    scripts = f"'self' {own} 'nonce-{nonce}'" if nonce else "'none'"
    response.headers["Content-Security-Policy"] = (
        f"default-src 'none'; script-src {scripts}; connect-src 'self' {own}; "
        "style-src 'self'; img-src 'self' data:; form-action 'self'; base-uri 'none'; "
        "frame-ancestors 'none'"
    )
    response.headers["Cache-Control"] = "no-store"
    response.headers["Referrer-Policy"] = "no-referrer"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def _language(offered: tuple[str, ...]) -> str:
    """``?lang=`` when offered, else the browser's best match, else the first offered."""
    known = [lang for lang in offered if lang in CATALOGUE] or ["en"]
    wanted = request.args.get("lang") or request.accept_languages.best_match(known)
    return choose_language(wanted, known)


def _page(template: str, status: int, lang: str, nonce: str | None = None, **ctx: Any) -> Response:
    t = {key: text(lang, key) for key in CATALOGUE["en"] if key.startswith("page_")}
    html = render_template(f"hosted/{template}", lang=lang, t=t, nonce=nonce, **ctx)
    return _secure(Response(html, status=status, mimetype="text/html"), nonce)


def _refused(status: int, reason: str, languages: tuple[str, ...] = ("en", "es")) -> Response:
    lang = _language(languages)
    key = {"expired": "page_expired", "not_found": "page_not_found"}.get(reason, "page_refused")
    return _page("refused.html", status, lang, message=text(lang, key))


def _verified(code: str, ttl: int) -> VerifiedLink | Response:
    """The link's visitor, or the refusal page (404 unknown property, 403 anything else)."""
    if len(code) > MAX_CODE:
        return _refused(404, "not_found")
    try:
        return hosted_links.verify_link(current_deps(), code, request.args, ttl=ttl)
    except NotFoundError:
        return _refused(404, "not_found")
    except LinkRejectedError as exc:
        return _refused(403, exc.reason)


@bp.get("/p/<code>")
@limiter.limit(PAGE_LIMIT)
def page(code: str) -> ResponseReturnValue:
    link = _verified(code, PAGE_LINK_TTL)
    if isinstance(link, Response):
        return link
    lang = _language(link.languages)
    session_token = hosted_links.page_session(current_deps(), link)
    return _page(
        "page.html",
        200,
        lang,
        nonce=secrets.token_urlsafe(16),
        name=link.property_name,
        code=link.property_code,
        token_json=htmlsafe_json_dumps(session_token),
    )


@bp.get("/p/<code>/tag.js")
@limiter.limit("600/minute")
def page_tag(code: str) -> Response:
    """The property's tag, taking the visitor's identity from ``optline('identify', …)`` only:
    the hosted page passes its link session there, whatever sources the site's tag reads."""
    config = load_tag_config(current_deps(), code) if len(code) <= MAX_CODE else None
    bundle = current_app.extensions["optline.tag_bundle"].get()
    if config is None or bundle is None:
        response = Response("/* Optline: no tag here. */\n", status=404)
    else:
        public = {**config.public, "identity_capture": [{"source": "queue"}]}
        payload = str(htmlsafe_json_dumps(public, sort_keys=True, separators=(",", ":")))
        response = Response(bundle.render(payload))
        response.set_etag(hashlib.sha256((bundle.digest + payload).encode()).hexdigest()[:32])
        response.headers["Cache-Control"] = "public, max-age=300"
        response.make_conditional(request)
    response.headers["Content-Type"] = "application/javascript; charset=utf-8"
    return response


@bp.get("/u/<code>")
@limiter.limit(PAGE_LIMIT)
def unsubscribe_form(code: str) -> ResponseReturnValue:
    """A confirmation page: unsubscribing takes a POST (RFC 8058 §3, scanners follow GETs)."""
    link = _verified(code, UNSUBSCRIBE_LINK_TTL)
    if isinstance(link, Response):
        return link
    lang = _language(link.languages)
    try:
        topic = one_click.check_topic(current_deps(), link)
    except ValidationError:
        return _refused(400, "bad_topic", link.languages)
    return _page(
        "unsubscribe.html",
        200,
        lang,
        question=_question(lang, link, topic, done=False),
        action=request.full_path,
        manage_url=_manage_url(code),
    )


@bp.post("/u/<code>")
@limiter.limit(UNSUBSCRIBE_PER_IP)
@limiter.limit(UNSUBSCRIBE_PER_LINK, key_func=_link_key)
def unsubscribe(code: str) -> ResponseReturnValue:
    """200 with a short body, never a redirect; the same answer for a repeated POST."""
    browser = request.accept_mimetypes.best_match([TEXT, "text/html"]) == "text/html"
    link = _verified(code, UNSUBSCRIBE_LINK_TTL)
    if isinstance(link, Response):
        return link if browser else _text(link.status_code, "This unsubscribe link is not valid.")
    if request.form.get("List-Unsubscribe") != "One-Click":
        return _text(400, "Expected the body List-Unsubscribe=One-Click (RFC 8058).")
    try:
        done = one_click.unsubscribe(
            current_deps(), link, user_agent=request.user_agent.string or None
        )
    except ValidationError:
        return _text(400, "This site has no such topic.")
    lang = _language(link.languages)
    message = _question(lang, link, done.topic_name, done=True)
    if browser:
        return _page("unsubscribe.html", 200, lang, done=message, manage_url=_manage_url(code))
    return _text(200, message)


@bp.get("/receipt/<code>/<receipt_id>")
@limiter.limit(PAGE_LIMIT)
def receipt_page(code: str, receipt_id: str) -> ResponseReturnValue:
    token = request.args.get("t", "")
    if len(code) > MAX_CODE or len(receipt_id) > 64 or not token:
        return _refused(403, "bad_signature")
    document = receipts.page_receipt(current_deps(), code, receipt_id, token)
    if document is None:
        return _refused(403, "bad_signature")
    lang = str(document.get("language") or "en")
    rows = [
        {
            "service": service["service"],
            "channel": channel_label(lang, purpose["channel"]),
            "state": purpose["consentState"] if purpose["ledgerEntryId"] else "never",
            "at": purpose["recordedAt"],
            "entry": purpose["ledgerEntryId"],
            "hash": purpose["ledgerEntryHash"],
        }
        for service in document["services"]
        for purpose in service["purposes"]
    ]
    controller = document["piiControllers"][0]["piiController"]
    return _page(
        "receipt.html",
        200,
        lang,
        receipt=document,
        rows=rows,
        consent_at=datetime.fromtimestamp(document["consentTimestamp"], UTC).isoformat(),
        intro=text(lang, "page_receipt_intro").format(name=controller),
        verify=text(lang, "page_receipt_verify").format(url=document["optline"]["verifyUrl"]),
    )


def _question(lang: str, link: VerifiedLink, topic: dict[str, str] | None, *, done: bool) -> str:
    if topic is None:
        key = "page_unsub_done_all" if done else "page_unsub_all"
        return text(lang, key).format(name=link.property_name)
    name = topic.get(lang) or topic.get("en") or next(iter(topic.values()), link.topic or "")
    return text(lang, "page_unsub_done_topic" if done else "page_unsub_topic").format(topic=name)


def _manage_url(code: str) -> str:
    """The same signed values open the preference page (a topic link does not: its signature
    covers the topic, which the page's link leaves out)."""
    if request.args.get("topic"):
        return ""
    keep = {k: v for k, v in request.args.items() if k in ("uid", "ts", "sig", "kid", "lang")}
    return f"/p/{code}?{urlencode(keep)}"


def _text(status: int, body: str) -> Response:
    response = Response(body + "\n", status=status)
    response.headers["Content-Type"] = TEXT
    return _secure(response)


def _query(name: str, description: str, required: bool = True) -> dict[str, Any]:
    schema = {"type": "string"}
    return {"name": name, "in": "query", "required": required, "description": description,
            "schema": schema}  # fmt: skip


def _answer(description: str) -> dict[str, Any]:
    return {"description": description, "content": {"text/plain": {"schema": {"type": "string"}}}}


_ONE_CLICK_BODY = {
    "type": "object",
    "required": ["List-Unsubscribe"],
    "properties": {"List-Unsubscribe": {"type": "string", "enum": ["One-Click"]}},
}
_SIG = "hex HMAC-SHA256 of optline-link:<property>:<topic>:<ts>:<uid>"
openapi_fragments.register(
    {
        "paths": {
            "/u/{property}": {
                "post": {
                    "tags": ["hosted"],
                    "summary": "RFC 8058 one-click unsubscribe (signed link; docs/hosted-page.md)",
                    "security": [],
                    "parameters": [
                        {"name": "property", "in": "path", "required": True,
                         "schema": {"type": "string"}},
                        _query("uid", "the visitor's external id"),
                        _query("ts", "Unix seconds the link was made (60 days to live)"),
                        _query("sig", _SIG),
                        _query("topic", "a subscription code; absent: everything", False),
                        _query("kid", "the signing key, when the property has several", False),
                    ],
                    "requestBody": {
                        "required": True,
                        "content": {
                            "application/x-www-form-urlencoded": {"schema": _ONE_CLICK_BODY}
                        },
                    },
                    "responses": {
                        "200": _answer("unsubscribed (also when already)"),
                        "400": _answer("no List-Unsubscribe=One-Click body, or unknown topic"),
                        "403": _answer("forged, altered or expired link; nothing changed"),
                        "429": {"description": "too many requests"},
                    },
                }
            }
        },
        "schemas": {},
    }
)  # fmt: skip
