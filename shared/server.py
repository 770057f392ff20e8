"""The suite server behind ``troika run``: one Flask app hosting every installed app.

``shared`` never imports an app by name in code. Each name in ``config.apps`` may ship a
``<name>/plugin.py`` with ``make_plugin(config) -> Plugin``; names without one are listed
on the landing page as not installed yet::

    # customer_service/plugin.py
    def make_plugin(config):
        return Plugin(name="customer_service", title="Support chat", description="...",
                      blueprint=bp, url_prefix="/cs", prepare=train_missing_models,
                      ready=lambda: (bot.loaded, "intent model and FAQ index"))
"""

from __future__ import annotations

import errno
import importlib
import logging
import signal
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import faiss
import waitress
from flask import Blueprint, Flask, render_template_string, send_from_directory

from .config import Config
from .errors import ConfigError
from .storage import check_database
from .web import add_readiness_check, create_app

log = logging.getLogger(__name__)


def _nothing_to_prepare() -> None:
    return None


def _always_ready() -> tuple[bool, str]:
    return True, "nothing to load"


@dataclass(frozen=True)
class Plugin:
    """What an app gives the suite server.

    ``name`` is the app's package name (as listed in ``config.apps``); ``prepare`` runs once
    before serving (train missing demo models, build indexes, with progress bars);
    ``ready`` reports (ok, detail) cheaply and feeds /health/ready.
    """

    name: str
    title: str
    description: str
    blueprint: Blueprint
    url_prefix: str
    prepare: Callable[[], None] = _nothing_to_prepare
    ready: Callable[[], tuple[bool, str]] = _always_ready
    api_spec: Any = None  # a shared.openapi.api_spec, served at /<its path>/openapi.json
    state: Any = None  # what the app lets callers reach (its model holder, for one): tests, admin tools

    def __post_init__(self) -> None:
        if not self.url_prefix.startswith("/") or self.url_prefix.rstrip("/") in ("", "/health", "/static"):
            raise ConfigError(f"app {self.name}: url_prefix {self.url_prefix!r} must start with / and not be /, /health or /static")


def app_modules(config: Config, part: str) -> list[tuple[str, Any]]:
    """(name, ``<name>.<part>`` module) of every app in ``config.apps`` that ships one, in that order."""
    modules = []
    for name in config.apps:
        try:
            modules.append((name, importlib.import_module(f"{name}.{part}")))
        except ModuleNotFoundError as exc:
            # Only a missing app or module means "not installed"; a broken import inside one is a bug to show.
            if exc.name not in (name, f"{name}.{part}"):
                raise
            log.debug("app %s has no %s module yet; skipping it", name, part)
    return modules


def describe_apps(config: Config) -> str:
    """What each app adds to ``troika config`` (an optional ``<app>.settings.describe_settings(config)``): its
    keys' effective values and where a derived or generated one comes from. ``<app>.settings``, not the
    plugin, so that listing the configuration does not load any model library."""
    return "".join(module.describe_settings(config) for _, module in app_modules(config, "settings")
                   if hasattr(module, "describe_settings"))


def load_plugins(config: Config) -> list[Plugin]:
    """The plugin of every app in ``config.apps`` that ships one, in that order."""
    plugins = []
    for name, module in app_modules(config, "plugin"):
        plugin = module.make_plugin(config)
        if not isinstance(plugin, Plugin):
            raise ConfigError(f"{name}.plugin.make_plugin returned {type(plugin).__name__}, not a shared.server.Plugin")
        plugins.append(plugin)
    return plugins


def build_app(config: Config, plugins: Iterable[Plugin] | None = None) -> Flask:
    """The suite app: shared edge (shared.web), every plugin's blueprint, a landing page at /.

    ``plugins`` defaults to :func:`load_plugins`; apps of ``config.apps`` without one are
    listed on the landing page as not installed.
    """
    plugins = load_plugins(config) if plugins is None else list(plugins)
    prefixes = [p.url_prefix.rstrip("/") for p in plugins]
    if len(set(prefixes)) != len(prefixes):
        raise ConfigError(f"two apps share a url_prefix: {', '.join(prefixes)}")
    app = create_app(config)
    # Every app keeps its tables in this one database; without it nothing is ready.
    add_readiness_check(app, "database", lambda: check_database(config.database_url))
    for plugin in plugins:
        app.register_blueprint(plugin.blueprint, url_prefix=plugin.url_prefix)
        add_readiness_check(app, plugin.name, plugin.ready)
        if plugin.api_spec is not None:
            plugin.api_spec.register(app)
    installed = {p.name for p in plugins}
    missing = [name for name in config.apps if name not in installed]

    @app.get("/")
    def landing():
        apps = []
        for plugin in plugins:
            try:
                ok, detail = plugin.ready()
            except Exception:
                ok, detail = False, "readiness check failed"
            apps.append({"plugin": plugin, "ready": ok, "detail": detail})
        return render_template_string(LANDING, apps=apps, missing=missing)

    @app.get("/favicon.ico")
    def favicon():
        # Browsers ask for /favicon.ico whatever the page says; an SVG under that name is what they all render.
        return send_from_directory(app.static_folder, "favicon.svg", mimetype="image/svg+xml", max_age=86400)

    app.extensions["troika.plugins"] = plugins
    return app


def urls(config: Config, plugins: Sequence[Plugin]) -> list[tuple[str, str]]:
    """(what, URL) pairs worth printing when the server starts."""
    # A wildcard address is not something a browser can open.
    host = "127.0.0.1" if config.host in ("0.0.0.0", "::", "") else config.host
    base = f"http://{f'[{host}]' if ':' in host else host}:{config.port}"
    found = [("landing page", f"{base}/")]
    found += [(plugin.title, f"{base}{plugin.url_prefix.rstrip('/')}/") for plugin in plugins]
    found += [("health (live)", f"{base}/health/live"), ("health (ready)", f"{base}/health/ready")]
    return found


def serve(config: Config) -> None:
    """Prepare every plugin, print where everything is, then serve with waitress until stopped."""
    logging.basicConfig(level=config.log_level, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    ok, detail = check_database(config.database_url)
    if not ok:
        raise ConfigError(f"{detail}; check database_url (troika.toml or TROIKA_DATABASE_URL)")
    plugins = load_plugins(config)
    for plugin in plugins:
        print(f"preparing {plugin.title}...", flush=True)
        plugin.prepare()
    app = build_app(config, plugins)
    missing = [name for name in config.apps if name not in {p.name for p in plugins}]
    print(f"troika: {len(plugins)} app(s) installed" + (f"; not installed yet: {', '.join(missing)}" if missing else ""))
    width = max(len(what) for what, _ in urls(config, plugins))
    for what, url in urls(config, plugins):
        print(f"  {what:<{width}}  {url}")
    print("press Ctrl+C to stop", flush=True)
    # systemd, docker and kill send SIGTERM: stop as Ctrl+C does, so apps' exit hooks run
    # (the finance scheduler finishes its running jobs and releases its lock).
    signal.signal(signal.SIGTERM, _stop)
    # From here on each request searches with one query while other requests run in other
    # threads: faiss's own OpenMP threads would only fight them for the cores (measured on
    # 10k vectors, 2 cores: one query 0.9 ms with 2 threads, 0.3 ms with 1).
    faiss.omp_set_num_threads(1)
    try:
        waitress.serve(app, host=config.host, port=config.port, threads=config.threads, ident="troika")
    except OSError as exc:
        if exc.errno == errno.EADDRINUSE:
            raise ConfigError(f"port {config.port} on {config.host} is already in use; choose another with --port or TROIKA_PORT") from None
        raise


def _stop(signum, frame) -> None:
    raise SystemExit(0)


LANDING = """<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>troika</title>
<link rel="stylesheet" href="{{ url_for('static', filename='troika.css') }}">
<link rel="icon" href="{{ url_for('static', filename='favicon.svg') }}" type="image/svg+xml">
</head>
<body>
<main>
<h1>troika</h1>
<p class="lead">A support chatbot, a finance news monitor and a recommender on one fine-tuning core.</p>
{% if apps %}
<ul class="apps">
{% for app in apps %}
<li>
<a href="{{ app.plugin.url_prefix.rstrip('/') }}/">{{ app.plugin.title }}</a>
<span class="status {{ 'ok' if app.ready else 'waiting' }}">{{ 'ready' if app.ready else 'not ready: ' ~ app.detail }}</span>
<p>{{ app.plugin.description }}</p>
</li>
{% endfor %}
</ul>
{% else %}
<p>No app is installed yet.</p>
{% endif %}
{% if missing %}
<p class="missing">Not installed yet: {{ missing | join(", ") }}. These apps have no web plugin in this version, so they are not served.</p>
{% endif %}
<footer>Health: <a href="/health/live">live</a> · <a href="/health/ready">ready</a></footer>
</main>
</body>
</html>
"""
