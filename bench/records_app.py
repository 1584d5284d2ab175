"""The product app plus a reference endpoint (bench only): one primary-key SELECT, same guard and transaction.

Run: ``python bench/records_app.py PORT`` with FIREARMS_DATABASE_URL, FIREARMS_STATE, FIREARMS_HOME set.
"""

from __future__ import annotations

from litestar import get
from litestar.exceptions import NotFoundException
from reference import serve_with_reference

from api.deps import ConnDep
from firearms import items
from firearms.item_types import Item  # Litestar reads the return annotation at run time
from firearms.store import items as store


@get("/items/{item_id:int}", opt={"roles": ("records-officer", "admin")})
async def reference(conn: ConnDep, item_id: int) -> Item:
    """One primary-key SELECT of an item: the ceiling a serial look-up is compared with."""
    row = await store.get_item(conn, item_id)
    if row is None:
        raise NotFoundException()
    return items.item_from_row(row)


def main() -> None:
    serve_with_reference(reference)


if __name__ == "__main__":
    main()
