"""Who learns a licence version's verification code (DESIGN §8; README "Documents and verification").

The code printed on a licence document is what ``GET /api/v1/verify/{number}`` confirms: the officer at the border
reads it off the paper and asks whether it is the current version's. Only the roles that fetch the document (the
licensing officer and the admin, who print it, and the auditor, who reads everything) are told the code; every
other role presents a code and learns only whether it matches (``code_matches``) and which version it belongs to
(``code_version``). Before, ``/verify`` answered the current code to every role that may call it, and the versions
listing and the printable page to the records officer: any of them could print a paper that passes.
"""

from __future__ import annotations

import msgspec
from litestar.testing import AsyncTestClient

from firearms import bootstrap, db, licence_versions
from firearms.settings import Settings
from firearms.tokens import Role
from tests.conftest import TokenFactory
from tests.licensing_helpers import ACTOR, export_draft, issued_export, register_parties

PRINTING: tuple[Role, ...] = ("licensing-officer", "admin", "auditor")
NOT_PRINTING: tuple[Role, ...] = ("customs-officer", "records-officer")


async def _printed_code(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    licence_id: object,
    version: int,
) -> str:
    """The code on the printed page of ``version``, as the licensing officer prints it."""
    response = await client.get(
        f"/api/v1/licences/{licence_id}/versions/{version}/document", headers=await auth("licensing-officer")
    )
    assert response.status_code == 200, response.text
    code = response.headers["x-verification-code"]
    assert code in response.text
    return code


async def test_a_printing_role_sees_the_current_code_in_verify(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    settings: Settings,
    initialised: bootstrap.Initialised,
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    code = await _printed_code(client, auth, lic.licence_id, 1)
    for role in PRINTING:
        response = await client.get(f"/api/v1/verify/{lic.licence.number}", headers=await auth(role))
        assert response.status_code == 200, (role, response.text)
        assert response.json()["verification_code"] == code, role


async def test_customs_and_records_officers_are_not_told_the_code(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    settings: Settings,
    initialised: bootstrap.Initialised,
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    code = await _printed_code(client, auth, lic.licence_id, 1)
    for role in NOT_PRINTING:
        response = await client.get(f"/api/v1/verify/{lic.licence.number}", headers=await auth(role))
        assert response.status_code == 200, (role, response.text)
        answer = response.json()
        assert answer["verification_code"] is None, role
        assert code not in response.text, role
        # the rest of the answer is theirs as before
        assert (answer["status"], answer["version"], answer["code_matches"]) == ("issued", 1, None), role
        assert [line["remaining"] for line in answer["lines"]] == [2, 800], role


async def test_a_presented_code_is_judged_for_a_role_that_is_not_told_it(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    settings: Settings,
    initialised: bootstrap.Initialised,
) -> None:
    p = await register_parties(conn)
    lic = await issued_export(conn, settings, p)
    old = await _printed_code(client, auth, lic.licence_id, 1)
    draft = export_draft(p, reason="fewer cartridges")
    fewer = [draft.lines[0], msgspec.structs.replace(draft.lines[1], quantity=700)]
    async with conn.transaction():
        await licence_versions.amend(
            conn, lic.licence_id, export_draft(p, reason="fewer", lines=fewer), settings=settings, actor=ACTOR
        )
    current = await _printed_code(client, auth, lic.licence_id, 2)
    assert current != old
    judging: tuple[Role, ...] = ("customs-officer", "records-officer")
    for role in judging:
        headers = await auth(role)
        cases = [
            (current, True, 2),
            (current.replace("-", " ").lower(), True, 2),  # as typed: case, spaces and hyphen ignored
            (old.replace("-", ""), False, 1),  # an older version's code names its version
            ("AAAAA-AAAAA", False, None),
        ]
        for presented, matches, version in cases:
            response = await client.get(
                f"/api/v1/verify/{lic.licence.number}", params={"code": presented}, headers=headers
            )
            assert response.status_code == 200, response.text
            answer = response.json()
            assert (answer["code_matches"], answer["code_version"]) == (matches, version), (role, presented)
            assert answer["verification_code"] is None, (role, presented)
            assert current not in response.text, (role, presented)


async def test_only_printing_roles_fetch_the_printable_document(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    settings: Settings,
    initialised: bootstrap.Initialised,
) -> None:
    """The page carries the code (and ``X-Verification-Code``): a role not told the code does not get the page."""
    lic = await issued_export(conn, settings, await register_parties(conn))
    path = f"/api/v1/licences/{lic.licence_id}/versions/1/document"
    not_printing: tuple[Role, ...] = ("records-officer",)
    for role in not_printing:
        response = await client.get(path, headers=await auth(role))
        assert response.status_code == 403, (role, response.text)
        assert response.json()["type"].endswith("/forbidden")
        assert "x-verification-code" not in response.headers
    for role in PRINTING:
        response = await client.get(path, headers=await auth(role))
        assert response.status_code == 200, (role, response.text)
        assert response.headers["x-verification-code"] in response.text


async def test_the_versions_show_the_code_only_to_printing_roles(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    settings: Settings,
    initialised: bootstrap.Initialised,
) -> None:
    lic = await issued_export(conn, settings, await register_parties(conn))
    code = await _printed_code(client, auth, lic.licence_id, 1)
    base = f"/api/v1/licences/{lic.licence_id}/versions"
    reading: tuple[Role, ...] = ("records-officer",)
    for role in reading:
        headers = await auth(role)
        listing = await client.get(base, headers=headers)
        one = await client.get(f"{base}/1", headers=headers)
        for response in (listing, one):
            assert response.status_code == 200, (role, response.text)
            assert code not in response.text, (role, response.url)
        (item,) = listing.json()["items"]
        assert (item["version"], item["verification_code"], item["issued_at"] is not None) == (1, None, True)
        assert one.json()["verification_code"] is None
    for role in PRINTING:
        headers = await auth(role)
        assert (await client.get(f"{base}/1", headers=headers)).json()["verification_code"] == code
        assert (await client.get(base, headers=headers)).json()["items"][0]["verification_code"] == code


async def test_the_journal_of_a_printed_document_does_not_hold_its_code(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
    conn: db.Conn,
    settings: Settings,
    initialised: bootstrap.Initialised,
) -> None:
    """``licence.document-rendered`` names the version printed, not its code: a journal is read and kept in more places
    (exports, checkpoints' archives) than the page."""
    lic = await issued_export(conn, settings, await register_parties(conn))
    code = await _printed_code(client, auth, lic.licence_id, 1)
    response = await client.get(
        "/api/v1/journal",
        params={"entity": "licence", "entity_id": str(lic.licence_id), "limit": 200},
        headers=await auth("auditor"),
    )
    assert response.status_code == 200, response.text
    (rendered,) = [entry for entry in response.json()["items"] if entry["action"] == "licence.document-rendered"]
    assert rendered["payload"] == {"version": 1}
    assert code not in response.text
