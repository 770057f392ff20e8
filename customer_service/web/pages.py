"""The pages: the demo home, the agents' console and the embeddable widget script."""

from __future__ import annotations

from flask import current_app, render_template, request

from shared.route_groups import RouteGroup

routes = RouteGroup("pages")


@routes.get("/")
def home():
    return render_template("customer_service/home.html")


@routes.get("/agents/")
def agents():
    # The page holds no data: its script asks the admin API with the token the agent types in.
    return render_template("customer_service/agents.html")


@routes.get("/widget.js")
def widget():
    response = current_app.blueprints[request.blueprint].send_static_file("widget.js")
    # Embeddable: other sites load this script; it is not secret and changes with releases.
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Cross-Origin-Resource-Policy"] = "cross-origin"
    return response
