"""The README's golden path by hand against the app: every body it posts is one its endpoint reads.

The walk is what a new authority's operators type first; a field renamed, a route moved or a body grown a
required member must fail here, not at their terminal. Each ``post``/``get`` is matched to the app's route and
each body decoded with the Struct that route's handler takes (``forbid_unknown_fields`` included); each
``at``/``de``/``cz`` command line is parsed as ``firearms`` would parse it.
"""

from __future__ import annotations

import re
import shlex
import uuid
from pathlib import Path
from typing import Any

import msgspec

from api.app import create_app
from api.deps import QUERY_PARAMETERS
from firearms.settings import load_settings
from tests.unit.test_readme_truth import README, _parse

ROOT = Path(__file__).resolve().parents[2]
SECTION = README.split("\n## The golden path by hand (three registries)\n", 1)[1].split("\n## ", 1)[0]
PORTS = {"8081": "AT", "8082": "DE", "8083": "CZ"}
# A value the shell fills in (a party's id, a licence's id, a check's id): any UUID reads as one.
FILLED = str(uuid.UUID(int=7))

CALL = re.compile(
    r"""(?:echo\ '(?P<inline>[^']*)'\ \|\ )?
        (?P<verb>post|get)\ "?(?P<port>\d{4})(?P<path>/[^\s"?]*)
        (?:\?(?P<query>[^\s"]*))?"?\ "\$(?P<token>[A-Z]+)_[A-Z]+"
        (?:\ <<EOF[^\n]*\n(?P<body>.*?)\nEOF)?""",
    re.VERBOSE | re.DOTALL,
)


def _handlers() -> list[tuple[re.Pattern[str], str, Any, frozenset[str]]]:
    """Each route of the app as a pattern, its method, the type of the body its handler reads (or None) and the
    query parameters it reads (anything else is refused: api.deps.index_query_parameters)."""
    settings = load_settings({"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(ROOT / "firearms-home-unused")})
    app = create_app(settings, database_url="postgresql://unused@localhost/unused")
    query_names = app.state[QUERY_PARAMETERS]
    found: list[tuple[re.Pattern[str], str, Any, frozenset[str]]] = []
    for route in app.routes:
        pattern = re.compile(re.sub(r"\\\{[^}]*\\\}", "[^/]+", re.escape(route.path)) + "$")
        for handler in getattr(route, "route_handlers", ()):
            data = handler.parsed_fn_signature.parameters.get("data")
            names = query_names.get(handler, frozenset())
            for method in handler.http_methods:
                found.append((pattern, method, data.annotation if data else None, names))
    return found


def _filled(text: str) -> str:
    return re.sub(r"\$[A-Z_]+", FILLED, text)


def test_every_call_of_the_walk_is_a_route_and_every_body_what_it_reads() -> None:
    handlers = _handlers()
    calls = list(CALL.finditer(SECTION))
    assert len(calls) >= 15, [call.group(0) for call in calls]
    wrong: list[str] = []
    for call in calls:
        method = "POST" if call["verb"] == "post" else "GET"
        path = _filled(call["path"])
        where = f"{call['verb']} {call['port']}{call['path']}"
        if PORTS.get(call["port"]) != call["token"]:
            wrong.append(f"{where}: a {call['token']} officer's token sent to {PORTS.get(call['port'])}'s registry")
        matched = [data for pattern, verb, data, _ in handlers if verb == method and pattern.match(path)]
        if not matched:
            wrong.append(f"{where}: no {method} route")
            continue
        reads = next(names for pattern, verb, _, names in handlers if verb == method and pattern.match(path))
        given = [pair.partition("=")[0] for pair in (call["query"] or "").split("&") if pair]
        wrong.extend(f"{where}: query parameter {name!r} is not one it reads" for name in given if name not in reads)
        body = call["inline"] if call["inline"] is not None else call["body"]
        if method == "GET" or matched[0] is None:
            if body is not None:
                wrong.append(f"{where}: a body for a route that reads none")
            continue
        if body is None:
            wrong.append(f"{where}: no body")
            continue
        try:
            msgspec.json.decode(_filled(body).encode(), type=matched[0], strict=True)
        except msgspec.ValidationError as exc:
            wrong.append(f"{where}: {exc}")
    assert not wrong, wrong


def test_every_command_of_the_walk_is_one_firearms_takes() -> None:
    lines = [line for block in re.findall(r"```sh\n(.*?)```", SECTION, re.DOTALL) for line in block.splitlines()]
    commands = [match[1] for line in lines if (match := re.match(r"\s*(?:[A-Z_]+=\$\()?(?:at|de|cz) ([^)#]*)", line))]
    assert len(commands) >= 15, commands
    refused: list[str] = []
    for command in commands:
        try:
            _parse(shlex.split(command.replace('"$', '"X')))
        except Exception as exc:  # noqa: BLE001 - every refusal is reported with its line
            refused.append(f"{command}: {exc}")
    assert not refused, refused


def test_the_walk_starts_each_registry_on_the_port_its_calls_use() -> None:
    started = dict(
        re.findall(r"FIREARMS_STATE=([A-Z]{2}) FIREARMS_HOME=\S+ uv run firearms serve --port (\d+)", SECTION)
    )
    assert {port: state for state, port in started.items()} == PORTS
    partners = re.findall(r"^([a-z]{2}) peers add ([A-Z]{2}) --url http://127\.0\.0\.1:(\d+) ", SECTION, re.MULTILINE)
    assert len(partners) == 6
    for own, partner, port in partners:
        assert (own.upper() != partner, PORTS[port]) == (True, partner)
