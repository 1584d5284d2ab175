"""``create_app(settings)``: the Litestar application of one registry."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

from litestar import Litestar, Request, Router
from litestar.datastructures import State
from litestar.di import Provide
from litestar.exceptions import NotFoundException
from litestar.openapi import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin

from api import (
    checks,
    exchange,
    foreign_item_reports,
    health,
    imports,
    items,
    journal,
    licences,
    notices,
    parties,
    peers,
    received,
    status,
    tokens,
    traces,
    verify,
)
from api.deps import (
    WRITE_OUTAGE,
    WriteOutage,
    command_timeout,
    index_query_parameters,
    provide_conn,
    provide_long_pool,
    provide_officer,
    provide_pool,
    provide_settings,
    request_bounds,
    require_json,
    require_role,
)
from api.middleware import RequestIdMiddleware
from api.problems import exception_handlers
from firearms import __version__, db
from firearms.settings import Settings
from firearms.worker import POOL_SIZE as WORKER_POOL_SIZE
from firearms.worker import run_worker

__all__ = ["create_app"]


def _schema_page_not_found(request: Request) -> None:  # type: ignore[type-arg]
    """An unknown page under ``/schema`` is the ``not-found`` problem every other unknown path is (README "Bad input").

    Litestar answers ``/schema/{path}`` that no renderer serves (``/schema/scalar`` too, now that no viewer is
    mounted) with an HTML page of its own, before any exception handler: its handler is the only one under
    ``/schema`` with a ``path`` parameter, so it is refused here.
    """
    if "path" in request.path_params:
        raise NotFoundException


LONG_POOL_SIZE = 4  # connections of this process's long jobs (imports, journal verifications, exports)


def create_app(settings: Settings, *, database_url: str | None = None) -> Litestar:
    """The registry's app. ``database_url`` overrides the settings (``serve`` resolves the embedded one)."""
    url = database_url or settings.database_url
    if url is None:
        raise ValueError("create_app needs a database URL: resolve the embedded server first")

    @contextlib.asynccontextmanager
    async def lifespan(app: Litestar) -> AsyncGenerator[None, None]:
        # An officer request waits a bounded time for the database (README "When the database is slow or gone"):
        # the bounds are the pool's session settings, so a request pays no round trip for them, and the pool gives
        # up on a database that does not answer at all. Long jobs and the worker have pools without them.
        app.state.pool = await db.create_pool(
            url,
            max_size=settings.pool_size,
            session=request_bounds(settings),
            command_timeout=command_timeout(settings),
        )
        app.state.long_pool = await db.create_pool(url, max_size=LONG_POOL_SIZE, min_size=0)
        worker_pool = await db.create_pool(url, max_size=WORKER_POOL_SIZE) if settings.run_worker else None
        stop = asyncio.Event()
        worker = asyncio.create_task(run_worker(worker_pool, settings, stop)) if worker_pool is not None else None
        try:
            yield
        finally:
            stop.set()
            if worker is not None:
                await worker
            if worker_pool is not None:
                await worker_pool.close()
            await app.state.long_pool.close()
            await app.state.pool.close()

    officer_api = Router(
        path="/api/v1",
        route_handlers=[
            tokens.TokenController,
            journal.JournalController,
            health.me,
            parties.PartyController,
            licences.LicenceController,
            verify.verify_licence,
            items.ItemController,
            imports.ImportController,
            checks.CheckController,
            peers.PeerController,
            notices.NoticeController,
            notices.KeyController,
            received.ForeignLicenceController,
            foreign_item_reports.ForeignItemReportController,
            received.ShipmentController,
            received.request_receipt_confirmation,
            received.ConsentRequestController,
            traces.TraceRequestController,
            status.read_status,
        ],
        guards=[require_role],
        before_request=require_json,
        dependencies={"officer": Provide(provide_officer, sync_to_thread=False)},
    )
    app = Litestar(
        route_handlers=[health.health, officer_api, exchange.exchange_api],
        dependencies={
            "conn": Provide(provide_conn),
            "settings": Provide(provide_settings, sync_to_thread=False),
            "pool": Provide(provide_pool, sync_to_thread=False),
            "long_pool": Provide(provide_long_pool, sync_to_thread=False),
        },
        lifespan=[lifespan],
        state=State({"settings": settings, WRITE_OUTAGE: WriteOutage()}),
        exception_handlers=exception_handlers,
        request_max_body_size=settings.max_body_bytes,
        openapi_config=OpenAPIConfig(
            title=f"Firearms registry ({settings.state})",
            version=__version__,
            description="A national firearms registry under the UN Firearms Protocol.",
            use_handler_docstrings=True,
            openapi_router=Router(
                "/schema",
                route_handlers=[],
                include_in_schema=False,
                dto=None,
                return_dto=None,
                before_request=_schema_page_not_found,
            ),
            # The document only, at /schema and /schema/openapi.json: no HTML viewer. Litestar's viewers load their
            # script from a CDN into the registry's origin, where officers hold bearer tokens, and show nothing at an
            # air-gapped border post; no well-kept package ships one to serve from here (README "Security").
            render_plugins=[JsonRenderPlugin()],
        ),
        debug=False,
    )
    index_query_parameters(app)  # a query parameter no handler reads is refused (api.deps.require_json)
    # Around the router, not in the routes' middleware: the router's own 404 and 405 (no route, no such
    # method) get a request id, the X-Request-Id header and an access line too.
    app.asgi_handler = RequestIdMiddleware(app.asgi_handler)
    return app
