"""The API's door: each client's rate limit, then the key (``X-API-Key``); probes, the schema and the demo page pass freely."""

from __future__ import annotations

from flask import request

from shared.web import check_token, rate_limit

from ..blueprint_state import current_settings
from ..page import PUBLIC_ENDPOINTS
from ..settings import DEFAULT_RATE_LIMIT

UNGUARDED = ("/api/openapi/openapi.json", "/api/health/live", "/api/health/ready")  # probes and the schema: no key, no limit


def require_key():
    """The blueprint's ``before_request``: 429 over the limit, 401/403 without the right key."""
    if request.endpoint in PUBLIC_ENDPOINTS or request.path.endswith(UNGUARDED):
        return
    settings = current_settings()
    # Counted before the key is checked, so guessing keys is limited too.
    rate_limit("rec-api", str(settings.get("rate_limit", DEFAULT_RATE_LIMIT)))
    check_token(str(settings.get("api_key", "")), request.headers.get("X-API-Key"), what="API key",
                setting="api_key in [recommender] of troika.toml or TROIKA_RECOMMENDER_API_KEY", how="X-API-Key: <key>")
