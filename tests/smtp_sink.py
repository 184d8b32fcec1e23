"""A real SMTP server for tests (aiosmtpd on a loopback port) that keeps what it receives."""

from __future__ import annotations

import email
import email.policy
import threading
import time
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, Envelope, Session

from live import free_port


@dataclass
class Received:
    """One message as the server got it: envelope and parsed content."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    message: EmailMessage

    def part(self, content_type: str) -> str:
        """The decoded text of the first part of ``content_type``."""
        for part in self.message.walk():
            if part.get_content_type() == content_type and not part.is_attachment():
                text: str = part.get_content()
                return text
        raise KeyError(content_type)


class _Handler:
    def __init__(self, sink: SmtpSink) -> None:
        self.sink = sink

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: Any
    ) -> str:
        reply = self.sink.rcpt_replies.get(address.lower())
        if reply is not None:
            return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        if self.sink.data_replies:
            return self.sink.data_replies.pop(0)
        raw = envelope.original_content or b""
        parsed = email.message_from_bytes(raw, policy=email.policy.default)
        assert isinstance(parsed, EmailMessage)
        with self.sink.lock:
            self.sink.messages.append(
                Received(str(envelope.mail_from), list(envelope.rcpt_tos), raw, parsed)
            )
            self.sink.sessions.add(id(session))
        return "250 Message accepted"


class SmtpSink:
    """``with SmtpSink() as smtp``: a server on 127.0.0.1:``smtp.port``. ``rcpt_replies``
    answers chosen recipients otherwise (``"550 No such user"``); ``data_replies`` answers the
    next DATA commands so (``"451 Try later"``)."""

    def __init__(self, port: int | None = None) -> None:
        self.port = port or free_port()
        self.messages: list[Received] = []
        self.sessions: set[int] = set()
        self.rcpt_replies: dict[str, str] = {}
        self.data_replies: list[str] = []
        self.lock = threading.Lock()
        self._controller = Controller(_Handler(self), hostname="127.0.0.1", port=self.port)

    @property
    def url(self) -> str:
        return f"smtp://127.0.0.1:{self.port}"

    def __enter__(self) -> SmtpSink:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()

    def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """Block until ``count`` messages arrived; the messages so far."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.messages) >= count:
                    return list(self.messages)
            time.sleep(0.02)
        raise AssertionError(f"expected {count} messages, got {len(self.messages)}")
