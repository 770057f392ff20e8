"""The demo page at ``/rec/``: pick a user, see their history and recommendations, add an item, click.

The page itself needs no key (it holds no data); its script asks for the API key once, keeps it
in the tab's sessionStorage and calls the same gorse API a client would, with ``X-API-Key``.
So the page shows exactly what the API answers, scores and ``X-Troika-Source`` included.
Everything from the data is put in the page as text by ``static/demo.js``.
"""

from __future__ import annotations

from pathlib import Path

from flask import Blueprint, render_template

from .blueprint_state import current_service
from .service import SOURCES

# The exemptions the API's key check needs for this page (the blueprint's static files too).
PUBLIC_ENDPOINTS = frozenset({"recommender_api.index", "recommender_api.static"})
HERE = Path(__file__).parent  # the page's templates and static files live beside this module, not the blueprint's


def register_page(bp: Blueprint) -> None:
    """Add ``GET /`` (endpoint ``index``) and the page's static files to the API blueprint, before it is registered."""
    # Set here rather than in the Blueprint(...) call so the API module stays about the API;
    # Flask reads both only when the blueprint is registered on the app.
    bp.template_folder = str(HERE / "templates")
    bp.static_folder = str(HERE / "static")
    bp.static_url_path = "/static/recommender"
    bp.add_url_rule("/", view_func=index, methods=["GET"])


def index():
    service = current_service()
    counts = service.catalogue.counts()
    return render_template("recommender/demo.html", items=counts["items"], users=counts["users"],
                           feedback=counts["feedback"], ready=service.ready, sources=SOURCES)
