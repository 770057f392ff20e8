"""Who may act: the admin token the JSON API and the dashboard's forms need, and the forms' own fields.

The JSON API takes the token in a header (``shared.web.presented_token``); a form in its field ``token``.
A cross-site form cannot know the token, and requests a browser marks ``Sec-Fetch-Site: cross-site``
are refused outright, so the forms are CSRF-safe without cookies.
"""

from __future__ import annotations

import re

from flask import request
from werkzeug.exceptions import Forbidden, UnsupportedMediaType

from shared.web import check_token, current_config, field_error, presented_token

from .dashboard import dashboard
from .schemas import BY_PATTERN, MAX_SILENCE_MINUTES, SENTIMENTS


def expected_token(monitor) -> str:
    """The monitor's admin token when it carries one (None or empty: closed), else the suite's setting."""
    if hasattr(monitor, "admin_token"):
        return monitor.admin_token or ""
    return current_config().admin_token


def require_admin():
    """The JSON API's guard: the token in a header; none configured → 403 (closed), none or wrong given → 401.
    Returns the dashboard's data, for the action."""
    data = dashboard()
    check_token(expected_token(data.monitor), presented_token(), what="admin token", setting="TROIKA_ADMIN_TOKEN",
                how="Authorization: Bearer <token> or X-Admin-Token")
    return data


def require_form_admin():
    """The dashboard forms' guard: the token in the form field ``token`` (or a header); never from another site.
    Returns the dashboard's data, for the action."""
    if request.headers.get("Sec-Fetch-Site") == "cross-site":
        raise Forbidden("this action is refused from another site's page")
    if request.mimetype not in ("application/x-www-form-urlencoded", "multipart/form-data"):
        raise UnsupportedMediaType("send the action as a form (application/x-www-form-urlencoded)")
    data = dashboard()
    check_token(expected_token(data.monitor), presented_token() or request.form.get("token") or None, what="admin token",
                setting="TROIKA_ADMIN_TOKEN", how="the form's token field, Authorization: Bearer <token> or X-Admin-Token")
    return data


def form_text(name: str, default: str, limit: int = 100) -> str:
    value = (request.form.get(name) or default).strip()
    if not value or len(value) > limit or not re.match(BY_PATTERN, value):
        field_error(name, f"must be 1-{limit} characters, none of them control characters")
    return value


def form_minutes() -> int:
    raw = request.form.get("minutes", "")
    if not raw.isdigit() or int(raw) > MAX_SILENCE_MINUTES:
        field_error("minutes", f"must be a whole number from 0 to {MAX_SILENCE_MINUTES}")
    return int(raw)


def form_label() -> str:
    label = request.form.get("label", "")
    if label not in SENTIMENTS:
        field_error("label", f"must be one of {', '.join(SENTIMENTS)}")
    return label
