"""Users: insert one or many, read, delete, list by cursor."""

from __future__ import annotations

from flask import jsonify

from shared.web import json_body, query_args

from ..blueprint_state import current_service
from .routes import documented_as, resource_routes
from .schemas import Affected, Cursor, UserIn, UserList, UserOut, UsersOut
from .wire import affected

routes = resource_routes("users")


@routes.post("/api/user")
@documented_as(body=UserIn, response=Affected, errors=(400, 401, 403, 413, 415))
def insert_user():
    body = json_body(UserIn)
    return affected(current_service().catalogue.put_users([{"id": body.UserId, "labels": body.Labels, "comment": body.Comment}]))


@routes.post("/api/users")
@documented_as(body=UserList, response=Affected, errors=(400, 401, 403, 413, 415))
def insert_users():
    bodies = json_body(UserList).root
    return affected(current_service().catalogue.put_users([{"id": u.UserId, "labels": u.Labels, "comment": u.Comment} for u in bodies]))


@routes.get("/api/user/<user_id>")
@documented_as(response=UserOut, errors=(401, 403, 404))
def get_user(user_id):
    row = current_service().catalogue.user(user_id)
    return jsonify(UserId=row["id"], Labels=row["labels"], Comment=row["comment"])


@routes.delete("/api/user/<user_id>")
@documented_as(response=Affected, errors=(401, 403, 404))
def delete_user(user_id):
    current_service().catalogue.delete_user(user_id)
    return affected(1)


@routes.get("/api/users")
@documented_as(query=Cursor, response=UsersOut, errors=(400, 401, 403))
def list_users():
    args = query_args(Cursor)
    rows, cursor = current_service().catalogue.users(n=args.n, cursor=args.cursor)
    return jsonify(Cursor=cursor, Users=[{"UserId": r["id"], "Labels": r["labels"], "Comment": r["comment"]} for r in rows])
