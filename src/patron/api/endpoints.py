"""What every endpoint shares: the runtime, authentication, and errors in the right shape."""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Literal

from starlette.requests import Request
from starlette.responses import Response

from patron.api.auth import CredentialCache, Unauthorized
from patron.api.dev_middleware import DevState
from patron.api.responses import error_meta, errors_v1, unauthorized
from patron.domain.errors import InvalidInput, NotFound
from patron.domain.operations import Operation
from patron.settings import Settings
from patron.store.apply import apply
from patron.store.database import Database
from patron.worker.exports import ExportWorker
from patron.worker.journeys import JourneyWorker
from patron.worker.segments import SegmentWorker
from patron.worker.sender import SenderWorker

log = logging.getLogger("patron.api")


@dataclass
class Runtime:
    """What handlers need: settings, the database, the credential cache, dev-mode state."""

    settings: Settings
    db: Database
    auth: CredentialCache
    dev: DevState | None = None
    segment_worker: SegmentWorker | None = None
    export_worker: ExportWorker | None = None
    sender: SenderWorker | None = None
    journeys: JourneyWorker | None = None

    def base_url(self, request: Request) -> str:
        """This server's public base URL: ``PATRON_PUBLIC_URL``, else the URL the request used."""
        return self.settings.public_url or str(request.base_url).rstrip("/")

    async def apply(self, ws: int, ops: Sequence[Operation]) -> None:
        """Apply operations through the one write path; returns after the commit."""
        await self.db.write(lambda conn: apply(conn, ws, ops))


def runtime(request: Request) -> Runtime:
    """The runtime of the app serving ``request``."""
    rt: Runtime = request.app.state.runtime
    return rt


Handler = Callable[[Request, Runtime, int], Awaitable[Response]]
ErrorShape = Literal["errors", "error"]


def _client_error(shape: ErrorShape, exc: InvalidInput) -> Response:
    if shape == "errors":
        return errors_v1(exc.messages)
    return error_meta("; ".join(exc.messages), 400)


def track_endpoint(
    shape: ErrorShape = "errors", *, auth_required: bool = True
) -> Callable[[Handler], Callable[[Request], Awaitable[Response]]]:
    """A Track API handler: Basic auth, and 400s as ``meta.errors`` (or ``meta.error``).

    With ``auth_required=False`` the workspace passed is 0 when no credentials were sent.
    """

    def decorate(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
        @functools.wraps(handler)
        async def endpoint(request: Request) -> Response:
            rt = runtime(request)
            try:
                if auth_required or "authorization" in request.headers:
                    ws = await rt.auth.track(request)
                else:
                    ws = 0
                return await handler(request, rt, ws)
            except Unauthorized:
                return unauthorized()
            except InvalidInput as exc:
                return _client_error(shape, exc)
            except NotFound as exc:
                return error_meta(str(exc), 404)

        return endpoint

    return decorate


def app_endpoint(handler: Handler) -> Callable[[Request], Awaitable[Response]]:
    """An App API handler: Bearer auth, errors as ``{"meta":{"error":…}}``."""

    @functools.wraps(handler)
    async def endpoint(request: Request) -> Response:
        rt = runtime(request)
        try:
            ws = await rt.auth.app(request)
            return await handler(request, rt, ws)
        except Unauthorized:
            return unauthorized()
        except InvalidInput as exc:
            return _client_error("error", exc)
        except NotFound as exc:
            return error_meta(str(exc), 404)

    return endpoint
