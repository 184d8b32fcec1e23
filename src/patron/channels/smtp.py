"""Email over SMTP (``PATRON_SMTP_URL``) with aiosmtplib: a few connections kept open and
reused (``PATRON_SMTP_CONNECTIONS``), STARTTLS or implicit TLS, optional authentication. Messages
arrive as the bytes to send: nothing is serialized here."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from email.utils import parseaddr
from urllib.parse import unquote, urlsplit

import aiosmtplib

from patron.channels import Accepted, Outcome, Permanent, Transient

SCHEMES = {
    "smtp": (25, False, False),
    "smtp+starttls": (587, False, True),
    "smtps": (465, True, False),
}


@dataclass(frozen=True)
class SmtpConfig:
    """Where and how to connect, from an ``smtp://`` URL."""

    host: str
    port: int
    implicit_tls: bool
    starttls: bool
    username: str | None = None
    password: str | None = None

    @classmethod
    def from_url(cls, url: str) -> SmtpConfig:
        """``smtp://user:pass@host:port``, ``smtp+starttls://…`` or ``smtps://…``."""
        parts = urlsplit(url)
        if parts.scheme not in SCHEMES or not parts.hostname:
            raise ValueError(
                f"SMTP URL must look like smtp://user:pass@host:port (schemes: "
                f"{', '.join(SCHEMES)}), not {url!r}"
            )
        default_port, implicit, starttls = SCHEMES[parts.scheme]
        return cls(
            host=parts.hostname,
            port=parts.port or default_port,
            implicit_tls=implicit,
            starttls=starttls,
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
        )


class SmtpProvider:
    """Sends through one SMTP server over up to ``connections`` connections at once, each
    opened on first use and kept for the messages after it."""

    name = "smtp"
    captures = False

    def __init__(self, config: SmtpConfig, *, timeout: float = 30.0, connections: int = 4) -> None:
        self.config = config
        self.timeout = timeout
        self.connections = max(1, connections)
        self._idle: list[aiosmtplib.SMTP] = []  # open connections that no send is using
        self._slots: asyncio.Semaphore | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def _connect(self) -> aiosmtplib.SMTP:
        c = self.config
        client = aiosmtplib.SMTP(
            hostname=c.host,
            port=c.port,
            use_tls=c.implicit_tls,
            start_tls=c.starttls,
            timeout=self.timeout,
            tls_context=ssl.create_default_context() if c.implicit_tls or c.starttls else None,
        )
        await client.connect()
        if c.username:
            await client.login(c.username, c.password or "")
        return client

    async def send(self, raw: bytes, sender: str, recipients: list[str]) -> Outcome:
        """Hand one message over; SMTP 4xx and connection errors are transient, 5xx permanent."""
        loop = asyncio.get_running_loop()
        if self._slots is None or self._loop is not loop:
            # Connections belong to the event loop that opened them (tests run several).
            self._slots, self._loop, self._idle = asyncio.Semaphore(self.connections), loop, []
        async with self._slots:
            client = self._idle.pop() if self._idle else None
            try:
                if client is None or not client.is_connected:
                    client = await self._connect()
                refused, response = await client.sendmail(
                    parseaddr(sender)[1] or sender,
                    recipients,
                    raw,
                    mail_options=_options(sender, recipients),
                )
            except aiosmtplib.SMTPRecipientsRefused as exc:
                self._keep(client)
                return _classify(
                    exc.recipients[0].code if exc.recipients else 550, str(exc), rcpt=True
                )
            except aiosmtplib.SMTPResponseException as exc:
                _drop(client)
                return _classify(exc.code, exc.message, rcpt=False)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                _drop(client)
                return Transient(f"SMTP connection failed: {exc}")
            self._keep(client)
        if refused and len(refused) == len(recipients):
            first = next(iter(refused.values()))
            return _classify(first.code, first.message, rcpt=True)
        return Accepted(response.strip())

    def _keep(self, client: aiosmtplib.SMTP | None) -> None:
        if client is not None and client.is_connected:
            self._idle.append(client)

    async def close(self) -> None:
        """Say goodbye to the server on every idle connection."""
        idle, self._idle = self._idle, []
        for client in idle:
            if client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()


def _options(sender: str, recipients: list[str]) -> list[str]:
    """SMTPUTF8 when an envelope address is not ASCII (the message itself always is)."""
    if sender.isascii() and all(r.isascii() for r in recipients):
        return []
    return ["SMTPUTF8"]


def _drop(client: aiosmtplib.SMTP | None) -> None:
    if client is not None:
        try:
            client.close()
        except Exception:  # closing a broken connection: nothing left to do
            pass


def _classify(code: int, message: str, *, rcpt: bool) -> Outcome:
    text = f"SMTP {code}: {message}".strip()
    if 400 <= code < 500:
        return Transient(text)
    return Permanent(text, bounced=rcpt)


class CaptureProvider:
    """Keeps every message (the dev inbox reads them); nothing leaves the machine."""

    name = "capture"
    captures = True

    async def send(self, raw: bytes, sender: str, recipients: list[str]) -> Outcome:
        """Always accepted: the sender stores the message with the delivery's outcome."""
        return Accepted("")

    async def close(self) -> None:
        """Nothing to close."""


EmailProvider = SmtpProvider | CaptureProvider


def email_provider(smtp_url: str, *, connections: int = 4) -> EmailProvider:
    """The provider the settings ask for: SMTP when a URL is set, else capture."""
    if not smtp_url:
        return CaptureProvider()
    return SmtpProvider(SmtpConfig.from_url(smtp_url), connections=connections)
