"""The messaging definitions of a workspace document (``patron apply``): subscription topics
and transactional messages, checked and normalised. No SQL here; store/definitions.py keeps
them."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from patron.domain.errors import InvalidInput

CHANNELS = ("email", "sms", "whatsapp", "push", "in_app", "inbox")
MAX_NAME = 400
MAX_DESCRIPTION = 2000
MAX_ID = 2**31 - 1

# Content fields per channel (one variant: the default language, or one of ``languages``).
CONTENT_FIELDS: dict[str, tuple[str, ...]] = {
    "email": (
        "from",
        "reply_to",
        "subject",
        "preheader",
        "body",
        "body_plain",
        "cc",
        "bcc",
        "headers",
        "recipient",
    ),
    "sms": ("from", "body"),
    "whatsapp": ("from", "body"),
    "push": ("title", "message", "image_url", "link", "sound", "custom_data"),
    "in_app": ("body",),
    "inbox": ("title", "body"),
}
# Options of a transactional message and their defaults (spec §3.5, §7.1).
OPTION_DEFAULTS: dict[str, Any] = {
    "send_to_unsubscribed": True,
    "link_tracking": True,
    "open_tracking": True,
    "hide_message_body": False,
    "queue_drafts": False,
    "topic": None,
}
_OBJECT_FIELDS = {"custom_data", "headers"}


@dataclass(frozen=True)
class Topic:
    """A subscription topic (``topic_<id>`` in ``cio_subscription_preferences``)."""

    id: int
    name: str
    description: str = ""
    subscribed_by_default: bool = True

    def view(self) -> dict[str, Any]:
        """The App API's topic object (spec §3.8)."""
        return {
            "id": self.id,
            "identifier": f"topic_{self.id}",
            "name": self.name,
            "description": self.description,
            "subscribed_by_default": self.subscribed_by_default,
        }


@dataclass(frozen=True)
class Transactional:
    """A transactional message: options, its default content and its language variants."""

    id: int
    name: str
    channel: str = "email"
    description: str = ""
    options: dict[str, Any] = field(default_factory=lambda: dict(OPTION_DEFAULTS))
    content: dict[str, Any] = field(default_factory=dict)
    languages: dict[str, dict[str, Any]] = field(default_factory=dict)

    def variant(self, language: str | None) -> dict[str, Any]:
        """The content for ``language``: its variant over the default, or the default."""
        if language and language in self.languages:
            return {**self.content, **self.languages[language]}
        return dict(self.content)


def _int_id(value: Any, where: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= MAX_ID:
        raise InvalidInput(f"{where}.id must be a positive integer", field="id")
    return value


def _text(raw: dict[str, Any], key: str, where: str, *, limit: int, required: bool = False) -> str:
    value = raw.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or (required and not value.strip()) or len(value) > limit:
        need = "is required: " if required else "must be "
        raise InvalidInput(f"{where}.{key} {need}a string of at most {limit} characters")
    return value.strip() if key == "name" else value


def _flag(raw: dict[str, Any], key: str, where: str, default: bool) -> bool:
    value = raw.get(key, default)
    if not isinstance(value, bool):
        raise InvalidInput(f"{where}.{key} must be true or false")
    return value


def _unique(items: list[Any], where: str) -> None:
    ids = [item.id for item in items]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise InvalidInput(f"{where}: id {twice[0]} is declared twice")


def parse_topics(raw: Any) -> list[Topic]:
    """``subscription_topics:`` entries: ``id``, ``name``, ``description``,
    ``subscribed_by_default`` (default true)."""
    if not isinstance(raw, list):
        raise InvalidInput("subscription_topics must be a list")
    topics = []
    for index, item in enumerate(raw):
        where = f"subscription_topics[{index}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} must be a mapping")
        unknown = set(item) - {"id", "name", "description", "subscribed_by_default"}
        if unknown:
            raise InvalidInput(f"{where}: unknown key {sorted(unknown)[0]!r}")
        topics.append(
            Topic(
                id=_int_id(item.get("id"), where),
                name=_text(item, "name", where, limit=MAX_NAME, required=True),
                description=_text(item, "description", where, limit=MAX_DESCRIPTION),
                subscribed_by_default=_flag(item, "subscribed_by_default", where, True),
            )
        )
    _unique(topics, "subscription_topics")
    return topics


def check_content(channel: str, raw: Any, where: str) -> dict[str, Any]:
    """One variant's fields for ``channel``: known names only, strings (objects where the
    channel takes one)."""
    if not isinstance(raw, dict):
        raise InvalidInput(f"{where} must be a mapping")
    allowed = CONTENT_FIELDS[channel]
    content: dict[str, Any] = {}
    for key, value in raw.items():
        if key not in allowed:
            raise InvalidInput(
                f"{where}: {key!r} is not a field of {channel} messages "
                f"(one of {', '.join(allowed)})"
            )
        if value is None:
            continue
        if key in _OBJECT_FIELDS:
            if not isinstance(value, dict | list):
                raise InvalidInput(f"{where}.{key} must be a mapping")
        elif not isinstance(value, str):
            raise InvalidInput(f"{where}.{key} must be a string")
        content[key] = value
    return content


def parse_transactional(raw: Any, topic_ids: set[int] | None = None) -> list[Transactional]:
    """``transactional:`` entries (docs/messaging.md). ``topic_ids``, when given, are the
    topics a ``topic`` may name."""
    if not isinstance(raw, list):
        raise InvalidInput("transactional must be a list")
    messages = []
    for index, item in enumerate(raw):
        where = f"transactional[{index}]"
        if not isinstance(item, dict):
            raise InvalidInput(f"{where} must be a mapping")
        channel = item.get("channel", "email")
        if channel not in CHANNELS:
            raise InvalidInput(f"{where}.channel must be one of {', '.join(CHANNELS)}")
        meta = {"id", "name", "description", "channel", "languages", *OPTION_DEFAULTS}
        options = dict(OPTION_DEFAULTS)
        for key in OPTION_DEFAULTS:
            if key == "topic":
                continue
            options[key] = _flag(item, key, where, OPTION_DEFAULTS[key])
        topic = item.get("topic")
        if topic is not None:
            topic = _int_id(topic, f"{where}.topic")
            if topic_ids is not None and topic not in topic_ids:
                raise InvalidInput(f"{where}.topic: subscription topic {topic} does not exist")
        options["topic"] = topic
        content = check_content(channel, {k: v for k, v in item.items() if k not in meta}, where)
        languages_raw = item.get("languages") or {}
        if not isinstance(languages_raw, dict):
            raise InvalidInput(f"{where}.languages must be a mapping of language to fields")
        languages = {}
        for language, fields in languages_raw.items():
            if not isinstance(language, str) or not 2 <= len(language) <= 16:
                raise InvalidInput(f"{where}.languages: {language!r} is not a language code")
            languages[language] = check_content(channel, fields, f"{where}.languages.{language}")
        messages.append(
            Transactional(
                id=_int_id(item.get("id"), where),
                name=_text(item, "name", where, limit=MAX_NAME, required=True),
                channel=channel,
                description=_text(item, "description", where, limit=MAX_DESCRIPTION),
                options=options,
                content=content,
                languages=languages,
            )
        )
    _unique(messages, "transactional")
    keys = [m.name.lower() for m in messages]
    twice = sorted({k for k in keys if keys.count(k) > 1})
    if twice:
        raise InvalidInput(f"transactional: the name {twice[0]!r} is used twice")
    return messages
