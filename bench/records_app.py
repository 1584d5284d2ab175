"""The product app plus a reference endpoint (bench only): one primary-key SELECT, same guard and transaction.

Run: ``python bench/records_app.py PORT`` with FIREARMS_DATABASE_URL, FIREARMS_STATE, FIREARMS_HOME set.
"""

from __future__ import annotations

import logging
import sys

import uvicorn
from litestar import Router, get
from litestar.di import Provide
from litestar.exceptions import NotFoundException

from api import create_app
from api.deps import ConnDep, provide_officer, require_role
from firearms import items
from firearms.item_types import Item  # noqa: TC001  # Litestar reads the return annotation at run time
from firearms.settings import load_settings
from firearms.store import items as store


@get("/items/{item_id:int}", opt={"roles": ("records-officer", "admin")})
async def reference(conn: ConnDep, item_id: int) -> Item:
    """One primary-key SELECT of an item: the ceiling a serial look-up is compared with."""
    row = await store.get_item(conn, item_id)
    if row is None:
        raise NotFoundException()
    return items.item_from_row(row)


def main() -> None:
    port = int(sys.argv[1])
    # One access-log line per request would weigh on both endpoints alike and hide the difference.
    logging.getLogger("firearms.access").setLevel(logging.WARNING)
    settings = load_settings(run_worker=False, port=port)
    app = create_app(settings)
    app.register(
        Router(
            path="/bench",
            route_handlers=[reference],
            guards=[require_role],
            dependencies={"officer": Provide(provide_officer, sync_to_thread=False)},
        )
    )
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False, lifespan="on")


if __name__ == "__main__":
    main()
