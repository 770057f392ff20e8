"""OpenAPI descriptions generated from the pydantic models that validate the bodies (spectree).

Each app makes one spec, documents its JSON routes with the models ``json_body`` already
validates with, and hands the spec to the suite server (``Plugin(api_spec=...)``), which
serves it at ``/<path>/openapi.json``::

    spec = api_spec("Support chat API", path="cs/api/openapi")
    @bp.post("/api/sessions/<session_id>/messages")
    @documented(spec, body=MessageIn, response=ReplyOut, errors=(400, 404, 413, 415), tags=["chat"])
    def post_message(session_id):
        message = json_body(MessageIn)      # the validation; spectree only describes it

Spectree's own validation is off (``skip_validation``): errors keep the suite's one JSON
shape, which the spec documents as ``ErrorOut``.
"""

from __future__ import annotations

from collections.abc import Iterable

from pydantic import BaseModel
from spectree import Response, SpecTree

from . import __version__


class ErrorDetail(BaseModel):
    code: str
    message: str
    field: str | None = None


class ErrorOut(BaseModel):
    """Every error response: ``{"error": {"code", "message"[, "field"]}}``."""

    error: ErrorDetail


def api_spec(title: str, *, path: str, description: str = "") -> SpecTree:
    """A spec served at ``/<path>/openapi.json``, without spectree's UI pages (they load scripts from CDNs)."""
    return SpecTree("flask", title=title, version=__version__, description=description or None, path=path,
                    validation_error_status=400, page_templates={}, annotations=False, mode="strict")


def documented(spec: SpecTree, *, body: type[BaseModel] | None = None, query: type[BaseModel] | None = None,
               response: type[BaseModel] | None = None, status: int = 200, errors: Iterable[int] = (400,),
               tags: Iterable[str] = (), security: dict | None = None):
    """Describe a route: its JSON body and query models, its success model and its error statuses."""
    codes = {f"HTTP_{status}": response}
    codes.update({f"HTTP_{code}": ErrorOut for code in errors})
    return spec.validate(json=body, query=query, resp=Response(**codes), tags=list(tags), skip_validation=True,
                         security=security)


def keep_component_names(namespace: dict, module: str) -> None:
    """Have the pydantic models defined in ``namespace`` (a module's ``globals()``) say they come from ``module``.

    spectree names each OpenAPI component after its model and a hash of the model's module; an
    API module split into a package keeps its components' names this way, so clients generated
    from the description (their class names come from these) do not change.
    """
    here = namespace["__name__"]
    for value in list(namespace.values()):
        if isinstance(value, type) and issubclass(value, BaseModel) and value.__module__ == here:
            value.__module__ = module
