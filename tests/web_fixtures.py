"""Fixtures for tests that need a real server or a real browser (loaded by tests/conftest.py).

    def test_widget(live_server, browser):
        url = live_server(app)                    # the app served by waitress on 127.0.0.1
        browser.get(url + "/cs/")                 # Debian's headless chromium through Selenium

The browser never downloads anything: Selenium is pointed at /usr/bin/chromium and
/usr/bin/chromedriver (Debian's chromium and chromium-driver; .ci/run installs them), and
the tests skip, saying so, where they are absent.
"""

import json
import os
import shutil
import socket
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

CHROMIUM = os.environ.get("TROIKA_TEST_CHROMIUM", "/usr/bin/chromium")
CHROMEDRIVER = os.environ.get("TROIKA_TEST_CHROMEDRIVER", "/usr/bin/chromedriver")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def live_server():
    """Serve a WSGI app on a free loopback port in a thread; returns its base URL. Stopped after the test.

    werkzeug's threaded server, because it stops cleanly from another thread (``shutdown``);
    production serving is waitress (``troika run``).
    """
    from werkzeug.serving import make_server

    servers = []

    def serve(app) -> str:
        server = make_server("127.0.0.1", 0, app, threaded=True)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        return f"http://127.0.0.1:{server.server_port}"

    yield serve
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="session")
def _chrome_profile():
    folder = tempfile.mkdtemp(prefix="troika-chrome-")
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="session")
def browser(_chrome_profile):
    """A headless Chromium driven by Selenium, shared by the session's browser tests."""
    for path, package in ((CHROMIUM, "chromium"), (CHROMEDRIVER, "chromium-driver")):
        if not os.access(path, os.X_OK):
            pytest.skip(f"{path} not found: install Debian's {package} (apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = CHROMIUM
    # --no-sandbox: Chromium refuses to run as root otherwise; the network flags keep it
    # from calling out (this machine has no internet and would log refusals).
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-quic",
                 "--no-first-run", "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--window-size=1280,900", f"--user-data-dir={_chrome_profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service(executable_path=CHROMEDRIVER), options=options)
    driver.set_page_load_timeout(30)
    yield driver
    driver.quit()


class Receiver:
    """Answers each POST with the next scripted (status, headers) and keeps what it received."""

    def __init__(self, script):
        self.script = list(script)
        self.received = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.received.append((self.headers["Content-Type"], json.loads(body)))
                status, headers = receiver.script.pop(0) if receiver.script else (200, {})
                if status == "hang":
                    time.sleep(2)
                    status = 200
                try:
                    self.send_response(status)
                    for name, value in headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Length", "2")
                    self.end_headers()
                    self.wfile.write(b"{}")
                except BrokenPipeError:  # the sender timed out and left, as intended
                    pass

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def webhook_receiver():
    """``webhook_receiver((503, {}), (200, {}))``: a loopback HTTP receiver answering POSTs from that script."""
    made = []

    def make(*script):
        made.append(Receiver(script))
        return made[-1]

    yield make
    for receiver in made:
        receiver.server.shutdown()
