"""Query strings, validated by the pydantic models of ``schemas.py``."""

from __future__ import annotations

from flask import request
from pydantic import BaseModel, ValidationError

from shared.web import field_error


def query_args(model: type[BaseModel], *, page_args: bool = False):
    """The request's query string validated by ``model``; a bad value → 400 naming the parameter."""
    args = request.args.to_dict()
    if page_args:  # a page's own parameters, not filters
        args = {k: v for k, v in args.items() if k not in ("refresh", "done")}
    try:
        return model.model_validate(args)
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        field_error(".".join(str(p) for p in first["loc"]) or "query", first["msg"])
