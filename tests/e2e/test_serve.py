"""``firearms serve`` as a real process on its own embedded PostgreSQL, spoken to over real HTTP."""

from __future__ import annotations

import contextlib
import http.client
import http.server
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING

import httpx

from firearms.signing import SigningKey, b64url_decode, b64url_encode, key_id_of

if TYPE_CHECKING:
    from collections.abc import Callable

FIREARMS = [sys.executable, "-m", "cli"]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def wait_for_health(url: str, process: subprocess.Popen[str], deadline: float = 60.0) -> httpx.Response:
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        assert process.poll() is None, "serve exited early"
        try:
            response = httpx.get(f"{url}/health", timeout=2)
        except httpx.TransportError:
            time.sleep(0.2)
            continue
        return response
    raise AssertionError("serve did not answer /health in time")


def clean_env(**firearms: str) -> dict[str, str]:
    """This process's environment without any FIREARMS_* variable, plus ``firearms`` (STATE="AT" -> FIREARMS_STATE)."""
    env = {key: value for key, value in os.environ.items() if not key.startswith("FIREARMS_")}
    return env | {f"FIREARMS_{name}": value for name, value in firearms.items()}


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FIREARMS, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_serve_first_start_initialises_home_and_shares_its_database_with_the_cli(short_tmp: Path) -> None:
    home = short_tmp / "home"
    port = free_port()
    env = clean_env(STATE="AT", HOME=str(home), PORT=str(port))
    url = f"http://127.0.0.1:{port}"
    serve = subprocess.Popen(
        [*FIREARMS, "serve"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        response = wait_for_health(url, serve)
        assert response.status_code == 200
        assert response.json() == {"status": "ok", "state": "AT"}

        # The key file exists and only the service may read it.
        key_files = list((home / "keys").glob("*.pem"))
        assert len(key_files) == 1
        assert key_files[0].stat().st_mode & 0o777 == 0o600

        # The CLI joins the running embedded server: no second cluster.
        created = run_cli(env, "token", "create", "--role", "auditor", "--name", "e2e auditor")
        assert created.returncode == 0, created.stderr
        token = created.stdout.strip()
        assert token.startswith("fr_")
        assert created.stdout.count("\n") == 1
        me = httpx.get(
            f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}", "X-Request-Id": "e2e-me-1"}, timeout=5
        )
        assert me.status_code == 200
        assert me.json()["role"] == "auditor"

        shown = run_cli(env, "keys", "show")
        assert shown.returncode == 0, shown.stderr
        assert key_files[0].stem == key_id_of(
            b64url_decode(httpx.Response(200, content=shown.stdout).json()["public_key"])
        )
    finally:
        serve.send_signal(signal.SIGTERM)
        _, stderr = serve.communicate(timeout=60)
    assert serve.returncode == 0, stderr
    first_admin = [line for line in stderr.splitlines() if line.startswith("fr_")]
    assert len(first_admin) == 1, "the first start prints exactly one admin token"
    # One access line a request, with its id, written by the end (batched, flushed at shutdown).
    assert [line for line in stderr.splitlines() if "firearms.access" in line and "id=e2e-me-1" in line] == [
        next(line for line in stderr.splitlines() if "GET /api/v1/me 200" in line)
    ]
    # The last process using the embedded server stopped it cleanly.
    assert not (home / "pgdata" / "postmaster.pid").exists()

    # A second start reuses the home: same key, no new admin token, data kept.
    serve = subprocess.Popen(
        [*FIREARMS, "serve"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        assert wait_for_health(url, serve).status_code == 200
        me = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
        assert me.status_code == 200
    finally:
        serve.send_signal(signal.SIGINT)
        _, stderr = serve.communicate(timeout=60)
    assert serve.returncode == 0, stderr
    assert not [line for line in stderr.splitlines() if line.startswith("fr_")]
    assert len(list((home / "keys").glob("*.pem"))) == 1


def test_missing_state_is_one_line_error_not_traceback(short_tmp: Path) -> None:
    env = clean_env(HOME=str(short_tmp))
    done = run_cli(env, "serve")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "FIREARMS_STATE" in done.stderr
    assert "Traceback" not in done.stderr


def test_worker_alone_initialises_home_and_stops_cleanly(short_tmp: Path) -> None:
    home = short_tmp / "home"
    env = clean_env(STATE="CZ", HOME=str(home))
    worker = subprocess.Popen(
        [*FIREARMS, "worker"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        deadline = time.monotonic() + 60
        while not list((home / "keys").glob("*.pem")) and time.monotonic() < deadline:
            assert worker.poll() is None, "worker exited early"
            time.sleep(0.2)
        assert list((home / "keys").glob("*.pem")), "the worker did not initialise its home"
        shown = run_cli(env, "keys", "show")  # joins the worker's embedded server
        assert shown.returncode == 0, shown.stderr
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=60)
    assert worker.returncode == 0, stderr
    assert len([line for line in stderr.splitlines() if line.startswith("fr_")]) == 1
    assert not (home / "pgdata" / "postmaster.pid").exists()


class _Partner(http.server.BaseHTTPRequestHandler):
    """A partner registry that records every path posted to it and answers 503 (try again later)."""

    posted: list[str]

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self.posted.append(self.path)
        self.send_response(503)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002  # the base class's name
        del format, args


def test_worker_alone_delivers_the_outbox(short_tmp: Path) -> None:
    """DESIGN §10 ``firearms worker``: "outbox and timers only". The process, not the function, sends a notice.

    Before, the tests showed ``firearms worker`` starting and stopping, and ``run_worker`` delivering; nothing
    showed the command running the outbox.
    """
    home = short_tmp / "home"
    env = clean_env(STATE="CZ", HOME=str(home))
    posted: list[str] = []
    handler = type("Recording", (_Partner,), {"posted": posted})
    partner = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=partner.serve_forever, daemon=True).start()
    worker = subprocess.Popen(
        [*FIREARMS, "worker"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        wait_until(lambda: bool(list((home / "keys").glob("*.pem"))), "the worker initialised its home")
        key = b64url_encode(SigningKey.generate().public_key)
        url = f"http://127.0.0.1:{partner.server_address[1]}"
        added = run_cli(env, "peers", "add", "DE", "--url", url, "--public-key", key)
        assert added.returncode == 0, added.stderr
        rotated = run_cli(env, "keys", "rotate")  # announced to every partner: a notice for DE in the outbox
        assert rotated.returncode == 0, rotated.stderr
        wait_until(lambda: "/exchange/v1/notices" in posted, "the worker posted the announcement to DE", 30)
    finally:
        worker.send_signal(signal.SIGTERM)
        _, stderr = worker.communicate(timeout=60)
        partner.shutdown()
        partner.server_close()
    assert worker.returncode == 0, stderr


def wait_until(condition: Callable[[], bool], what: str, deadline: float = 60.0) -> None:
    end = time.monotonic() + deadline
    while not condition():
        assert time.monotonic() < end, f"timed out waiting until {what}"
        time.sleep(0.1)


def is_api_process(pid: int) -> bool:
    """Whether ``pid`` runs ``serve-process``; a dead process not yet reaped has an empty command line."""
    try:
        return "serve-process" in Path(f"/proc/{pid}/cmdline").read_bytes().decode().split("\0")
    except OSError:
        return False


def api_processes(supervisor: int) -> set[int]:
    """The supervisor's live children that are API processes (not pg_ctl, nor anything else it runs)."""
    found: set[int] = set()
    for children in Path(f"/proc/{supervisor}/task").glob("*/children"):
        with contextlib.suppress(OSError):
            found |= {int(child) for child in children.read_text().split() if is_api_process(int(child))}
    return found


def tcp_inodes(port: int, state: str) -> set[int]:
    """Inodes of the IPv4 TCP sockets whose local port is ``port`` in ``state`` (0A listening, 01 established)."""
    inodes: set[int] = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        fields = line.split()
        if int(fields[1].rsplit(":", 1)[1], 16) == port and fields[3] == state:
            inodes.add(int(fields[9]))
    return inodes


def socket_inodes(pid: int) -> set[int]:
    inodes: set[int] = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        with contextlib.suppress(OSError):
            target = str(fd.readlink())
            if target.startswith("socket:["):
                inodes.add(int(target[len("socket:[") : -1]))
    return inodes


def fresh_health(port: int) -> int:
    """GET /health on a new connection; the status."""
    with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
        return client.get("/health").status_code


def test_serve_with_workers_runs_processes_on_their_own_sockets_and_replaces_a_dead_one(short_tmp: Path) -> None:
    home = short_tmp / "home"
    port = free_port()
    env = clean_env(STATE="AT", HOME=str(home), PORT=str(port))
    serve = subprocess.Popen(
        [*FIREARMS, "serve", "--workers", "2"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    seen: set[int] = set()
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}", serve).status_code == 200
        wait_until(lambda: len(api_processes(serve.pid)) == 2, "two API processes run")
        first = api_processes(serve.pid)
        seen |= first

        # Each API process listens on a socket of its own (SO_REUSEPORT); the supervisor on none.
        wait_until(lambda: len(tcp_inodes(port, "0A")) == 2, "both API processes listen")
        listening = tcp_inodes(port, "0A")
        for pid in first:
            assert len(socket_inodes(pid) & listening) == 1, f"API process {pid} has no listening socket of its own"
        assert not socket_inodes(serve.pid) & listening

        # 40 fresh connections all answer, and the kernel spreads them over both processes.
        connections = [http.client.HTTPConnection("127.0.0.1", port, timeout=10) for _ in range(40)]
        try:
            for connection in connections:
                connection.request("GET", "/health")
                response = connection.getresponse()
                assert response.status == 200
                response.read()
            accepted = tcp_inodes(port, "01")
            per_process = {pid: len(socket_inodes(pid) & accepted) for pid in first}
        finally:
            for connection in connections:
                connection.close()
        assert sum(per_process.values()) == 40, per_process
        assert all(per_process.values()), f"one process accepted every connection: {per_process}"

        # A dead API process is replaced; the API answers meanwhile and after.
        killed = min(first)
        os.kill(killed, signal.SIGKILL)

        def replaced_and_listening() -> bool:
            running = api_processes(serve.pid)
            return len(running) == 2 and killed not in running and len(tcp_inodes(port, "0A")) == 2

        wait_until(replaced_and_listening, "the supervisor replaces the killed API process and it listens")
        replaced = api_processes(serve.pid)
        seen |= replaced
        assert killed not in replaced
        assert replaced - first
        assert all(fresh_health(port) == 200 for _ in range(20))
    finally:
        serve.send_signal(signal.SIGTERM)
        _, stderr = serve.communicate(timeout=30)
    assert serve.returncode == 0, stderr
    first_admin = [line for line in stderr.splitlines() if line.startswith("fr_")]
    assert len(first_admin) == 1, "the supervisor prints the first admin token exactly once"
    ended = [line for line in stderr.splitlines() if "ended unexpectedly" in line]
    assert len(ended) == 1, f"only the killed API process may end:\n{stderr}"
    assert f"API process {killed} ended unexpectedly (killed by SIGKILL)" in ended[0]
    still_running = [pid for pid in seen if is_api_process(pid)]
    assert not still_running, f"API processes outlived the supervisor: {still_running}"
    assert not (home / "pgdata" / "postmaster.pid").exists()


def test_serve_gives_up_when_api_processes_keep_dying(short_tmp: Path) -> None:
    home = short_tmp / "home"
    port = free_port()
    env = clean_env(STATE="AT", HOME=str(home), PORT=str(port), WORKERS="2")
    serve = subprocess.Popen(
        [*FIREARMS, "serve"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    killed: set[int] = set()
    try:
        wait_for_health(f"http://127.0.0.1:{port}", serve)
        # Five replacements a minute are allowed; the sixth death ends the supervisor.
        for _ in range(6):
            wait_until(
                lambda: serve.poll() is not None or bool(api_processes(serve.pid) - killed),
                "a live API process to kill",
            )
            assert serve.poll() is None, "the supervisor gave up too early"
            victim = min(api_processes(serve.pid) - killed)
            os.kill(victim, signal.SIGKILL)
            killed.add(victim)
        _, stderr = serve.communicate(timeout=30)
    finally:
        if serve.poll() is None:
            serve.send_signal(signal.SIGTERM)
            serve.communicate(timeout=30)
    assert serve.returncode == 1, stderr
    assert "shutting down" in stderr
    assert not (home / "pgdata" / "postmaster.pid").exists()


def test_workers_out_of_range_is_a_one_line_error(short_tmp: Path) -> None:
    env = clean_env(STATE="AT", HOME=str(short_tmp), WORKERS="65")
    done = run_cli(env, "serve")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "FIREARMS_WORKERS" in done.stderr
    refused = run_cli({**env, "FIREARMS_WORKERS": "1"}, "serve", "--workers", "0")
    assert refused.returncode == 2
    assert "--workers" in refused.stderr
    assert not (short_tmp / "pgdata").exists(), "nothing was started"


def _postmaster(home: Path) -> int | None:
    """The pid of the PostgreSQL server of ``home`` while it runs (its postmaster.pid names a live process)."""
    pid_file = home / "pgdata" / "postmaster.pid"
    if not pid_file.exists():
        return None
    pid = int(pid_file.read_text().splitlines()[0])
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return None
    return pid


def test_after_serve_was_killed_the_last_process_to_leave_still_stops_the_database(short_tmp: Path) -> None:
    """A process killed with SIGKILL never leaves the embedded server's list of users: without pruning it, the
    server would run for ever after every registry process ended."""
    home = short_tmp / "home"
    port = free_port()
    env = clean_env(STATE="AT", HOME=str(home), PORT=str(port))
    serve = subprocess.Popen(
        [*FIREARMS, "serve"], env=env, stderr=subprocess.DEVNULL, stdout=subprocess.DEVNULL, text=True
    )
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}", serve).status_code == 200
    finally:
        serve.kill()
        serve.wait(timeout=30)
    try:
        assert _postmaster(home) is not None  # nobody stopped it: the killed process could not
        listed = run_cli(env, "token", "list")  # joins the server, and is the last to leave
        assert listed.returncode == 0, listed.stderr
        assert _postmaster(home) is None
    finally:
        if (left := _postmaster(home)) is not None:  # this test's own server, not to outlive it
            os.kill(left, signal.SIGTERM)


def _raw_request(port: int, head: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send ``head`` (a request line and headers, no body) on a new connection; the status, headers and body."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        with contextlib.suppress(ConnectionResetError, BrokenPipeError):  # the server may close before all is sent
            sock.sendall(head)
        answer = http.client.HTTPResponse(sock)
        answer.begin()
        return answer.status, {name.lower(): value for name, value in answer.getheaders()}, answer.read()


def test_a_request_head_of_absurd_size_is_refused_before_it_is_held_in_memory(short_tmp: Path) -> None:
    """uvicorn's httptools parser sets no limit on the request line or headers: a client could make the server
    hold (and parse, header by header) as many bytes as it sends. Past 64 KiB the head is a 431 problem."""
    home = short_tmp / "home"
    port = free_port()
    env = clean_env(STATE="AT", HOME=str(home), PORT=str(port))
    serve = subprocess.Popen(
        [*FIREARMS, "serve"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}", serve).status_code == 200
        heads = {
            "one header of 8 MiB": b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * (8 << 20) + b"\r\n\r\n",
            "100,000 small headers": b"GET /health HTTP/1.1\r\nHost: x\r\n"
            + b"".join(b"X-%d: y\r\n" % number for number in range(100_000))
            + b"\r\n",
            "a query of 1 MiB": b"GET /health?q=" + b"a" * (1 << 20) + b" HTTP/1.1\r\nHost: x\r\n\r\n",
        }
        for what, head in heads.items():
            status, headers, body = _raw_request(port, head)
            assert status == 431, what
            assert headers["content-type"] == "application/problem+json", what
            assert headers["connection"] == "close", what
            problem = json.loads(body)
            assert problem["type"].endswith("/headers-too-large"), what
            assert problem["status"] == 431
        # an ordinary head, up to the limit, is served as before
        ordinary = b"GET /health HTTP/1.1\r\nHost: x\r\nX-Fair: " + b"f" * 60_000 + b"\r\n\r\n"
        assert _raw_request(port, ordinary)[0] == 200
    finally:
        serve.send_signal(signal.SIGINT)
        _, stderr = serve.communicate(timeout=60)
    assert serve.returncode == 0, stderr


def test_a_home_whose_keys_folder_cannot_be_made_is_one_line_not_a_traceback(short_tmp: Path) -> None:
    """A file where the keys folder goes (or a home the service may not write): the operator's to fix, in one line."""
    home = short_tmp / "home"
    home.mkdir()
    (home / "keys").write_text("not a folder")
    done = run_cli(clean_env(STATE="AT", HOME=str(home), PORT=str(free_port())), "serve")
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith("firearms: error: ")
    assert str(home / "keys") in last


def test_serve_with_workers_refuses_a_port_another_serve_with_workers_listens_on(short_tmp: Path) -> None:
    """Two ``serve --workers`` may both bind one port with ``SO_REUSEPORT``: Linux would then spread the
    connections over two registries (another home, another State). The port is checked without it, up front."""
    port = free_port()
    first = subprocess.Popen(
        [*FIREARMS, "serve", "--workers", "2"],
        env=clean_env(STATE="AT", HOME=str(short_tmp / "at"), PORT=str(port)),
        stderr=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}", first).status_code == 200
        second = subprocess.Popen(
            [*FIREARMS, "serve", "--workers", "2"],
            env=clean_env(STATE="CZ", HOME=str(short_tmp / "cz"), PORT=str(port)),
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
        )
        try:
            _, stderr = second.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            second.send_signal(signal.SIGINT)
            second.communicate(timeout=60)
            raise AssertionError("a second registry serves on the first one's port") from None
        assert second.returncode == 1
        assert stderr.strip().splitlines() == [
            f"firearms: error: cannot listen on 127.0.0.1:{port}: Address already in use"
        ]
        assert not (short_tmp / "cz").exists()  # refused before the home was touched
    finally:
        first.send_signal(signal.SIGINT)
        first.communicate(timeout=60)


def test_peers_add_beside_serve_started_with_port_refuses_the_registrys_own_url(short_tmp: Path) -> None:
    """The README's operator starts ``serve --port P`` and enters partners with the CLI, whose environment has no P.

    Before, the CLI compared a partner's URL with 127.0.0.1:8080 only: the registry's own http://127.0.0.1:P was
    taken as a partner's, and the worker posted that partner's notices to itself (wrong-recipient, for ever).
    """
    home = short_tmp / "home"
    port = free_port()
    env = clean_env(STATE="AT", HOME=str(home))
    serve = subprocess.Popen(
        [*FIREARMS, "serve", "--port", str(port)], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}", serve).status_code == 200
        public_key = "PUAXw-hDiVqStwqnTRt-vJyYLM8uxJaMwM1V8Sr0Zgw"  # the README's example key
        own = run_cli(env, "peers", "add", "DE", "--url", f"http://localhost:{port}", "--public-key", public_key)
        assert own.returncode == 1, own.stdout
        noted = f"(the last 'firearms serve' on this home bound 127.0.0.1:{port}, noted in its serve.json)"
        assert f"is this registry's own address {noted}" in own.stderr
        assert run_cli(env, "peers", "list").stdout == ""
    finally:
        serve.send_signal(signal.SIGINT)
        serve.communicate(timeout=60)
    assert serve.returncode == 0
    # serve.json outlives a clean stop on purpose: the registry's address is still its own while serve is down
    # for maintenance, when partners are entered with the command line; the next start writes it again.
    assert json.loads((home / "serve.json").read_text()) == {"host": "127.0.0.1", "port": port}
    own = run_cli(env, "peers", "add", "DE", "--url", f"http://127.0.0.1:{port}/", "--public-key", public_key)
    assert own.returncode == 1, own.stdout
    assert f"is this registry's own address {noted}" in own.stderr
    assert run_cli(env, "peers", "list").stdout == ""


def test_no_answer_names_the_server_software(short_tmp: Path) -> None:
    """README "Security": ``Server: uvicorn`` tells a scanner what to try; no answer of ``serve`` carries a ``Server``
    header, whether the app answered it or uvicorn's own protocol did (a 431), and each keeps its ``Date``."""
    home = short_tmp / "home"
    port = free_port()
    env = clean_env(STATE="AT", HOME=str(home), PORT=str(port))
    serve = subprocess.Popen(
        [*FIREARMS, "serve"], env=env, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True
    )
    try:
        assert wait_for_health(f"http://127.0.0.1:{port}", serve).status_code == 200
        heads = {
            200: b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            401: b"GET /api/v1/me HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            404: b"GET /no-such-route HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n",
            431: b"GET /health HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * (1 << 20) + b"\r\n\r\n",
        }
        for expected, head in heads.items():
            status, headers, _ = _raw_request(port, head)
            assert status == expected
            assert "server" not in headers, (status, headers)
            assert "date" in headers, (status, headers)
    finally:
        serve.send_signal(signal.SIGINT)
        _, stderr = serve.communicate(timeout=60)
    assert serve.returncode == 0, stderr
