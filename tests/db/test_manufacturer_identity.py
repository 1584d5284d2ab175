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
            assert await conn.fetch(MARKS_BREAKING_THE_RULE) == []  # the migration's marks are what the rule takes
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


# What a later migration that changes normalise_manufacturer does (README "Identity"): a rule under which two
# spellings registered as two identities become one (here: a hyphen between words is a space), the later record
# marked the first's duplicate, then every key computed again.
FUTURE_RULE = r"""
CREATE OR REPLACE FUNCTION normalise_manufacturer(manufacturer text) RETURNS text
    LANGUAGE sql IMMUTABLE STRICT PARALLEL SAFE
    RETURN upper(regexp_replace(translate(manufacturer, '-', ' '),
                                '[\t\n\v\f\r \u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000]+', ' ', 'g')
                 COLLATE pg_c_utf8)
"""
MARK = "UPDATE item SET identity_duplicate_of = $1 WHERE item_id = $2"
# README "Identity": the marks that break the rule (set before 20261130153000 judged them)
MARKS_BREAKING_THE_RULE = (
    "SELECT d.item_id, d.identity_duplicate_of FROM item AS d"
    " JOIN item AS f ON f.item_id = d.identity_duplicate_of WHERE f.item_id > d.item_id OR f.identity_duplicate_of"
    " IS NOT NULL OR (f.serial_normalised, f.identity_class, f.manufacturer_key, f.country_of_manufacture)"
    " IS DISTINCT FROM (d.serial_normalised, d.identity_class, d.manufacturer_key, d.country_of_manufacture)"
)


async def test_an_identity_duplicate_mark_is_set_once_and_never_cleared_or_moved(conn: db.Conn) -> None:
    """A later migration marks the pair its new rule makes one identity; the mark then stays as it was set.

    Before, the test marked D-3 a duplicate of D-1, another serial: nothing a migration does (it marks only
    records of one identity), and what the database now refuses.
    """
    first = await items.register_item(conn, firearm("Česká zbrojovka", "CZ", "D-1"), actor=ACTOR, today=TODAY)
    later = await items.register_item(conn, firearm("Česká-Zbrojovka", "CZ", "D-1"), actor=ACTOR, today=TODAY)
    other = await items.register_item(conn, firearm("Česká zbrojovka", "CZ", "D-2"), actor=ACTOR, today=TODAY)
    async with conn.transaction():  # the later migration
        await conn.execute(FUTURE_RULE)
        await conn.execute(MARK, first.item_id, later.item_id)
        await conn.execute("UPDATE item SET manufacturer = manufacturer WHERE item_id = $1", later.item_id)
    assert await conn.fetchval("SELECT manufacturer_key FROM item WHERE item_id = $1", later.item_id) == (
        "ČESKÁ ZBROJOVKA"
    )
    for moved_to in (None, other.item_id):
        with pytest.raises(asyncpg.RestrictViolationError, match="never cleared or changed"):
            await conn.execute(MARK, moved_to, later.item_id)
    with pytest.raises(asyncpg.CheckViolationError, match="item_identity_duplicate_of_check"):
        await conn.execute("UPDATE item SET identity_duplicate_of = item_id WHERE item_id = $1", other.item_id)
    assert (await items.get_item(conn, later.item_id)).identity_duplicate_of == first.item_id
    with pytest.raises(ConflictError) as caught:
        await items.register_item(conn, firearm("ČESKÁ ZBROJOVKA", "CZ", "D-1"), actor=ACTOR, today=TODAY)
    assert (caught.value.code, caught.value.facts["item_id"]) == ("item-already-registered", first.item_id)


async def test_a_duplicate_mark_naming_an_unrelated_item_is_refused_and_the_identity_stays_taken(
    conn: db.Conn,
) -> None:
    """A bare UPDATE marked any item a duplicate of any other: out of item_identity_key, its identity was free again.

    The database takes a mark only to an earlier item of the same identity that is itself no duplicate.
    """
    first = await items.register_item(conn, firearm("Česká zbrojovka", "CZ", "E-1"), actor=ACTOR, today=TODAY)
    victim = await items.register_item(conn, firearm("Česká zbrojovka", "CZ", "E-2"), actor=ACTOR, today=TODAY)
    with pytest.raises(asyncpg.RestrictViolationError, match="only of the item first registered under its identity"):
        await conn.execute(MARK, first.item_id, victim.item_id)
    assert (await items.get_item(conn, victim.item_id)).identity_duplicate_of is None
    with pytest.raises(ConflictError) as caught:
        await items.register_item(conn, firearm("ČESKÁ ZBROJOVKA", "CZ", "E-2"), actor=ACTOR, today=TODAY)
    assert (caught.value.code, caught.value.facts["item_id"]) == ("item-already-registered", victim.item_id)
    assert await conn.fetchval("SELECT count(*) FROM item") == 2


async def test_a_duplicate_mark_names_the_first_record_of_the_same_identity_or_is_refused(conn: db.Conn) -> None:
    """Same serial is not enough: the kind (and component type), manufacturer and country too; and the earlier one."""
    made = {
        name: await items.register_item(conn, item, actor=ACTOR, today=TODAY)
        for name, item in {
            "first": firearm("Česká zbrojovka", "CZ", "F-1"),
            "other maker": firearm("Zbrojovka Brno", "CZ", "F-1"),
            "other country": firearm("Česká zbrojovka", "SK", "F-1"),
            "frame": NewItem(
                kind="component",
                component_type="frame",
                manufacturer="Česká zbrojovka",
                country_of_manufacture="CZ",
                serial="F-1",
            ),
        }.items()
    }
    first = made["first"].item_id
    for name in ("other maker", "other country", "frame"):
        with pytest.raises(asyncpg.RestrictViolationError, match="only of the item first registered"):
            await conn.execute(MARK, first, made[name].item_id)
    # as 20261129204000 leaves a pair: the later record of the identity, marked the first's duplicate
    insert = (
        "INSERT INTO item (kind, firearm_type, country_of_manufacture, manufacturer, serial, registered_at,"
        " registered_by, identity_duplicate_of) VALUES ('firearm', 'pistol', 'CZ', $1, 'F-1', now(), $2, $3)"
        " RETURNING item_id"
    )
    duplicate = await conn.fetchval(insert, "Česká\u00a0zbrojovka", ACTOR, first)
    # never the other way round (the first a duplicate of a later record), nor naming a duplicate
    with pytest.raises(asyncpg.RestrictViolationError, match="only of the item first registered"):
        await conn.execute(MARK, duplicate, first)
    with pytest.raises(asyncpg.RestrictViolationError, match="only of the item first registered"):
        await conn.fetchval(insert, "ČESKÁ ZBROJOVKA", ACTOR, duplicate)
    # a new record marked a duplicate of an unrelated item, to pass item_identity_key, is refused the same way
    with pytest.raises(asyncpg.RestrictViolationError, match="only of the item first registered"):
        await conn.fetchval(insert, "ČESKÁ ZBROJOVKA", ACTOR, made["other maker"].item_id)
    marks = {row["item_id"]: row["identity_duplicate_of"] for row in await conn.fetch("SELECT * FROM item")}
    assert marks == {**{item.item_id: None for item in made.values()}, duplicate: first}
    assert await conn.fetch(MARKS_BREAKING_THE_RULE) == []


async def test_the_readme_query_finds_a_mark_set_before_the_rule(conn: db.Conn) -> None:
    """A mark the hole let through before 20261130153000 stays (append-only); the README's query names it."""
    first = await items.register_item(conn, firearm("Česká zbrojovka", "CZ", "G-1"), actor=ACTOR, today=TODAY)
    victim = await items.register_item(conn, firearm("Česká zbrojovka", "CZ", "G-2"), actor=ACTOR, today=TODAY)
    async with conn.transaction():  # as before the rule: no trigger judged it
        await conn.execute("SET LOCAL session_replication_role = replica")
        await conn.execute(MARK, first.item_id, victim.item_id)
    assert [tuple(row) for row in await conn.fetch(MARKS_BREAKING_THE_RULE)] == [(victim.item_id, first.item_id)]
