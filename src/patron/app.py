"""The Starlette application: routes, middleware, lifespan."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from patron.api import (
    app_campaigns,
    app_customers,
    app_exports,
    app_messages,
    app_objects,
    app_segments,
    app_send,
    app_transactional,
    control_plane,
    dev_apply,
    dev_inbox,
    pipelines,
    subscriptions,
    track_v1,
    track_v2,
    tracking,
)
from patron.api.auth import CredentialCache
from patron.api.dev_middleware import DevMiddleware, DevState
from patron.api.endpoints import Runtime
from patron.api.requests import RawPathRouting
from patron.api.responses import JSONResponse, error_meta, errors_v1
from patron.domain import clock
from patron.domain.rate_limits import PROFILES, RateLimiter
from patron.domain.request_log import RequestLog
from patron.settings import Settings
from patron.store import clocks
from patron.store.database import Database
from patron.worker.exports import ExportWorker
from patron.worker.journeys import JourneyWorker
from patron.worker.segments import SegmentWorker
from patron.worker.sender import SenderWorker

log = logging.getLogger("patron")


def open_database(settings: Settings) -> Database:
    """The database as the settings configure it."""
    return Database(
        settings.database_url,
        writer_threads=settings.writer_threads,
        read_pool_size=settings.read_pool_size,
        write_batch_size=settings.write_batch_size,
        sqlite_wal_limit=settings.sqlite_wal_limit * 1024 * 1024,
    )


async def healthz(request: Request) -> Response:
    """Liveness: 200 once the server accepts requests (no auth)."""
    return JSONResponse({"status": "ok"})


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    message = "Not found" if exc.status_code == 404 else exc.detail
    if request.url.path.startswith("/api/"):
        return errors_v1([message], exc.status_code)
    return error_meta(message, exc.status_code)


async def _server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_meta("Internal server error", 500)


def create_app(
    settings: Settings, db: Database | None = None, *, close_db: bool = False
) -> Starlette:
    """Assemble Patron's app. Without ``db`` it opens (and later closes) its own; with
    ``close_db`` it closes the one it was given when it shuts down."""
    own_db = db is None or close_db
    database = db or open_database(settings)

    worker = SegmentWorker.from_settings(database, settings) if settings.segment_worker else None
    exporter = ExportWorker.from_settings(database, settings) if settings.export_worker else None
    sender = SenderWorker.from_settings(database, settings) if settings.sender_worker else None
    journeys = JourneyWorker.from_settings(database, settings) if settings.journey_worker else None
    pokes = [w.poke for w in (worker, journeys) if w is not None]

    def after_commit() -> None:
        for poke in pokes:
            poke()

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        if settings.dev:
            clock.install(await database.read(clocks.load_all))
        if worker is not None:
            worker.start()
        if journeys is not None:
            await journeys.prepare()
            journeys.start()
        if pokes:
            database.after_commit = after_commit
        if exporter is not None:
            exporter.start()
        if sender is not None:
            sender.start()
        try:
            yield
        finally:
            database.after_commit = None
            if journeys is not None:
                await journeys.stop()
            if sender is not None:
                await sender.stop()
            if exporter is not None:
                await exporter.stop()
            if worker is not None:
                await worker.stop()
            if own_db:
                database.close()

    auth = CredentialCache(database)
    dev = _dev_state(settings)
    middleware = [Middleware(RawPathRouting)]
    if dev is not None:
        middleware.insert(0, Middleware(DevMiddleware, state=dev, auth=auth))
    app = Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            *track_v1.routes,
            *track_v2.routes,
            *app_customers.routes,
            *app_objects.routes,
            *app_segments.routes,
            *app_exports.routes,
            *app_send.routes,
            *app_messages.routes,
            *app_campaigns.routes,
            *app_transactional.routes,
            *subscriptions.routes,
            *tracking.routes,
            *pipelines.routes,
            *(control_plane.routes if settings.dev else []),
            *(dev_apply.routes if settings.dev else []),
            *(dev_inbox.routes if settings.dev else []),
        ],
        middleware=middleware,
        exception_handlers={HTTPException: _http_error, Exception: _server_error},
        lifespan=lifespan,
    )
    app.state.runtime = Runtime(
        settings=settings,
        db=database,
        auth=auth,
        dev=dev,
        segment_worker=worker,
        export_worker=exporter,
        sender=sender,
        journeys=journeys,
    )
    return app


def _dev_state(settings: Settings) -> DevState | None:
    """Dev mode and enforced limits both look at every request; neither costs anything off."""
    if not settings.dev and not settings.enforce_limits:
        return None
    limits = None
    if settings.enforce_limits:
        if settings.enforce_limits not in PROFILES:
            raise ValueError(
                f"unknown rate-limit profile {settings.enforce_limits!r}; one of {sorted(PROFILES)}"
            )
        limits = RateLimiter(PROFILES[settings.enforce_limits])
    log = RequestLog(settings.request_log_size) if settings.dev else None
    return DevState(log=log, limits=limits)
