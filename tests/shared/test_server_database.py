"""`troika run` on each database backend: it starts, reports ready, and survives a database restart."""

import json
import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

import pytest

from shared.config import load_config
from shared.server import build_app


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def troika(*args, env=None, **kwargs):
    return subprocess.Popen([sys.executable, "-m", "shared.cli", *args], env={**os.environ, **(env or {})}, **kwargs)


class Running(str):
    """The server's base URL, with its process."""

    def __new__(cls, base: str, process: subprocess.Popen):
        running = super().__new__(cls, base)
        running.process = process
        return running


@pytest.fixture
def running_server(tmp_path, db_url):
    """A real `troika run` subprocess on loopback, database from TROIKA_DATABASE_URL, no apps."""
    (tmp_path / "troika.toml").write_text("apps = []\n")
    port = free_port()
    process = troika("run", "--config", str(tmp_path / "troika.toml"), "--port", str(port),
                     env={"TROIKA_DATABASE_URL": db_url}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            get(f"{base}/health/live")
            break
        except OSError:
            if process.poll() is not None:
                pytest.fail(f"troika run exited: {process.stdout.read().decode()}")
            time.sleep(0.2)
    yield Running(base, process)
    if process.poll() is None:
        process.terminate()
        process.wait(timeout=10)


def test_troika_run_is_ready_on_the_configured_database(running_server):
    status, body = get(f"{running_server}/health/ready")
    assert (status, body["status"]) == (200, "ready")


def test_sigterm_stops_the_server_cleanly(running_server):
    process = running_server.process
    process.terminate()
    out, _ = process.communicate(timeout=30)
    assert process.returncode == 0, out.decode()
    assert b"Traceback" not in out


@pytest.mark.restarts_postgres
def test_the_server_answers_after_the_database_restarts(running_server, db_url):
    if not db_url.startswith("postgresql"):
        pytest.skip("a SQLite file has no server to restart")
    restart = os.environ.get("TROIKA_TEST_POSTGRES_RESTART")
    if not restart:
        pytest.skip("TROIKA_TEST_POSTGRES_RESTART is not set (tests/throwaway_postgres.sh sets it)")
    assert get(f"{running_server}/health/ready")[0] == 200
    subprocess.run(restart, shell=True, check=True, timeout=60)
    status, body = get(f"{running_server}/health/ready")  # the very next request, no retry
    assert (status, body["status"]) == (200, "ready")


def test_an_unreachable_database_stops_the_start_with_one_line_and_no_password(tmp_path):
    url = "postgresql+psycopg://troika:hunter2-secret@127.0.0.1:1/troika?connect_timeout=2"
    (tmp_path / "troika.toml").write_text("apps = []\n")
    process = troika("run", "--config", str(tmp_path / "troika.toml"), "--port", str(free_port()),
                     env={"TROIKA_DATABASE_URL": url}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2
    assert err.startswith("troika: error: cannot reach the database postgresql+psycopg://troika:***@127.0.0.1:1/troika")
    assert len(err.strip().splitlines()) == 1
    assert "hunter2" not in out + err


def test_a_malformed_database_url_is_refused_without_its_password(tmp_path):
    (tmp_path / "troika.toml").write_text("apps = []\n")
    process = troika("config", "--config", str(tmp_path / "troika.toml"),
                     env={"TROIKA_DATABASE_URL": "postgres ql://me:hunter2@db/x"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out, err = process.communicate(timeout=60)
    assert process.returncode == 2 and "not a database URL" in err
    assert "hunter2" not in out + err


def test_readiness_names_the_database_when_it_is_down(tmp_path):
    config = load_config(env={}, var_dir=tmp_path, testing=True, apps=[],
                         database_url="postgresql+psycopg://troika:pw@127.0.0.1:1/x?connect_timeout=2")
    response = build_app(config, []).test_client().get("/health/ready")
    assert response.status_code == 503
    assert "database (cannot reach the database" in response.json["error"]["message"]
