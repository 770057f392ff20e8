"""The demo page at ``/rec/``: pick a user, see their history and recommendations, add an item, click.

The page itself needs no key (it holds no data); its script asks for the API key once, keeps it
in the tab's sessionStorage and calls the same gorse API a client would, with ``X-API-Key``.
So the page shows exactly what the API answers, scores and ``X-Troika-Source`` included.
Everything from the data is put in the page as text by ``static/demo.js``.
"""

from __future__ import annotations

from flask import Blueprint, render_template

from .service import SOURCES, RecommenderService

# The exemptions the API's key check needs for this page (the blueprint's static files too).
PUBLIC_ENDPOINTS = frozenset({"recommender_api.index", "recommender_api.static"})


def register_page(bp: Blueprint, service: RecommenderService) -> None:
    """Add ``GET /`` (endpoint ``index``) and the page's static files to the API blueprint, before it is registered."""
    # Set here rather than in the Blueprint(...) call so the API module stays about the API;
    # Flask reads both only when the blueprint is registered on the app.
    bp.template_folder = "templates"
    bp.static_folder = "static"
    bp.static_url_path = "/static/recommender"

    @bp.get("/")
    def index():
        counts = service.catalogue.counts()
        return render_template("recommender/demo.html", items=counts["items"], users=counts["users"],
                               feedback=counts["feedback"], ready=service.ready, sources=SOURCES)
