"""Credentials: HTTP Basic (Track, Pipelines) and Bearer (App API), resolved to a workspace.

Resolved credentials are cached for ``CACHE_SECONDS`` so that the hot ingest path does not
read the workspaces table on every request; a rotated key stops working within that time.
"""

from __future__ import annotations

import base64
import binascii
import time
from collections.abc import Awaitable, Callable
from typing import Literal

from starlette.requests import Request

from patron.domain.request_log import Identity
from patron.store import workspaces
from patron.store.database import Database

CACHE_SECONDS = 1.0


class Unauthorized(Exception):
    """Missing or wrong credentials."""


def _basic(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "basic" or not value:
        return None
    try:
        return base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic`` header."""
    decoded = _basic(request)
    if decoded is None:
        return None
    user, sep, password = decoded.partition(":")
    return (user, password) if sep else None


def basic_user(request: Request) -> str | None:
    """The user part of ``Authorization: Basic`` (a Pipelines write key; any password)."""
    decoded = _basic(request)
    return None if decoded is None else decoded.partition(":")[0].strip() or None


def bearer_token(request: Request) -> str | None:
    """The token of an ``Authorization: Bearer`` header."""
    header = request.headers.get("authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


class CredentialCache:
    """Resolves credentials to workspace ids through the read pool, with a short cache."""

    def __init__(self, db: Database) -> None:
        self._db = db
        self._cache: dict[tuple[str, ...], tuple[float, int]] = {}

    async def _lookup(self, key: tuple[str, ...], load: Callable[[], Awaitable[int | None]]) -> int:
        hit = self._cache.get(key)
        now = time.monotonic()
        if hit is not None and hit[0] > now:
            return hit[1]
        ws = await load()
        if ws is None:
            self._cache.pop(key, None)
            raise Unauthorized
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[key] = (now + CACHE_SECONDS, ws)
        return ws

    async def track(self, request: Request) -> int:
        """The workspace of a request's Track API Basic credentials."""
        creds = basic_credentials(request)
        if creds is None:
            raise Unauthorized
        site_id, api_key = creds
        return await self._lookup(
            ("track", site_id, workspaces.digest(api_key)),
            lambda: self._db.read(lambda c: workspaces.by_track_credentials(c, site_id, api_key)),
        )

    async def key(self, kind: Literal["app", "pipelines"], key: str) -> int:
        """The workspace of an App API key or Pipelines write key."""
        return await self._lookup(
            (kind, workspaces.digest(key)),
            lambda: self._db.read(lambda c: workspaces.by_key(c, kind, key)),
        )

    async def app(self, request: Request) -> int:
        """The workspace of a request's App API Bearer key."""
        token = bearer_token(request)
        if token is None:
            raise Unauthorized
        return await self.key("app", token)

    async def identity(self, request: Request) -> Identity | None:
        """Whoever the request's credentials belong to, trying each kind; None if nobody."""
        attempts: list[tuple[str, Callable[[], Awaitable[int]]]] = []
        basic = basic_credentials(request)
        if basic is not None:
            if basic[1]:
                attempts.append(("track", lambda: self.track(request)))
            if basic[0].strip():
                attempts.append(("pipelines", lambda: self.key("pipelines", basic[0].strip())))
        token = bearer_token(request)
        if token is not None:
            attempts.append(("app", lambda: self.key("app", token)))
            attempts.append(("pipelines", lambda: self.key("pipelines", token)))
        for kind, attempt in attempts:
            try:
                return Identity(await attempt(), kind)
            except Unauthorized:
                continue
        return None
