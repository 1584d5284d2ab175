"""The ``Authorization`` header as a server hands it over (README "Security"): its variants are decided, not guessed."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import msgspec
from litestar.testing import AsyncTestClient

from api import create_app
from firearms import bootstrap
from firearms.embedded import ensure_database, start_embedded, stop_embedded
from firearms.settings import Settings
from tests.conftest import TokenFactory
from tests.served import served as _served


async def _get(port: int, path: str, authorizations: list[str]) -> tuple[int, Any]:
    """One GET over a socket, each ``Authorization`` value a header line of its own (as a client may send).

    The test client joins repeated headers into one (``a, b``) before the app sees them; a server does not.
    """
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    lines = [f"GET {path} HTTP/1.1", "Host: 127.0.0.1", "Connection: close"]
    lines += [f"Authorization: {value}" for value in authorizations]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    await writer.drain()
    answer = await reader.read()
    writer.close()
    await writer.wait_closed()
    head, _, body = answer.partition(b"\r\n\r\n")
    return int(head.split()[1]), msgspec.json.decode(body)


async def test_two_authorization_headers_are_refused_whichever_comes_first(
    settings: Settings, auth: TokenFactory
) -> None:
    """A second header was ignored: with the live token first the request passed as that officer, with it second
    it did not. A proxy that adds its own header, or a client that sends two, is now told so (401), either way."""
    live = (await auth("auditor"))["Authorization"]
    async with _served(settings) as port:
        assert (await _get(port, "/api/v1/me", [live]))[0] == 200
        for headers in ([live, "Bearer fr_unknown"], ["Bearer fr_unknown", live], [live, live]):
            status, problem = await _get(port, "/api/v1/me", headers)
            assert status == 401, headers
            assert problem["type"].endswith("/unauthenticated")
            assert "one Authorization header" in problem["detail"]
            assert live.split()[1] not in msgspec.json.encode(problem).decode()


async def test_the_token_is_read_the_same_in_every_usual_spelling(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    """Scheme in any case (RFC 9110 §11.1), spaces around the token; a token followed by anything else is unknown."""
    token = (await auth("verifier"))["Authorization"].split()[1]
    for spelling in (f"Bearer {token}", f"bearer {token}", f"BEARER {token}", f"Bearer  {token}", f"Bearer {token} "):
        assert (await client.get("/api/v1/me", headers={"Authorization": spelling})).status_code == 200, spelling
    for spelling in (f"Bearer {token}x", f"Basic {token}", token, f"Bearer {token} {token}"):
        response = await client.get("/api/v1/me", headers={"Authorization": spelling})
        assert response.status_code == 401, spelling
        assert token not in response.text


async def test_a_request_without_a_bearer_token_is_refused_without_the_database(short_tmp: Path) -> None:
    """No header, or another scheme, is refused before a connection is taken: a 401 even while the database does
    not answer (it was the 503 of a connection that could not be opened); a bearer token still needs the look-up."""
    home = short_tmp / "home"
    url = await ensure_database(start_embedded(home))
    running = True
    try:
        settings = Settings(state="AT", home=home, database_url=url, run_worker=False)
        done = await bootstrap.initialise(settings, url)
        async with AsyncTestClient(app=create_app(settings)) as client:
            stop_embedded(home)
            running = False
            for headers, status in (
                ({}, 401),
                ({"Authorization": "Basic dXNlcjpwYXNz"}, 401),
                ({"Authorization": "Bearer "}, 401),
                ({"Authorization": f"Bearer {done.admin_token}"}, 503),
            ):
                response = await client.get("/api/v1/me", headers=headers)
                assert response.status_code == status, (headers, response.text)
                assert response.headers["content-type"] == "application/problem+json"
    finally:
        if running:  # the test failed before it stopped the server
            stop_embedded(home)


async def test_only_spaces_and_tabs_around_the_token_are_ignored(
    client: AsyncTestClient,  # type: ignore[type-arg]
    auth: TokenFactory,
) -> None:
    """A header is Latin-1 on the wire: a token followed by a no-break space (A0), NEL (85), a vertical tab or
    another character Python calls white space was read as the token alone. README says spaces around the token:
    HTTP's optional white space is spaces and tabs (RFC 9110 §5.6.3); anything else makes it an unknown token."""
    token = (await auth("verifier"))["Authorization"].split()[1]
    assert (await client.get("/api/v1/me", headers={"Authorization": f"Bearer\t{token}"})).status_code == 401
    for spelling in (f"Bearer {token}\t".encode(), f"Bearer \t{token} \t ".encode()):
        assert (await client.get("/api/v1/me", headers={b"Authorization": spelling})).status_code == 200, spelling
    for around in (b"\xa0", b"\x85", b"\x0b", b"\x0c", b"\x1c", b"\x1f", b"\x00"):
        for spelling in (f"Bearer {token}".encode() + around, b"Bearer " + around + token.encode()):
            response = await client.get("/api/v1/me", headers={b"Authorization": spelling})
            assert response.status_code == 401, spelling
            assert response.json()["detail"] == "the token is unknown or revoked"
            assert token not in response.text
