"""What the bench apps share: the product app plus a reference endpoint behind the same guard, under uvicorn."""

from __future__ import annotations

import logging
import sys
from typing import Any

import uvicorn
from litestar import Router
from litestar.di import Provide

from api import create_app
from api.deps import provide_officer, require_role
from cli.supervisor import reuseport_sockets
from firearms.settings import load_settings

__all__ = ["serve_with_reference"]


def serve_with_reference(reference: Any) -> None:
    """Serve the registry (settings from ``FIREARMS_*``) on the port in ``argv[1]``, plus ``/bench/...``.

    The reference goes through the same bearer-token guard, per-request transaction and JSON handling
    as the product's endpoints; only the work inside differs.
    """
    port = int(sys.argv[1])
    # One access-log line per request would weigh on both endpoints alike and hide the difference.
    logging.getLogger("firearms.access").setLevel(logging.WARNING)
    app = create_app(load_settings(run_worker=False, port=port))
    app.register(
        Router(
            path="/bench",
            route_handlers=[reference],
            guards=[require_role],
            dependencies={"officer": Provide(provide_officer, sync_to_thread=False)},
        )
    )
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")
    # Like `serve --workers N`: each process of the bench app binds the port itself with SO_REUSEPORT.
    uvicorn.Server(config).run(sockets=reuseport_sockets("127.0.0.1", port))
