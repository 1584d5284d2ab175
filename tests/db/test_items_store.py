from __future__ import annotations

import datetime as dt
from pathlib import Path

import asyncpg
import pytest

from firearms import db, imports, item_events, items, serials
from firearms.errors import ConflictError, InvalidInputError, NotFoundError
from firearms.item_types import DeactivatedCategory, NewEvent, NewItem, NewMarking
from firearms.store import keys as key_store

ACTOR = "test:records"
TODAY = dt.datetime.now(dt.UTC).date()
RECORD_QUERIES = [
    name
    for name in db.QUERIES
    if name
    in {
        "insert_item",
        "get_item_id_by_identity",
        "get_item",
        "get_item_for_update",
        "update_item_status",
        "update_item_category",
        "get_current_deactivation",
        "insert_markings",
        "list_markings",
        "has_marking",
        "is_made_here",
        "insert_item_event",
        "list_item_event_kinds",
        "list_item_history",
        "list_items",
        "find_items_by_serial",
        "search_items",
        "find_reported_serials",
        "set_similarity_threshold",
        "check_item_staging",
        "insert_imported_items",
        "count_import_outcome",
        "list_import_rejections",
        "next_import_id",
        "insert_item_import",
    }
]


def rifle(serial: str = "SSG08-001", manufacturer: str = "Steyr Mannlicher", **changes: object) -> NewItem:
    fields: dict[str, object] = {
        "kind": "firearm",
        "firearm_type": "rifle",
        "manufacturer": manufacturer,
        "country_of_manufacture": "AT",
        "serial": serial,
        "make": "Steyr",
        "model": "SSG 08",
        "calibre": ".308 Win",
        "year_of_manufacture": 2019,
        "category": "B",
        "markings": [NewMarking(kind="manufacture", stamped=f"STEYR MANNLICHER AUSTRIA {serial}", serial=serial)],
    }
    fields.update(changes)
    return NewItem(**fields)  # type: ignore[arg-type]


async def add_deactivation_mark(conn: db.Conn, item_id: int) -> None:
    """The deactivation mark the verifier stamps (country, verifier's symbol, year: Reg. 2015/2403 Annex II)."""
    mark = NewMarking(kind="deactivation", stamped="AT BMI", country="AT", symbol_code="BMI", year=TODAY.year)
    await items.add_marking(conn, item_id, mark, actor=ACTOR, today=TODAY)


def deactivated(certificate_number: str, category_after: DeactivatedCategory | None = None) -> NewEvent:
    """A deactivation verified by another than the deactivator (Reg. 2015/2403 Art. 3), certified today."""
    return NewEvent(
        event="deactivated",
        occurred_on=TODAY,
        deactivator="Huber",
        verifier="Beschussamt Wien",
        certificate_number=certificate_number,
        certificate_date=TODAY,
        category_after=category_after,
    )


class History:
    """One item's lifecycle as the tests record it: each event dated today, each correction "recorded in error"."""

    def __init__(self, conn: db.Conn, item_id: int) -> None:
        self.conn, self.item_id = conn, item_id

    async def event(self, kind: str, **fields: object) -> int:
        """Record ``kind`` with ``fields``; its event id."""
        data = NewEvent(event=kind, occurred_on=TODAY, **fields)  # type: ignore[arg-type]
        return (await item_events.record_event(self.conn, self.item_id, data, actor=ACTOR, today=TODAY)).event_id

    async def correct(self, event_id: int) -> str:
        """Correct event ``event_id``; the item's status after the correction."""
        data = NewEvent(event="corrected", occurred_on=TODAY, corrects_event_id=event_id, reason="recorded in error")
        return (await item_events.record_event(self.conn, self.item_id, data, actor=ACTOR, today=TODAY)).status_after


async def test_every_records_query_prepares_against_the_schema(conn: db.Conn) -> None:
    async with conn.transaction():
        await conn.execute(db.QUERIES["create_item_staging"])
        await conn.execute(db.QUERIES["create_item_checked"])
        for name in RECORD_QUERIES:
            await conn.prepare(db.QUERIES[name])
    assert len(RECORD_QUERIES) == 25


async def test_sql_normalisation_agrees_with_python(conn: db.Conn) -> None:
    # The last ones are not registrable serials but may be on a partner's licence: both sides leave them.
    samples = [
        "ab-12 c/d.e_f",
        "SSG08-001",
        "o0 il1 s5 b8 z2",
        "x",
        "a.b.c",
        "Lot 2024/07",
        "\u017fsg-\u00df",
        "\u00e9-\ufb01",
    ]
    for sample in samples:
        got = await conn.fetchrow("SELECT normalise_serial($1) AS n, fold_serial($1) AS f", sample)
        assert got is not None
        assert (got["n"], got["f"]) == (serials.normalise(sample), serials.fold(sample))


async def test_registration_stores_item_markings_and_journal(conn: db.Conn) -> None:
    detail = await items.register_item(conn, rifle(), actor=ACTOR, today=TODAY)
    assert detail.serial == "SSG08-001"
    assert detail.serial_normalised == "SSG08001"
    assert detail.status == "active"
    assert [m.kind for m in detail.markings] == ["manufacture"]
    entry = await conn.fetchrow("SELECT action, entity_id FROM journal_entry ORDER BY entry_id DESC LIMIT 1")
    assert entry is not None
    assert (entry["action"], entry["entity_id"]) == ("item.registered", str(detail.item_id))


async def test_the_journal_holds_what_each_records_change_wrote(conn: db.Conn) -> None:
    # The journal is the record an auditor can trust for decades: a destination, a party, a correction's
    # reason, a marking's parsed country must be in it, or a change to the row later cannot be found.
    detail = await items.register_item(conn, rifle(year_of_manufacture=2018, category="C"), actor=ACTOR, today=TODAY)
    await items.add_marking(
        conn,
        detail.item_id,
        NewMarking(kind="import", stamped="CH 24", country="CH", year=2024),
        actor=ACTOR,
        today=TODAY,
    )
    exported = await item_events.record_event(
        conn,
        detail.item_id,
        NewEvent(event="exported", occurred_on=TODAY, to_party="Waffen Meier AG", country="CH", document="EXP-7"),
        actor=ACTOR,
        today=TODAY,
    )
    await item_events.record_event(
        conn,
        detail.item_id,
        NewEvent(event="corrected", occurred_on=TODAY, corrects_event_id=exported.event_id, reason="wrong item"),
        actor=ACTOR,
        today=TODAY,
    )
    rows = await conn.fetch("SELECT action, payload FROM journal_entry WHERE entity = 'item' ORDER BY entry_id")
    payloads = {row["action"]: row["payload"] for row in rows}
    assert list(payloads) == ["item.registered", "marking.added", "item.exported", "item.corrected"]
    registered = payloads["item.registered"]
    assert (registered["model"], registered["year_of_manufacture"], registered["category"]) == ("SSG 08", 2018, "C")
    assert registered["markings"][0]["stamped"] == "STEYR MANNLICHER AUSTRIA SSG08-001"
    assert (payloads["marking.added"]["country"], payloads["marking.added"]["year"]) == ("CH", 2024)
    assert payloads["item.exported"]["country"] == "CH"
    assert payloads["item.exported"]["to_party"] == "Waffen Meier AG"
    assert payloads["item.exported"]["document"] == "EXP-7"
    assert payloads["item.corrected"]["reason"] == "wrong item"


@pytest.mark.parametrize("space", ["\u00a0", "\u2007", "\u202f"])
async def test_a_no_break_space_in_the_manufacturer_is_white_space_for_identity(conn: db.Conn, space: str) -> None:
    # A name pasted from a web page or a word processor often holds a no-break space; PostgreSQL's \s
    # does not match it, so the same firearm was registered a second time.
    first = await items.register_item(conn, rifle(), actor=ACTOR, today=TODAY)
    with pytest.raises(ConflictError) as caught:
        await items.register_item(conn, rifle(manufacturer=f"Steyr{space}Mannlicher"), actor=ACTOR, today=TODAY)
    assert caught.value.facts["item_id"] == first.item_id
    assert await conn.fetchval("SELECT count(*) FROM item") == 1


@pytest.mark.parametrize("table", ["item", "marking", "item_event", "item_import", "item_correction"])
async def test_records_tables_refuse_truncate(conn: db.Conn, table: str) -> None:
    # Records are kept for decades and never deleted; TRUNCATE fires no row trigger.
    detail = await items.register_item(conn, rifle(), actor=ACTOR, today=TODAY)
    await item_events.record_event(
        conn, detail.item_id, NewEvent(event="lost", occurred_on=TODAY), actor=ACTOR, today=TODAY
    )
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute(f"TRUNCATE {table} CASCADE")
    assert await conn.fetchval("SELECT count(*) FROM item_event") == 1


async def test_second_registration_of_same_identity_is_409_with_existing_id(conn: db.Conn) -> None:
    first = await items.register_item(conn, rifle("ssg08 001"), actor=ACTOR, today=TODAY)
    with pytest.raises(ConflictError) as caught:
        await items.register_item(conn, rifle("SSG08-001", manufacturer="STEYR  MANNLICHER"), actor=ACTOR, today=TODAY)
    assert caught.value.code == "item-already-registered"
    assert caught.value.facts["item_id"] == first.item_id
    assert await conn.fetchval("SELECT count(*) FROM item") == 1


async def test_confusable_serials_stay_two_items(conn: db.Conn) -> None:
    one = await items.register_item(conn, rifle("AB12"), actor=ACTOR, today=TODAY)
    two = await items.register_item(conn, rifle("A812"), actor=ACTOR, today=TODAY)
    assert one.item_id != two.item_id
    found = await items.find_by_serial(conn, "ab-12", limit=10)
    assert [item.item_id for item in found] == [one.item_id]


async def test_frame_may_share_the_serial_of_its_firearm(conn: db.Conn) -> None:
    gun = await items.register_item(conn, rifle("X100"), actor=ACTOR, today=TODAY)
    frame = NewItem(
        kind="component",
        component_type="frame",
        manufacturer="Steyr Mannlicher",
        country_of_manufacture="AT",
        serial="X100",
        parent_item_id=gun.item_id,
    )
    part = await items.register_item(conn, frame, actor=ACTOR, today=TODAY)
    assert part.parent_item_id == gun.item_id


async def test_fuzzy_search_ranks_confusable_candidates_with_score(conn: db.Conn) -> None:
    wanted = await items.register_item(conn, rifle("SB0Z-1234"), actor=ACTOR, today=TODAY)
    await items.register_item(conn, rifle("QQQQ-9999"), actor=ACTOR, today=TODAY)
    found = await items.search_items(conn, "5BOZ 1234", filters=(None,) * 6, after=None, limit=10)
    assert [item.item_id for item in found] == [wanted.item_id]
    assert found[0].score == pytest.approx(1.0)
    assert found[0].exact is False


async def test_lost_and_stolen_look_up_matches_normalised_serials_only(conn: db.Conn) -> None:
    lost = await items.register_item(conn, rifle("LS-0001"), actor=ACTOR, today=TODAY)
    await items.register_item(conn, rifle("LS-0002"), actor=ACTOR, today=TODAY)
    await item_events.record_event(
        conn, lost.item_id, NewEvent(event="lost", occurred_on=TODAY), actor=ACTOR, today=TODAY
    )
    assert await items.reported_lost_or_stolen(conn, ["ls 0001", "LS-0002", "L5-0001", "nothing"]) == {"ls 0001"}
    assert await items.reported_lost_or_stolen(conn, []) == set()


async def test_lost_and_stolen_look_up_is_one_partial_index_scan(conn: db.Conn, tmp_path: Path) -> None:
    path = tmp_path / "many.csv"
    lines = ["kind,firearm_type,manufacturer,country_of_manufacture,serial,marking_stamped"]
    lines += [f"firearm,pistol,Glock GmbH,AT,MANY-{n},GLOCK MANY-{n}" for n in range(5000)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    await imports.import_file(conn, path, actor=ACTOR, today=TODAY)
    await conn.execute("ANALYZE item")
    plan = "\n".join(
        row[0] for row in await conn.fetch("EXPLAIN " + db.QUERIES["find_reported_serials"], ["MANY1", "MANY2"])
    )
    assert "item_reported_idx" in plan
    assert "Seq Scan" not in plan


async def test_item_row_refuses_changes_other_than_status(conn: db.Conn) -> None:
    item = await items.register_item(conn, rifle(), actor=ACTOR, today=TODAY)
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("UPDATE item SET serial = 'OTHER' WHERE item_id = $1", item.item_id)
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("DELETE FROM item WHERE item_id = $1", item.item_id)


async def test_item_status_moves_only_with_an_event(conn: db.Conn) -> None:
    """A stolen firearm set 'active' by a bare UPDATE cleared customs while its history said stolen."""
    item_id = (await items.register_item(conn, rifle(), actor=ACTOR, today=TODAY)).item_id
    async with conn.transaction():  # two events in one transaction: the status follows the last one
        for event in ("stolen", "recovered", "stolen"):
            await item_events.record_event(
                conn, item_id, NewEvent(event=event, occurred_on=TODAY), actor=ACTOR, today=TODAY
            )
    with pytest.raises(asyncpg.RestrictViolationError):
        await conn.execute("UPDATE item SET status = 'active' WHERE item_id = $1", item_id)
    with pytest.raises(asyncpg.RestrictViolationError):  # nor an event written without moving the status
        await conn.execute(
            "INSERT INTO item_event (item_id, event, status_before, status_after, occurred_on, recorded_at,"
            " recorded_by) VALUES ($1, 'recovered', 'stolen', 'active', current_date, now(), 'x')",
            item_id,
        )
    assert await conn.fetchval("SELECT status FROM item WHERE item_id = $1", item_id) == "stolen"
    assert await items.reported_lost_or_stolen(conn, ["SSG08-001"]) == {"SSG08-001"}


async def test_item_category_moves_only_with_a_deactivation_or_its_correction(conn: db.Conn) -> None:
    """A bare UPDATE item SET category, or a category event that leaves the item as it was, is refused at commit."""
    item_id = (await items.register_item(conn, rifle(category="B"), actor=ACTOR, today=TODAY)).item_id
    with pytest.raises(asyncpg.RestrictViolationError):  # no event ever moved it: the registration's category
        async with conn.transaction():
            await conn.execute("UPDATE item SET category = 'C' WHERE item_id = $1", item_id)
    await add_deactivation_mark(conn, item_id)
    await item_events.record_event(conn, item_id, deactivated("AT-1"), actor=ACTOR, today=TODAY)
    with pytest.raises(asyncpg.RestrictViolationError):
        async with conn.transaction():
            await conn.execute("UPDATE item SET category = 'B' WHERE item_id = $1", item_id)
    with pytest.raises(asyncpg.RestrictViolationError):  # nor an event written without moving the category
        async with conn.transaction():
            await conn.execute(
                "INSERT INTO item_event (item_id, event, status_before, status_after, occurred_on, recorded_at,"
                " recorded_by, reason, category_before, category_after)"
                " VALUES ($1, 'corrected', 'deactivated', 'deactivated', current_date, now(), 'x', 'x', 'C', 'B')",
                item_id,
            )
    assert await conn.fetchval("SELECT category FROM item WHERE item_id = $1", item_id) == "C"


async def test_a_correction_gives_back_the_category_the_items_other_events_give(conn: db.Conn) -> None:
    """The registered category is what the first deactivation found; each deactivation in effect moves it."""
    item_id = (await items.register_item(conn, rifle(category="B"), actor=ACTOR, today=TODAY)).item_id
    await add_deactivation_mark(conn, item_id)

    async def record(data: NewEvent) -> tuple[str | None, str | None]:
        recorded = await item_events.record_event(conn, item_id, data, actor=ACTOR, today=TODAY)
        return recorded.category_before, recorded.category_after

    def correction(event_id: int) -> NewEvent:
        return NewEvent(event="corrected", occurred_on=TODAY, reason="typing error", corrects_event_id=event_id)

    first = await item_events.record_event(conn, item_id, deactivated("AT-1"), actor=ACTOR, today=TODAY)
    assert (first.category_before, first.category_after) == ("B", "C")
    assert await record(correction(first.event_id)) == ("C", "B")
    second = await item_events.record_event(
        conn, item_id, deactivated("AT-2", category_after="A"), actor=ACTOR, today=TODAY
    )
    assert (second.category_before, second.category_after) == ("B", "A")
    moves_none = NewEvent(event="transferred", occurred_on=TODAY, to_party="Museum")
    assert await record(moves_none) == (None, None)
    assert await record(correction(second.event_id)) == ("A", "B")
    assert (await items.get_item(conn, item_id)).category == "B"


async def test_marking_for_missing_item_is_not_found_and_stores_nothing(conn: db.Conn) -> None:
    with pytest.raises(NotFoundError):
        await items.add_marking(conn, 999, NewMarking(kind="proof", stamped="BP"), actor=ACTOR, today=TODAY)
    assert await conn.fetchval("SELECT count(*) FROM marking") == 0


async def test_firearm_without_manufacture_or_geometric_marking_is_refused(conn: db.Conn) -> None:
    with pytest.raises(InvalidInputError) as caught:
        await items.register_item(
            conn, rifle(markings=[NewMarking(kind="proof", stamped="BP")]), actor=ACTOR, today=TODAY
        )
    assert caught.value.code == "marking-required"
    assert await conn.fetchval("SELECT count(*) FROM item") == 0


async def test_tiered_fuzzy_search_pages_equal_one_search_at_the_final_threshold(conn: db.Conn) -> None:
    for serial in ("KX-100200", "KX-100201", "KX-100299", "KX-109999", "KQ-555200", "ZZ-1"):
        await items.register_item(conn, rifle(serial), actor=ACTOR, today=TODAY)
    wanted = await conn.fetch(
        "SELECT serial FROM item WHERE similarity(serial_folded, $1) >= $2"
        " ORDER BY similarity(serial_folded, $1) DESC, serial_normalised = $3 DESC, item_id",
        serials.fold("KX-100200"),
        items.SEARCH_THRESHOLD,
        serials.normalise("KX-100200"),
    )
    got: list[str] = []
    after = None
    while True:
        async with conn.transaction():
            found = await items.search_items(conn, "KX 100200", filters=(None,) * 6, after=after, limit=3)
        got += [item.serial for item in found[:2]]
        if len(found) < 3:
            break
        after = (found[1].score, found[1].exact, found[1].item_id)
    assert got == [row["serial"] for row in wanted]
    assert len(got) >= 3


async def test_correcting_events_latest_first_walks_the_status_back_to_active(conn: db.Conn) -> None:
    """A loss and then a seizure both recorded in error: corrected latest first, the item is active again.

    Once the seizure is corrected, the loss is the latest event not corrected; correcting it must
    revert too, or the item stays reported lost (and matches the lost-and-stolen look-up) for good.
    """
    item_id = (await items.register_item(conn, rifle(), actor=ACTOR, today=TODAY)).item_id
    lost = await item_events.record_event(
        conn, item_id, NewEvent(event="lost", occurred_on=TODAY), actor=ACTOR, today=TODAY
    )
    seized = await item_events.record_event(
        conn, item_id, NewEvent(event="seized", occurred_on=TODAY), actor=ACTOR, today=TODAY
    )
    undo_seizure = NewEvent(event="corrected", occurred_on=TODAY, corrects_event_id=seized.event_id, reason="typo")
    assert (
        await item_events.record_event(conn, item_id, undo_seizure, actor=ACTOR, today=TODAY)
    ).status_after == "lost"
    undo_loss = NewEvent(event="corrected", occurred_on=TODAY, corrects_event_id=lost.event_id, reason="never lost")
    assert (await item_events.record_event(conn, item_id, undo_loss, actor=ACTOR, today=TODAY)).status_after == "active"
    assert (await items.get_item(conn, item_id)).status == "active"
    assert await items.reported_lost_or_stolen(conn, ["SSG08-001"]) == set()
    again = NewEvent(event="corrected", occurred_on=TODAY, corrects_event_id=lost.event_id, reason="again")
    assert (await item_events.record_event(conn, item_id, again, actor=ACTOR, today=TODAY)).status_after == "active"


async def test_correcting_an_earlier_event_replays_the_history_or_is_refused(conn: db.Conn) -> None:
    """A correction out of order gives the status the remaining history gives, never one from the undone event."""
    item_id = (await items.register_item(conn, rifle(), actor=ACTOR, today=TODAY)).item_id
    history = History(conn, item_id)
    event, correct = history.event, history.correct

    lost = await event("lost")
    recovered = await event("recovered")
    sold = await event("transferred", to_party="Waffen Huber GmbH")
    # Without the loss, the recovery could not have happened: refused, nothing recorded.
    with pytest.raises(ConflictError) as refused:
        async with conn.transaction():
            await correct(lost)
    assert (refused.value.code, refused.value.facts["event_id"]) == ("correction-breaks-history", recovered)
    assert await conn.fetchval("SELECT count(*) FROM item_event WHERE item_id = $1", item_id) == 3
    # An earlier event that later ones do not depend on: the status is the replayed one.
    stolen = await event("stolen")
    assert await correct(sold) == "stolen"  # the transfer undone; the theft still stands
    assert (await items.get_item(conn, item_id)).status == "stolen"
    assert await correct(stolen) == "active"
    # Latest first, the loss and its recovery can both go.
    assert await correct(recovered) == "lost"
    assert await correct(lost) == "active"
    assert await items.reported_lost_or_stolen(conn, ["SSG08-001"]) == set()


async def deactivated_rifle(conn: db.Conn, serial: str) -> int:
    """A category B rifle deactivated (to category C) with its marking, as Reg. 2015/2403 has it."""
    item_id = (await items.register_item(conn, rifle(serial, category="B"), actor=ACTOR, today=TODAY)).item_id
    await add_deactivation_mark(conn, item_id)
    await item_events.record_event(conn, item_id, deactivated(f"AT-{serial}"), actor=ACTOR, today=TODAY)
    return item_id


async def test_a_deactivated_firearm_lost_stolen_or_seized_comes_back_deactivated_in_its_category(
    conn: db.Conn,
) -> None:
    """Reg. 2015/2403: a deactivated firearm is still kept; it is lost, stolen and seized, and recovered as it was."""
    item_id = await deactivated_rifle(conn, "DS-0001")

    async def event(kind: str) -> tuple[str, str, str]:
        data = NewEvent(event=kind, occurred_on=TODAY)  # type: ignore[arg-type]
        recorded = await item_events.record_event(conn, item_id, data, actor=ACTOR, today=TODAY)
        item = await items.get_item(conn, item_id)
        return recorded.status_before, recorded.status_after, item.category or ""

    assert await event("stolen") == ("deactivated", "stolen", "C")
    assert await items.reported_lost_or_stolen(conn, ["DS-0001"]) == {"DS-0001"}
    assert await event("seized") == ("stolen", "seized", "C")
    # it already is deactivated: refused, naming what a seized deactivated firearm may receive
    with pytest.raises(ConflictError) as refused:
        async with conn.transaction():
            await item_events.record_event(conn, item_id, deactivated("AT-again"), actor=ACTOR, today=TODAY)
    assert refused.value.code == "illegal-transition"
    assert refused.value.facts["allowed_events"] == ["recovered", "destroyed", "corrected"]
    assert await event("recovered") == ("seized", "deactivated", "C")
    assert await items.reported_lost_or_stolen(conn, ["DS-0001"]) == set()
    assert await event("lost") == ("deactivated", "lost", "C")
    assert await event("recovered") == ("lost", "deactivated", "C")
    assert await event("seized") == ("deactivated", "seized", "C")
    assert await event("destroyed") == ("seized", "destroyed", "C")
    # a firearm never deactivated is recovered active, as before
    active = (await items.register_item(conn, rifle("DS-0002"), actor=ACTOR, today=TODAY)).item_id
    for kind, status in [("stolen", "stolen"), ("seized", "seized"), ("recovered", "active")]:
        data = NewEvent(event=kind, occurred_on=TODAY)  # type: ignore[arg-type]
        assert (await item_events.record_event(conn, active, data, actor=ACTOR, today=TODAY)).status_after == status


async def test_a_correction_replays_a_recovery_back_to_where_its_run_began(conn: db.Conn) -> None:
    """The replay after a correction gives a recovery the origin the events in effect give, like the recording."""
    item_id = await deactivated_rifle(conn, "DS-0003")
    first = await conn.fetchval("SELECT min(event_id) FROM item_event WHERE item_id = $1", item_id)
    history = History(conn, item_id)
    event, correct = history.event, history.correct

    await event("stolen")
    await event("recovered")
    sold = await event("transferred", to_party="Museum Wien")
    assert await correct(sold) == "deactivated"  # the theft and its recovery replayed from the deactivation
    # without the deactivation the firearm was active when stolen, and its recovery gives it back active
    assert await correct(first) == "active"
    item = await items.get_item(conn, item_id)
    assert (item.status, item.category) == ("active", "B")
    assert (
        await conn.fetchval(
            "SELECT status_after FROM item_event WHERE item_id = $1 ORDER BY event_id DESC LIMIT 1", item_id
        )
        == "active"
    )


async def test_a_deactivated_firearm_is_exported_and_imported_and_stays_deactivated(conn: db.Conn) -> None:
    """Reg. 2015/2403 Art. 7: a deactivated firearm crosses borders as one; export and re-import never reactivate it."""
    item_id = await deactivated_rifle(conn, "DX-0001")
    history = History(conn, item_id)

    async def state() -> tuple[str, str | None]:
        item = await items.get_item(conn, item_id)
        return item.status, item.category

    await history.event("exported", country="DE")
    assert await state() == ("exported", "C")
    with pytest.raises(ConflictError) as refused:  # abroad: only its return (or a correction) can follow
        async with conn.transaction():
            await history.event("transferred", to_party="Museum Wien")
    assert refused.value.facts["allowed_events"] == ["imported", "corrected"]
    back = await history.event("imported", temporary=True, purpose="return from an exhibition")
    assert await state() == ("deactivated", "C")  # back as it left: deactivated, category C, no new deactivation
    assert await conn.fetchval("SELECT status_after FROM item_event WHERE event_id = $1", back) == "deactivated"
    with pytest.raises(ConflictError) as again:  # and so not deactivated a second time
        async with conn.transaction():
            await item_events.record_event(conn, item_id, deactivated("AT-DX-again"), actor=ACTOR, today=TODAY)
    assert again.value.code == "illegal-transition"
    assert "deactivated" not in again.value.facts["allowed_events"]
    assert {"exported", "imported"} <= set(again.value.facts["allowed_events"])
    # a firearm never deactivated still comes back active
    active = History(conn, (await items.register_item(conn, rifle("DX-0002"), actor=ACTOR, today=TODAY)).item_id)
    await active.event("exported", country="DE")
    recorded = await item_events.record_event(
        conn,
        active.item_id,
        NewEvent(event="imported", occurred_on=TODAY, temporary=True, purpose="repair"),
        actor=ACTOR,
        today=TODAY,
    )
    assert recorded.status_after == "active"


async def test_a_deactivated_firearm_arrives_deactivated(conn: db.Conn) -> None:
    """Registered with its foreign deactivation (mutual recognition) before it arrives: the arrival keeps it so."""
    item_id = await deactivated_rifle(conn, "DX-0003")
    history = History(conn, item_id)
    await history.event("imported", temporary=True, purpose="exhibition")
    item = await items.get_item(conn, item_id)
    assert (item.status, item.category) == ("deactivated", "C")
    mark = NewMarking(kind="import", stamped=f"AT {TODAY.year % 100:02d}", country="AT", year=TODAY.year)
    await items.add_marking(conn, item_id, mark, actor=ACTOR, today=TODAY)
    await history.event("imported")  # the temporary import became permanent: one arrival
    with pytest.raises(ConflictError) as twice:
        async with conn.transaction():
            await history.event("imported")
    assert twice.value.code == "already-imported"


async def test_corrections_replay_a_deactivated_firearms_export_and_return(conn: db.Conn) -> None:
    """The replay gives a return the status its export left, the same way when recorded and when corrected."""
    item_id = await deactivated_rifle(conn, "DX-0004")
    deactivation = await conn.fetchval("SELECT min(event_id) FROM item_event WHERE item_id = $1", item_id)
    history = History(conn, item_id)
    event, correct = history.event, history.correct

    exported = await event("exported", country="DE")
    back = await event("imported", temporary=True, purpose="exhibition")
    assert await correct(back) == "exported"  # the return undone: abroad again, left deactivated
    await event("imported", temporary=True, purpose="exhibition")
    assert (await items.get_item(conn, item_id)).status == "deactivated"
    # the export undone: the return stands as an arrival of the deactivated firearm
    assert await correct(exported) == "deactivated"
    await event("exported", country="CH")
    await event("imported", temporary=True, purpose="exhibition")
    # without the deactivation the firearm left and came back active, in its registered category
    assert await correct(deactivation) == "active"
    item = await items.get_item(conn, item_id)
    assert (item.status, item.category) == ("active", "B")


async def test_a_firearm_made_here_comes_home_without_an_import_marking(conn: db.Conn) -> None:
    """Art. 8(1)(b) marks a firearm with its country of import; one made here already bears this State's marking.

    A re-import (``imported`` while ``exported``) of a firearm this State made needs no import marking; a foreign
    firearm's, and an arrival never recorded as leaving, still do.
    """
    await key_store.claim_registry_state(conn, "AT", dt.datetime.now(dt.UTC))

    async def returned(item: NewItem, *, exported: bool = True) -> str | None:
        """The refusal's code when the item (exported first) is recorded imported for good, else ``None``."""
        history = History(conn, (await items.register_item(conn, item, actor=ACTOR, today=TODAY)).item_id)
        if exported:
            await history.event("exported", country="CH")
        try:
            async with conn.transaction():
                await history.event("imported")
        except ConflictError as refused:
            return refused.code
        assert (await items.get_item(conn, history.item_id)).status == "active"
        return None

    assert await returned(rifle("HM-0001")) is None  # AT-made, its manufacture marking naming no other country
    stamped_at = NewMarking(kind="manufacture", stamped="STEYR AUSTRIA HM-0002", serial="HM-0002", country="AT")
    assert await returned(rifle("HM-0002", markings=[stamped_at])) is None
    german = NewMarking(kind="manufacture", stamped="SAUER GERMANY HM-0003", serial="HM-0003", country="DE")
    made_in_de = rifle("HM-0003", manufacturer="J. P. Sauer", country_of_manufacture="DE", markings=[german])
    assert await returned(made_in_de) == "import-marking-missing"
    # an AT-made firearm marked as made elsewhere is not one this State's marking identifies
    assert await returned(rifle("HM-0004", markings=[german])) == "import-marking-missing"
    # an arrival of one this registry never recorded leaving is no return
    assert await returned(rifle("HM-0005"), exported=False) == "import-marking-missing"
