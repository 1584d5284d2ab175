"""``firearms serve`` as a real process on its own embedded PostgreSQL, spoken to over real HTTP."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

from firearms.signing import b64url_decode, key_id_of

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


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*FIREARMS, *args], env=env, capture_output=True, text=True, timeout=120, check=False)


def test_serve_first_start_initialises_home_and_shares_its_database_with_the_cli(tmp_path: Path) -> None:
    home = tmp_path / "home"
    port = free_port()
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("FIREARMS_")},
        "FIREARMS_STATE": "AT",
        "FIREARMS_HOME": str(home),
        "FIREARMS_PORT": str(port),
    }
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
        me = httpx.get(f"{url}/api/v1/me", headers={"Authorization": f"Bearer {token}"}, timeout=5)
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


def test_missing_state_is_one_line_error_not_traceback(tmp_path: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith("FIREARMS_")}
    env["FIREARMS_HOME"] = str(tmp_path)
    done = run_cli(env, "serve")
    assert done.returncode == 2
    assert done.stderr.strip().count("\n") == 0
    assert "FIREARMS_STATE" in done.stderr
    assert "Traceback" not in done.stderr


def test_worker_alone_initialises_home_and_stops_cleanly(tmp_path: Path) -> None:
    home = tmp_path / "home"
    env = {
        **{key: value for key, value in os.environ.items() if not key.startswith("FIREARMS_")},
        "FIREARMS_STATE": "CZ",
        "FIREARMS_HOME": str(home),
    }
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
