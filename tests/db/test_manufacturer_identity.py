"""A manufacturer's identity form does not depend on the database's locale (DESIGN §3: identity).

``normalise_manufacturer`` upper-cased with ``upper()``, whose result is the database's LC_CTYPE's: under a
C/POSIX locale (any external ``FIREARMS_DATABASE_URL`` may have one) 'Česká zbrojovka' and 'ČESKÁ
ZBROJOVKA' were two manufacturers, and the same firearm was registered twice.
"""

from __future__ import annotations

import datetime as dt
import shutil
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from firearms import db, imports, items
from firearms.errors import ConflictError
from firearms.item_types import NewItem, NewMarking
from firearms.text_rules import SPACE_CHARACTERS
from tests.conftest import _scratch_database

ACTOR = "test:records"
TODAY = dt.datetime.now(dt.UTC).date()
C_LOCALE = "TEMPLATE template0 ENCODING 'UTF8' LOCALE_PROVIDER libc LC_COLLATE 'C' LC_CTYPE 'C'"
THIS_MIGRATION = "20261129201000_manufacturer_identity_without_locale.sql"
# (as a dealer writes it, as the registry's officer writes it, country)
NAMES = [
    ("Česká zbrojovka", "ČESKÁ ZBROJOVKA", "CZ"),
    ("Zakłady Mechaniczne Tarnów", "ZAKŁADY MECHANICZNE TARNÓW", "PL"),
    ("Büchsenmacherei Jäger Straße", "BÜCHSENMACHEREI JÄGER STRAßE", "DE"),
]


def firearm(manufacturer: str, country: str, serial: str = "CZ-75-0001") -> NewItem:
    return NewItem(
        kind="firearm",
        firearm_type="pistol",
        manufacturer=manufacturer,
        country_of_manufacture=country,
        serial=serial,
        markings=[NewMarking(kind="manufacture", stamped=f"{manufacturer} {serial}")],
    )


@pytest.fixture(params=["C", "C.UTF-8"])
async def any_locale(request: pytest.FixtureRequest, pg_admin_uri: str, template_url: str) -> AsyncIterator[db.Conn]:
    """A migrated database under the C locale, and one under the session's (C.UTF-8, as the embedded server's)."""
    options = C_LOCALE if request.param == "C" else 'TEMPLATE "firearms_template"'
    async with _scratch_database(pg_admin_uri, options) as url:
        conn = await db.connect(url)
        try:
            await db.migrate(conn)
            assert await conn.fetchval("SELECT datctype FROM pg_database WHERE datname = current_database()") == (
                request.param
            )
            yield conn
        finally:
            await conn.close()


@pytest.mark.parametrize(("written", "upper", "country"), NAMES)
async def test_an_accented_manufacturer_is_one_identity_in_any_locale(
    any_locale: db.Conn, written: str, upper: str, country: str
) -> None:
    conn = any_locale
    first = await items.register_item(conn, firearm(written, country), actor=ACTOR, today=TODAY)
    with pytest.raises(ConflictError) as caught:
        await items.register_item(conn, firearm(upper, country), actor=ACTOR, today=TODAY)
    assert caught.value.code == "item-already-registered"
    assert caught.value.facts["item_id"] == first.item_id
    assert await conn.fetchval("SELECT manufacturer_key FROM item") == upper
    assert await conn.fetchval("SELECT count(*) FROM item") == 1


async def test_a_bulk_import_finds_the_accented_manufacturer_in_any_locale(any_locale: db.Conn, tmp_path: Path) -> None:
    conn = any_locale
    first = await items.register_item(conn, firearm("Česká zbrojovka", "CZ"), actor=ACTOR, today=TODAY)
    path = tmp_path / "dealer.csv"
    path.write_text(
        "kind,firearm_type,manufacturer,country_of_manufacture,serial,marking_stamped\n"
        "firearm,pistol,ČESKÁ ZBROJOVKA,CZ,CZ-75-0001,CZ 75\n"
        "firearm,pistol,Zakłady Mechaniczne Tarnów,PL,WIST-1,WIST 94\n"
        "firearm,pistol,ZAKŁADY MECHANICZNE TARNÓW,PL,WIST-1,WIST 94\n",
        encoding="utf-8",
    )
    result = await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    assert (result.inserted, result.already_registered, result.rejected) == (1, 1, 1)
    assert [(r.line, r.reason, r.item_id) for r in result.rejections] == [
        (2, "already-registered", first.item_id),
        (4, "duplicate-in-file", None),
    ]


async def test_white_space_in_a_manufacturer_is_the_registrys_in_any_locale(any_locale: db.Conn) -> None:
    # \s was the locale's white space: under C it missed U+2003 EM SPACE and the other Unicode spaces.
    collapsed = await any_locale.fetchval(
        "SELECT string_agg(chr(c), '' ORDER BY c) FROM generate_series(32, 12288) AS c"
        " WHERE normalise_manufacturer('A' || chr(c) || chr(c) || 'B') = 'A B'"
    )
    assert collapsed == SPACE_CHARACTERS


async def test_existing_keys_are_recomputed_and_colliding_records_both_stay_marked_duplicates(
    pg_admin_uri: str, tmp_path: Path
) -> None:
    """Every stale key takes its name's; of one identity, the later records are marked the first's duplicates.

    20261129201000 left the later record of a pair with its old key (a restore computed it again and the
    identity constraint refused the pair); 20261129204000 marks it instead, and a new registration or
    import of that identity is still refused, with the first record's id.
    """
    before = tmp_path / "before"
    before.mkdir()
    for path in sorted((db.SQL_DIR / "migrations").glob("*.sql")):
        if path.name < THIS_MIGRATION:
            shutil.copy(path, before)
    async with _scratch_database(pg_admin_uri, C_LOCALE) as url:
        conn = await db.connect(url)
        try:
            await db.migrate(conn, before)
            registered = {}
            for manufacturer, serial in [
                ("Česká zbrojovka", "A-1"),  # alone: takes the new key
                ("Česká zbrojovka", "B-1"),  # registered twice under the C locale ...
                ("ČESKÁ ZBROJOVKA", "B-1"),  # ... this one already holds the new key
                ("česká zbrojovka", "C-1"),  # two old keys, one new key: the first registered takes it
                ("Česká Zbrojovka", "C-1"),
            ]:
                registered[(manufacturer, serial)] = await conn.fetchval(
                    "INSERT INTO item (kind, firearm_type, country_of_manufacture, manufacturer, serial,"
                    " registered_at, registered_by) VALUES ('firearm', 'pistol', 'CZ', $1, $2, now(), $3)"
                    " RETURNING item_id",
                    manufacturer,
                    serial,
                    ACTOR,
                )
            assert await conn.fetchval("SELECT count(*) FROM item") == 5  # the defect: three firearms twice
            await db.migrate(conn)
            rows = {
                row["item_id"]: (row["manufacturer_key"], row["identity_duplicate_of"])
                for row in await conn.fetch("SELECT item_id, manufacturer_key, identity_duplicate_of FROM item")
            }
            b_first = registered[("Česká zbrojovka", "B-1")]
            c_first = registered[("česká zbrojovka", "C-1")]
            assert rows == {
                registered[("Česká zbrojovka", "A-1")]: ("ČESKÁ ZBROJOVKA", None),
                b_first: ("ČESKÁ ZBROJOVKA", None),
                registered[("ČESKÁ ZBROJOVKA", "B-1")]: ("ČESKÁ ZBROJOVKA", b_first),  # the later registered
                c_first: ("ČESKÁ ZBROJOVKA", None),
                registered[("Česká Zbrojovka", "C-1")]: ("ČESKÁ ZBROJOVKA", c_first),
            }
            assert not await conn.fetchval(
                "SELECT count(*) FROM item WHERE manufacturer_key <> normalise_manufacturer(manufacturer)"
            )
            # a new registration of the identity is refused as before, naming the first record
            with pytest.raises(ConflictError) as caught:
                await items.register_item(conn, firearm("česká ZBROJOVKA", "CZ", "B-1"), actor=ACTOR, today=TODAY)
            assert (caught.value.code, caught.value.facts["item_id"]) == ("item-already-registered", b_first)
            path = tmp_path / "dealer.csv"
            path.write_text(
                "kind,firearm_type,manufacturer,country_of_manufacture,serial,marking_stamped\n"
                "firearm,pistol,ČESKÁ ZBROJOVKA,CZ,C-1,CZ 75\n",
                encoding="utf-8",
            )
            result = await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
            assert (result.inserted, result.already_registered) == (0, 1)
            assert [(r.reason, r.item_id) for r in result.rejections] == [("already-registered", c_first)]
            # both records are found by serial, the duplicate saying whose
            found = await items.find_by_serial(conn, "c1", limit=10)
            assert [(item.item_id, item.identity_duplicate_of) for item in found] == [
                (c_first, None),
                (registered[("Česká Zbrojovka", "C-1")], c_first),
            ]
            assert await conn.fetchval("SELECT count(*) FROM item") == 5  # nothing deleted, nothing added
        finally:
            await conn.close()


async def test_an_identity_duplicate_mark_is_set_once_and_never_cleared_or_moved(conn: db.Conn) -> None:
    first = await items.register_item(conn, firearm("Česká zbrojovka", "CZ", "D-1"), actor=ACTOR, today=TODAY)
    other = await items.register_item(conn, firearm("Česká zbrojovka", "CZ", "D-2"), actor=ACTOR, today=TODAY)
    later = await items.register_item(conn, firearm("Česká zbrojovka", "CZ", "D-3"), actor=ACTOR, today=TODAY)
    # set once, from none (what the migration does)
    await conn.execute("UPDATE item SET identity_duplicate_of = $1 WHERE item_id = $2", first.item_id, later.item_id)
    for moved_to in (None, other.item_id):
        with pytest.raises(asyncpg.RestrictViolationError, match="only status and category may change"):
            await conn.execute("UPDATE item SET identity_duplicate_of = $1 WHERE item_id = $2", moved_to, later.item_id)
    with pytest.raises(asyncpg.CheckViolationError, match="item_identity_duplicate_of_check"):
        await conn.execute("UPDATE item SET identity_duplicate_of = item_id WHERE item_id = $1", other.item_id)
    assert (await items.get_item(conn, later.item_id)).identity_duplicate_of == first.item_id
