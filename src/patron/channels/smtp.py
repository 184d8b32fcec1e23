"""Email over SMTP (``PATRON_SMTP_URL``) with aiosmtplib: one connection kept open and reused,
STARTTLS or implicit TLS, optional authentication."""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
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
    """Sends through one SMTP server, reusing its connection between messages."""

    name = "smtp"
    captures = False

    def __init__(self, config: SmtpConfig, *, timeout: float = 30.0) -> None:
        self.config = config
        self.timeout = timeout
        self._client: aiosmtplib.SMTP | None = None
        self._lock = asyncio.Lock()

    async def _connected(self) -> aiosmtplib.SMTP:
        client = self._client
        if client is not None and client.is_connected:
            return client
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
        self._client = client
        return client

    async def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> Outcome:
        """Hand one message over; SMTP 4xx and connection errors are transient, 5xx permanent."""
        async with self._lock:
            try:
                client = await self._connected()
                refused, response = await client.send_message(
                    message, sender=parseaddr(sender)[1] or sender, recipients=recipients
                )
            except aiosmtplib.SMTPRecipientsRefused as exc:
                return _classify(
                    exc.recipients[0].code if exc.recipients else 550, str(exc), rcpt=True
                )
            except aiosmtplib.SMTPResponseException as exc:
                await self._drop()
                return _classify(exc.code, exc.message, rcpt=False)
            except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
                await self._drop()
                return Transient(f"SMTP connection failed: {exc}")
        if refused and len(refused) == len(recipients):
            first = next(iter(refused.values()))
            return _classify(first.code, first.message, rcpt=True)
        return Accepted(response.strip())

    async def _drop(self) -> None:
        client, self._client = self._client, None
        if client is not None:
            try:
                client.close()
            except Exception:  # closing a broken connection: nothing left to do
                pass

    async def close(self) -> None:
        """Say goodbye to the server."""
        async with self._lock:
            client, self._client = self._client, None
            if client is not None and client.is_connected:
                try:
                    await client.quit()
                except (aiosmtplib.SMTPException, OSError):
                    client.close()


def _classify(code: int, message: str, *, rcpt: bool) -> Outcome:
    text = f"SMTP {code}: {message}".strip()
    if 400 <= code < 500:
        return Transient(text)
    return Permanent(text, bounced=rcpt)


class CaptureProvider:
    """Keeps every message (the dev inbox reads them); nothing leaves the machine."""

    name = "capture"
    captures = True

    async def send(self, message: EmailMessage, sender: str, recipients: list[str]) -> Outcome:
        """Always accepted: the sender stores the message with the delivery's outcome."""
        return Accepted("")

    async def close(self) -> None:
        """Nothing to close."""


EmailProvider = SmtpProvider | CaptureProvider


def email_provider(smtp_url: str) -> EmailProvider:
    """The provider the settings ask for: SMTP when a URL is set, else capture."""
    return SmtpProvider(SmtpConfig.from_url(smtp_url)) if smtp_url else CaptureProvider()
