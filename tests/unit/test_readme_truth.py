"""The README against the code: every command, option, variable, route and problem status it names is real.

Each test reads both sides mechanically, so that a change to one side without the other fails here.
"""

from __future__ import annotations

import ast
import re
import shlex
from pathlib import Path

import click
import pytest

import firearms.errors
from api.app import create_app
from api.exchange import EXCHANGE_STATUS
from api.problems import _STATUS
from cli import main
from firearms.settings import Settings, load_settings

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text(encoding="utf-8")


def _commands(group: click.Group, prefix: str = "") -> list[tuple[str, click.Command]]:
    """Every visible command under ``group``, by its full name (``keys revoke``)."""
    found: list[tuple[str, click.Command]] = []
    for name, command in group.commands.items():
        if command.hidden:
            continue
        full = f"{prefix}{name}"
        found.append((full, command))
        if isinstance(command, click.Group):
            found += _commands(command, f"{full} ")
    return found


def _long_options(command: click.Command) -> set[str]:
    return {
        option
        for param in command.params
        if isinstance(param, click.Option)
        for option in param.opts
        if option.startswith("--") and option != "--help"
    }


def _command_block() -> str:
    """The code block of the README's "Command line" section."""
    section = README.split("\n## Command line\n", 1)[1]
    return section.split("```", 2)[1]


def test_readme_command_line_names_every_command_and_option() -> None:
    block = _command_block()
    missing: list[str] = []
    for full, command in _commands(main):
        if isinstance(command, click.Group):
            continue
        if not re.search(rf"(^|\s){re.escape(full)}\b", block, flags=re.MULTILINE):
            missing.append(full)
        missing += [f"{full} {option}" for option in sorted(_long_options(command)) if option not in block]
    missing += [f"firearms {option}" for option in sorted(_long_options(main)) if option not in block]
    assert not missing, f"README's command line lacks: {missing}"


def test_readme_command_line_names_no_option_the_cli_lacks() -> None:
    known = _long_options(main).union(*(_long_options(command) for _, command in _commands(main)))
    named = set(re.findall(r"--[a-z][a-z-]*", _command_block()))
    assert named <= known, sorted(named - known)


def _settings_variables() -> set[str]:
    """The ``FIREARMS_*`` variables settings.py reads: named literally, or built from a field name."""
    source = (ROOT / "firearms" / "settings.py").read_text(encoding="utf-8")
    literals = {
        node.value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str)
    }
    named = {value for value in literals if re.fullmatch(r"FIREARMS_[A-Z_]+", value)}
    built = {f"FIREARMS_{field.upper()}" for field in Settings.__struct_fields__ if field in literals}
    return named | built


def test_readme_configuration_tables_list_every_variable() -> None:
    variables = _settings_variables()
    assert {"FIREARMS_STATE", "FIREARMS_EXCHANGE_TIMEOUT", "FIREARMS_AMMUNITION_LIMITS"} <= variables
    rows = set(re.findall(r"^\| `(FIREARMS_[A-Z_]+)` \|", README, flags=re.MULTILINE))
    assert variables - rows == set(), "README has no table row for these variables"
    assert rows - variables == set(), "README's tables name variables settings.py does not read"


def _route_regex(path: str) -> str:
    """``path`` as written in the README: without ``/api/v1`` or with it, any parameter name in braces."""
    return re.sub(r"\\\{[^}]*\\\}", r"\\{[^}]+\\}", re.escape(path.removeprefix("/api/v1")))


def _routes() -> list[tuple[str, str]]:
    settings = load_settings({"FIREARMS_STATE": "AT", "FIREARMS_HOME": str(ROOT / "firearms-home-unused")})
    app = create_app(settings, database_url="postgresql://unused@localhost/unused")
    return [
        (method, route.path)
        for route in app.routes
        if not route.path.startswith("/schema")
        for method in sorted(set(getattr(route, "methods", ())) - {"OPTIONS", "HEAD"})
    ]


def _documented(method: str, path: str, text: str) -> bool:
    """``METHOD /path`` is in ``text``, or its last segment beside its parent.

    As in ``POST /licences/{id}/submit` \\| `issue`` or ``POST /api/v1/peers/{state}/disable|enable``.
    """
    if re.search(rf"{method} `?(?:/api/v1)?{_route_regex(path)}(?![/\w-])", text):
        return True
    parent, _, last = path.rpartition("/")
    if last.startswith("{"):
        return False
    return any(
        re.search(rf"[`/|]{re.escape(last)}\b", line)
        for line in text.splitlines()
        if re.search(rf"{method} `?(?:/api/v1)?{_route_regex(parent)}[/`]", line)
    )


def test_readme_documents_every_route() -> None:
    text = README.replace("[", "").replace("]", "")  # `GET /foreign-licences[/{issuing_state}/{number}]`
    missing = [f"{method} {path}" for method, path in _routes() if not _documented(method, path, text)]
    assert not missing, f"README does not document: {missing}"


def test_readme_names_no_route_the_app_lacks() -> None:
    routes = [
        (method, re.compile(rf"(?:/api/v1)?{_route_regex(path)}".replace(r"\{[^}]+\}", r"(?:\{[^}]+\}|[\w-]+)")))
        for method, path in _routes()
    ]  # a parameter as a name in braces, or as an example (`/items/7/markings`)
    named = re.findall(r"\b(GET|POST|PUT|PATCH|DELETE) `?((?:/api/v1|/exchange/v1)/[\w{}/-]*|/health)", README)
    unknown = sorted(
        {
            f"{method} {path}"
            for method, path in named
            if not any(verb == method and pattern.fullmatch(path.rstrip("/")) for verb, pattern in routes)
        }
    )
    assert not unknown, f"README names routes the app does not serve: {unknown}"


def _raised_codes() -> dict[str, set[int]]:
    """Every ``SomeError(..., code="x")`` in firearms/ and api/ with the HTTP status api/problems.py gives it."""
    statuses: dict[str, set[int]] = {}
    for path in [*(ROOT / "firearms").rglob("*.py"), *(ROOT / "api").rglob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if not isinstance(node, ast.Call):
                continue
            name = node.func.id if isinstance(node.func, ast.Name) else getattr(node.func, "attr", "")
            error = getattr(firearms.errors, name, None)
            if not isinstance(error, type) or error in (firearms.errors.BackupError, firearms.errors.ConfigError):
                continue  # backup and configuration errors are the command line's, not HTTP problems
            status = next(status for kind, status in _STATUS if issubclass(error, kind))
            for keyword in node.keywords:
                values = [keyword.value]
                if isinstance(keyword.value, ast.IfExp):
                    values = [keyword.value.body, keyword.value.orelse]
                for value in values:
                    if keyword.arg == "code" and isinstance(value, ast.Constant) and isinstance(value.value, str):
                        statuses.setdefault(value.value, set()).add(status)
    return statuses


def _readme_statuses() -> dict[str, set[int]]:
    """Code -> statuses the README gives: table rows (`| `a`, `b` | 409 |`) and prose (`` `a` (409``, ``422 `a` ``)."""
    statuses: dict[str, set[int]] = {}
    for codes, status in re.findall(r"^\| ((?:`[a-z0-9-]+`(?:, )?)+) \| (\d{3}) \|", README, flags=re.MULTILINE):
        for code in re.findall(r"`([a-z0-9-]+)`", codes):
            statuses.setdefault(code, set()).add(int(status))
    for code, status in re.findall(r"`([a-z0-9-]+)` \((\d{3})\b", README):
        statuses.setdefault(code, set()).add(int(status))
    for status, code in re.findall(r"\b(\d{3}) `([a-z0-9-]+)`", README):
        statuses.setdefault(code, set()).add(int(status))
    return statuses


@pytest.mark.parametrize("source", ["officer API", "partner surface"])
def test_readme_gives_every_problem_code_its_status(source: str) -> None:
    raised = _raised_codes() if source == "officer API" else {code: {s} for code, s in EXCHANGE_STATUS.items()}
    documented = _readme_statuses()
    assert len(raised) > 8
    wrong = {
        code: (sorted(s), sorted(documented.get(code, ()))) for code, s in raised.items() if documented.get(code) != s
    }
    assert not wrong, f"code: (status in the code, status in the README): {wrong}"


def _examples() -> list[list[str]]:
    """The arguments of every ``firearms`` command the README shows: the ``sh`` blocks, line by line, and the
    inline commands with an option and no placeholder (``firearms token create --role admin --name "..."``).

    Leading ``VAR=value`` assignments and ``uv run`` are dropped, as the shell and uv drop them.
    """
    lines = [line for block in re.findall(r"```sh\n(.*?)```", README, flags=re.DOTALL) for line in block.splitlines()]
    lines += [
        span
        for span in re.findall(r"`((?:[A-Z_]+=\S+ )*(?:uv run )?firearms [^`]*)`", README)
        if "--" in span and not re.search(r"\b[A-Z][A-Z_]*\b(?!=)|\[|\|", span.split("firearms ", 1)[1])
    ]
    found: list[list[str]] = []
    for line in lines:
        words = shlex.split(line, comments=True)
        while words and re.fullmatch(r"[A-Z_]+=.*", words[0]):
            words.pop(0)
        if words[:2] == ["uv", "run"]:
            words = words[2:]
        if words and Path(words[0]).name == "firearms":
            found.append(words[1:])
    return found


def _parse(args: list[str]) -> None:
    """Parse ``args`` as the ``firearms`` command line would, down to the command, without running it."""
    command: click.Command = main
    context = main.make_context("firearms", list(args))
    while isinstance(command, click.Group):
        rest = [*context._protected_args, *context.args]  # click 8.2 keeps the subcommand there
        if not rest:
            return
        name, found, rest = command.resolve_command(context, rest)
        assert found is not None
        assert name is not None
        command = found
        context = command.make_context(name, rest, parent=context)


def test_readme_examples_are_command_lines_the_cli_takes() -> None:
    examples = _examples()
    assert len(examples) > 15
    refused: list[str] = []
    for args in examples:
        try:
            _parse(args)
        except click.BadParameter as exc:
            # an example names the operator's own backup, which need not exist here
            if not (isinstance(exc.param, click.Argument) and "does not exist" in exc.format_message()):
                refused.append(f"firearms {shlex.join(args)}: {exc.format_message()}")
        except click.UsageError as exc:
            refused.append(f"firearms {shlex.join(args)}: {exc.format_message()}")
    assert not refused, refused
