"""A real ``troika run`` process on loopback, for the tests that kill it (-9) mid-write and restart it.

    port = free_port()
    config.write_text(f'apps = ["recommender"]\\nport = {port}\\n...')
    process, base = start_troika(config, port)    # returns once /health/ready answers 200
    post(f"{base}/rec/api/feedback", [...], headers={"X-API-Key": key})
"""

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from tests.web_fixtures import free_port

__all__ = ["free_port", "get", "post", "start_troika"]


def post(url: str, body, headers: dict | None = None):
    """POST ``body`` as JSON; the decoded JSON answer. An error status raises urllib.error.HTTPError."""
    request = urllib.request.Request(url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json", **(headers or {})})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def get(url: str, headers: dict | None = None):
    with urllib.request.urlopen(urllib.request.Request(url, headers=headers or {}), timeout=30) as response:
        return json.loads(response.read())


def start_troika(config: Path, port: int, *, timeout: float = 300) -> tuple[subprocess.Popen, str]:
    """``troika run --config config`` (which must set ``port``) as a child process, ready; and its base URL.

    Its log goes to ``troika-run.log`` beside the config: a pipe nobody reads would stall a
    server that logs much, and the file outlives a kill for the failure message.
    """
    log = config.parent / "troika-run.log"
    with open(log, "ab") as sink:
        process = subprocess.Popen([sys.executable, "-m", "shared.cli", "--quiet", "run", "--config", str(config)],
                                   env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.DEVNULL, stderr=sink)
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout  # a first start may train or embed the demo data
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"troika run exited: {log.read_text(errors='replace')[-2000:]}")
        try:
            with urllib.request.urlopen(f"{base}/health/ready", timeout=2):
                return process, base
        except (OSError, urllib.error.HTTPError):
            time.sleep(0.3)
    process.kill()
    pytest.fail("troika run was not ready in time")
