"""Items: insert one or many (embedded at once), read, patch, delete, list by cursor or search by meaning; neighbours."""

from __future__ import annotations

from flask import jsonify

from shared.web import json_body, query_args

from ..blueprint_state import current_service
from .routes import documented_as, resource_routes
from .schemas import Affected, Cursor, ItemIn, ItemList, ItemOut, ItemPatch, ItemsOut, Page, Scored
from .wire import SOURCE_HEADER, affected, as_item, item_out, parse_time, scored

routes = resource_routes("items")


@routes.post("/api/item")
@documented_as(body=ItemIn, response=Affected, errors=(400, 401, 403, 413, 415))
def insert_item():
    body = json_body(ItemIn)
    return affected(current_service().put_items([as_item(body)], hidden=body.IsHidden, labels=body.Labels or ()))


@routes.post("/api/items")
@documented_as(body=ItemList, response=Affected, errors=(400, 401, 403, 413, 415))
def insert_items():
    bodies = json_body(ItemList).root
    written = 0
    for hidden in (False, True):  # one write per visibility, so hidden items never show even briefly
        group = [b for b in bodies if b.IsHidden is hidden]
        if group:
            written += current_service().put_items([as_item(b) for b in group], hidden=hidden)
    return affected(written)


@routes.get("/api/item/<item_id>")
@documented_as(response=ItemOut, errors=(401, 403, 404))
def get_item(item_id):
    return jsonify(item_out(current_service().catalogue.item(item_id)))


@routes.patch("/api/item/<item_id>")
@documented_as(body=ItemPatch, response=Affected, errors=(400, 401, 403, 404, 413, 415))
def patch_item(item_id):
    body = json_body(ItemPatch)
    changes = {"hidden": body.IsHidden, "categories": body.Categories, "labels": body.Labels, "title": body.Comment}
    changes = {k: v for k, v in changes.items() if v is not None}  # gorse's SDK sends null for "unchanged"
    if body.Timestamp is not None:
        changes["timestamp"] = parse_time(body.Timestamp, "Timestamp")
    if changes:
        current_service().patch_item(item_id, **changes)
    else:
        current_service().catalogue.item(item_id)  # 404 for an unknown item even when nothing changes
    return affected(1)


@routes.delete("/api/item/<item_id>")
@documented_as(response=Affected, errors=(401, 403, 404))
def delete_item(item_id):
    current_service().delete_item(item_id)
    return affected(1)


@routes.get("/api/items")
@documented_as(query=Cursor, response=ItemsOut, errors=(400, 401, 403, 404))
def list_items():
    args = query_args(Cursor)
    service = current_service()
    if args.q:
        found = service.search(args.q, n=min(args.n, 1000))
        rows = [service.catalogue.item(r.item) for r in found]
        response = jsonify(Cursor="", Items=[item_out(r) for r in rows])
        response.headers[SOURCE_HEADER] = "search"
        return response
    rows, cursor = service.catalogue.items(n=args.n, cursor=args.cursor)
    return jsonify(Cursor=cursor, Items=[item_out(r) for r in rows])


# Under the item's path, so declared here (the spec lists routes in this order), though gorse files it under recommend.
@routes.get("/api/item/<item_id>/neighbors")
@documented_as(query=Page, response=list[Scored], errors=(400, 401, 403, 404), tags=["recommend"])
def neighbors(item_id):
    args = query_args(Page)
    return scored(current_service().neighbors(item_id, args.n, offset=args.offset), "similar-items")
