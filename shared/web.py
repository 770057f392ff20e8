"""Flask plumbing every app reuses: errors as JSON, limits, security headers, health, admin token.

No domain logic lives here; apps bring blueprints and this module gives them the same edge::

    app = create_app(config)                      # what shared.server does for the whole suite
    app.register_blueprint(bp, url_prefix="/cs")
    add_readiness_check(app, "cs-model", lambda: (model is not None, "intent model"))

    @bp.post("/messages")
    def post_message():
        body = json_body(MessageIn)               # 415 / 400 naming the field / 413, never 500
        page = query_args(PageQuery)              # the query string, 400 naming the parameter

    @bp.post("/retrain")
    @require_admin                                # closed unless admin_token is configured
    def retrain(): ...
"""

from __future__ import annotations

import functools
import hmac
import json
import logging
import os
import re
import secrets
import uuid
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NoReturn

from flask import Blueprint, Flask, current_app, jsonify, request
from werkzeug.datastructures import WWWAuthenticate
from werkzeug.exceptions import BadRequest, Forbidden, HTTPException, RequestEntityTooLarge, Unauthorized, UnsupportedMediaType

from .config import Config
from .errors import ConfigError, ConflictError, DataError, NotFoundError
from .prometheus import metrics
from .rate_limits import RateLimits, parse_rate_limit, rate_limit  # noqa: F401 (apps take all web plumbing from here)

log = logging.getLogger(__name__)

ReadinessCheck = Callable[[], tuple[bool, str]]
_RateLimits = RateLimits  # its name before it moved to shared.rate_limits

# Values people copy from tutorials; a key anyone can guess lets anyone forge cookies.
INSECURE_SECRET_KEYS = {"dev", "development", "changeme", "change-me", "change_me", "secret", "secret_key", "secret-key", "default", "test",
                        "testing", "password", "insecure", "troika"}
MIN_SECRET_KEY_LENGTH = 16

# Pages load only their own scripts, styles and images, and are never framed.
PAGE_CSP = "default-src 'self'; img-src 'self' data:; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
# Anything else (JSON, files) is data, not a document.
DATA_CSP = "default-src 'none'; frame-ancestors 'none'"


class FieldError(BadRequest):
    """400 that names the request field at fault; the JSON error carries it as ``field``."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def field_error(field: str, message: str) -> NoReturn:
    """Reject the request: ``field`` is wrong because ``message``."""
    raise FieldError(field, message)


def create_app(config: Config, *, import_name: str = __name__) -> Flask:
    """A Flask app with the suite's edge: JSON errors, size limit, headers, health, secret key.

    Outside testing, refuses to start with a guessable secret key (ConfigError).
    """
    app = Flask(import_name)
    app.config.update(
        TROIKA=config,
        TESTING=config.testing,
        SECRET_KEY=secret_key(config),
        MAX_CONTENT_LENGTH=config.max_content_length,
        MAX_FORM_MEMORY_SIZE=config.max_content_length,
    )
    app.extensions["troika.readiness"] = {}
    app.extensions["troika.rate_limits"] = RateLimits()
    app.register_error_handler(HTTPException, _http_error)
    for error, (status, code) in USER_ERRORS.items():
        app.register_error_handler(error, functools.partial(_user_error, status=status, code=code))
    app.register_error_handler(Exception, _unexpected_error)
    app.before_request(_refuse_oversized_body)
    app.after_request(_security_headers)
    app.register_blueprint(health)
    app.register_blueprint(metrics)  # /metrics: apps add collectors with shared.prometheus.add_metrics_collector
    return app


def current_config() -> Config:
    """The Config of the app handling this request."""
    return current_app.config["TROIKA"]


# --- what an app's module-level views serve ---------------------------------------------


@dataclass(frozen=True)
class Served:
    service: Any
    settings: Mapping[str, Any]  # the app's troika.toml table


def serve(bp: Blueprint, key: str, service: Any, settings: Mapping[str, Any]) -> None:
    """Have every app that registers ``bp`` serve ``service`` with ``settings``, kept in ``app.extensions[key]``.

    Views, module-level functions as in flaskr, read them back with ``served(key)``: so each app
    (a test makes many) serves its own, and no view is a closure.
    """
    state = Served(service, settings)
    bp.record_once(lambda setup: setup.app.extensions.__setitem__(key, state))


def served(key: str) -> Served:
    """What the app handling this request serves under ``key`` (see ``serve``)."""
    return current_app.extensions[key]


# --- secret key -------------------------------------------------------------------------


def secret_key(config: Config) -> str:
    """The configured key; or, when none is set, one generated once and kept in var_dir."""
    key = config.secret_key
    if key:
        if not config.testing and (key.lower() in INSECURE_SECRET_KEYS or len(key) < MIN_SECRET_KEY_LENGTH):
            raise ConfigError(
                f"secret_key is a well-known or short value (under {MIN_SECRET_KEY_LENGTH} characters); "
                "set TROIKA_SECRET_KEY to a long random string, or leave it empty to have one generated"
            )
        return key
    if config.testing:
        return secrets.token_hex(32)
    return persisted_secret(config.var_dir / "secret_key")


def persisted_secret(path: Path) -> str:
    """The random key kept in ``path``, generated there (0600) the first time; apps keep their generated keys this way too."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written whole under a temporary name (0600 from the start), then linked into place:
        # link fails if another process won the race, and both then read the winner's key.
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "w") as fh:
                fh.write(secrets.token_hex(32) + "\n")
                fh.flush()
                os.fsync(fh.fileno())
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink(missing_ok=True)
    if path.stat().st_mode & 0o077:
        log.warning("%s is readable by other users; restrict it with chmod 600", path)
    key = path.read_text().strip()
    if not key:
        raise ConfigError(f"{path} is empty; delete it to have a new secret key generated")
    return key


# --- errors and limits ------------------------------------------------------------------


def _error_body(code: str, message: str, field: str | None = None) -> str:
    error = {"code": code, "message": message}
    if field:
        error["field"] = field
    return json.dumps({"error": error})


def _http_error(exc: HTTPException):
    if exc.response is not None:  # a view built its own error response on purpose
        return exc.response
    # get_response keeps the exception's headers (Allow on 405, Retry-After on 429...).
    response = exc.get_response()
    code = re.sub(r"\W+", "_", exc.name.lower()).strip("_")
    response.set_data(_error_body(code, exc.description or exc.name, getattr(exc, "field", None)))
    response.mimetype = "application/json"
    return response


# Domain errors a request can cause, raised by plain-Python app modules that know no HTTP.
USER_ERRORS = {DataError: (400, "bad_request"), NotFoundError: (404, "not_found"), ConflictError: (409, "conflict")}


def _user_error(exc: Exception, *, status: int, code: str):
    return current_app.response_class(_error_body(code, str(exc)), status=status, mimetype="application/json")


def _unexpected_error(exc: Exception):
    # The traceback goes to the log, never to the client.
    current_app.logger.error("unhandled error in %s %s", request.method, request.path, exc_info=exc)
    body = _error_body("internal_server_error", "the server hit an unexpected error; it has been logged")
    return current_app.response_class(body, status=500, mimetype="application/json")


def _refuse_oversized_body():
    # Werkzeug only checks the limit when a view reads the body; refuse before any view runs.
    length = request.content_length
    if length is not None and length > current_app.config["MAX_CONTENT_LENGTH"]:
        raise RequestEntityTooLarge(f"the request body is {length} bytes; the limit is {current_app.config['MAX_CONTENT_LENGTH']}")


def _security_headers(response):
    # setdefault: a view with other needs (an embeddable widget) sets its own first.
    headers = response.headers
    headers.setdefault("X-Content-Type-Options", "nosniff")
    headers.setdefault("X-Frame-Options", "DENY")
    headers.setdefault("Referrer-Policy", "no-referrer")
    headers.setdefault("Content-Security-Policy", PAGE_CSP if response.mimetype == "text/html" else DATA_CSP)
    if response.is_json:
        headers.setdefault("Cache-Control", "no-store")
    return response


# --- request bodies ---------------------------------------------------------------------


def _reject_constant(name: str) -> NoReturn:
    raise ValueError(f"{name} is not JSON")


def json_body(model: type | None = None) -> Any:
    """The request's JSON object, or ``model`` (a pydantic model class) validated from it.

    Wrong content type → 415; unparsable, not an object, or a field of the wrong type or
    length → 400 whose JSON error names the field; over the size limit → 413.
    """
    if not request.is_json:
        raise UnsupportedMediaType("send the body as JSON with Content-Type: application/json")
    data = request.get_data(cache=True)
    if model is not None:
        return _validated(model, data)
    try:
        value = json.loads(data, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        raise BadRequest("the body is not valid JSON") from None
    if not isinstance(value, dict):
        raise BadRequest("the body must be a JSON object")
    return value


def _validated(model: type, data: bytes) -> Any:
    from pydantic import ValidationError

    try:
        return model.model_validate_json(data)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        if first["type"] == "json_invalid":
            raise BadRequest("the body is not valid JSON") from None
        if not first["loc"]:
            # The whole body has the wrong shape: say which one the route takes (list bodies: bulk inserts).
            shape = "a JSON array (a list)" if first["type"] == "list_type" else "a JSON object"
            raise BadRequest(f"the body must be {shape}") from None
        _reject_first(first)


def query_args(model: type, *, ignore: Iterable[str] = ()) -> Any:
    """The request's query string validated into ``model`` (a pydantic model class).

    A bad value → 400 whose JSON error names the parameter, as ``json_body`` names a body field.
    ``ignore``: parameters the view reads itself (a page's own, not filters), left out first.
    """
    from pydantic import ValidationError

    skipped = set(ignore)
    args = {name: value for name, value in request.args.to_dict().items() if name not in skipped}
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        _reject_first(exc.errors(include_url=False, include_input=False)[0])


def _reject_first(error: dict) -> NoReturn:
    # The first of pydantic's errors is the one reported: the field it names and why.
    field_error(".".join(str(part) for part in error["loc"]) or "query", error["msg"])


# --- admin token ------------------------------------------------------------------------


def presented_token() -> str | None:
    """The admin token the request carries: ``Authorization: Bearer <token>``, else the ``X-Admin-Token`` header."""
    auth = request.authorization
    if auth is not None and auth.type == "bearer" and auth.token:
        return auth.token
    return request.headers.get("X-Admin-Token") or None


def require_admin(view: Callable) -> Callable:
    """Let the request through only with the configured admin token.

    No token configured → 403 for everyone (fail closed); none or a wrong one presented → 401.
    The token is compared in constant time and never logged.
    """

    @functools.wraps(view)
    def guarded(*args: Any, **kwargs: Any):
        check_token(current_config().admin_token, presented_token(), what="admin token", setting="TROIKA_ADMIN_TOKEN",
                    how="Authorization: Bearer <token> or X-Admin-Token")
        return view(*args, **kwargs)

    return guarded


def check_token(expected: str, given: str | None, *, what: str, setting: str, how: str) -> None:
    """Refuse the request unless ``given`` equals ``expected``: 403 when none is configured (fail closed), else 401.

    Compared in constant time; neither value is ever logged.
    """
    if not expected:
        raise Forbidden(f"these routes are closed: no {what} is configured (set {setting})")
    if given is None or not hmac.compare_digest(given.encode(), expected.encode()):
        log.warning("refused %s %s from %s: %s %s", request.method, request.path, request.remote_addr, "wrong" if given else "no", what)
        raise Unauthorized(f"this route needs the {what}: {how}",
                           www_authenticate=WWWAuthenticate("bearer", {"realm": f"troika {what}"}))


# --- health -----------------------------------------------------------------------------

health = Blueprint("health", __name__)


def add_readiness_check(app: Flask, name: str, check: ReadinessCheck) -> None:
    """/health/ready answers 200 only while every check returns (True, detail).

    Checks run on every probe, so they should report state already known (a loaded model)
    rather than do the work.
    """
    app.extensions["troika.readiness"][name] = check


@health.get("/health/live")
def live():
    return jsonify(status="live")


@health.get("/health/ready")
def ready():
    checks = {}
    for name, check in current_app.extensions["troika.readiness"].items():
        try:
            ok, detail = check()
        except Exception as exc:
            current_app.logger.error("readiness check %s failed", name, exc_info=exc)
            ok, detail = False, f"check raised {type(exc).__name__}"
        checks[name] = {"ok": bool(ok), "detail": str(detail)}
    failing = [name for name, result in checks.items() if not result["ok"]]
    if not failing:
        return jsonify(status="ready", checks=checks)
    message = "not ready: " + "; ".join(f"{name} ({checks[name]['detail']})" for name in failing)
    return jsonify(status="not ready", checks=checks, error={"code": "not_ready", "message": message}), 503
