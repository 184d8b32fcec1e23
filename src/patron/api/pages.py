"""The small HTML pages people reach from messages, and the subscription preferences form that
both ``/preferences/{delivery_id}`` and the subscription center ``/u/i/{token}/`` show."""

from __future__ import annotations

import html
import re
from typing import Any
from urllib.parse import parse_qsl

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response

from patron.api.endpoints import Runtime
from patron.api.requests import read_body
from patron.domain import preferences
from patron.domain.attributes import SUBSCRIPTION_PREFERENCES
from patron.domain.definitions import Topic
from patron.domain.errors import InvalidInput
from patron.domain.identifiers import Identifier
from patron.domain.operations import Identify
from patron.store import people

NO_STORE = {"cache-control": "no-store, max-age=0"}
_LANGUAGE = re.compile(r"[A-Za-z]{2,8}(?:[-_][A-Za-z0-9]{1,8})*")


def page(
    title: str, body_html: str, status: int = 200, language: str | None = None
) -> HTMLResponse:
    """A minimal, self-contained HTML page."""
    lang = f" lang='{language}'" if language and _LANGUAGE.fullmatch(language) else ""
    document = (
        f"<!doctype html><html{lang}><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)}</title><style>body{{font-family:system-ui,sans-serif;"
        "max-width:32rem;margin:3rem auto;padding:0 1rem;line-height:1.5}button{font:inherit;"
        "padding:.5rem 1rem}</style></head>"
        f"<body><h1>{html.escape(title)}</h1>{body_html}</body></html>"
    )
    return HTMLResponse(document, status_code=status, headers=NO_STORE)


def not_valid(what: str, status: int = 404) -> HTMLResponse:
    """The page for a link that names nothing (or was tampered with)."""
    return page("Link not valid", f"<p>This {html.escape(what)} link is not valid.</p>", status)


FORM_LIMIT = 65_536


async def read_form(request: Request) -> dict[str, str] | None:
    """A form POST's fields (``application/x-www-form-urlencoded``, what the page's form
    sends); None when the body is something else or too large."""
    kind = request.headers.get("content-type", "application/x-www-form-urlencoded")
    if kind.split(";")[0].strip().lower() != "application/x-www-form-urlencoded":
        return None
    try:
        body = await read_body(request, FORM_LIMIT)
        pairs = parse_qsl(body.decode("utf-8"), keep_blank_values=True)
    except (InvalidInput, UnicodeDecodeError, ValueError):
        return None
    return dict(pairs)


def chosen_preferences(form: dict[str, str], topics: list[Topic]) -> dict[str, Any]:
    """The attributes a submitted preferences form sets."""
    chosen = {f"topic_{t.id}": form.get(f"topic_{t.id}") == "on" for t in topics}
    return {
        SUBSCRIPTION_PREFERENCES: {"topics": chosen},
        "unsubscribed": form.get("unsubscribed") == "on",
    }


async def preference_center(
    request: Request,
    rt: Runtime,
    ws: int,
    person: people.Person,
    topics: list[Topic],
    language: str | None = None,
) -> Response:
    """GET: the person's topics as checkboxes, and "unsubscribe from everything". POST (the
    form): record the choices through the write path, as ``cio_subscription_preferences``
    (``topics.topic_<id>``) and ``unsubscribed``."""
    if request.method == "POST":
        form = await read_form(request)
        if form is None:
            return page(
                "Not saved",
                "<p>Send the form as application/x-www-form-urlencoded.</p>",
                400,
                language,
            )
        op = Identify(
            who=Identifier("cio_id", person.cio_id), attributes=chosen_preferences(form, topics)
        )
        await rt.apply(ws, [op])
        return page("Preferences saved", "<p>Your preferences were saved.</p>", language=language)
    states = preferences.topic_states(topics, person.attributes)
    rows = "".join(
        f"<p><label><input type='checkbox' name='topic_{t.id}'"
        f"{' checked' if states[t.id] else ''}> {html.escape(t.name)}</label>"
        f"{'<br><small>' + html.escape(t.description) + '</small>' if t.description else ''}</p>"
        for t in topics
    )
    everything = preferences.unsubscribed(person.attributes)
    action = html.escape(request.url.path, quote=True)
    return page(
        "Subscription preferences",
        f"<form method='post' action='{action}'>{rows}"
        "<p><label><input type='checkbox' name='unsubscribed'"
        f"{' checked' if everything else ''}> Unsubscribe from everything</label></p>"
        "<button type='submit'>Save</button></form>",
        language=language,
    )
