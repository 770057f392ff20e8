"""The recommendation REST API, compatible with gorse's: same paths, JSON field names and X-API-Key.

A team on gorse points its SDK at ``http://host:8000/rec`` and changes nothing else. Beyond
gorse, every response says which source produced it in the ``X-Troika-Source`` header
(gorse's JSON shapes leave no room), ``GET /api/items?q=`` searches item text by meaning, and
``POST /api/score`` scores given candidates for a user (re-ranking an impression).
The key is closed when unset (gorse answers everyone when its key is empty; we refuse). Each
client (remote address) gets at most ``[recommender] rate_limit`` API requests, then 429 with
Retry-After; health and the OpenAPI description are neither keyed nor limited.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Annotated, Any

from flask import Blueprint, jsonify, request
from pydantic import BaseModel, ConfigDict, Field, RootModel, ValidationError

from shared.openapi import api_spec, documented
from shared.web import check_token, field_error, json_body, rate_limit

from .page import PUBLIC_ENDPOINTS, register_page
from .records import Feedback, Item
from .service import RecommenderService
from .settings import DEFAULT_RATE_LIMIT

SOURCE_HEADER = "X-Troika-Source"
KEY = {"api_key": []}
ID_PATTERN = r"^[^/]*[^/ \t\r\n\f\v][^/]*$"  # no '/', not blank: the catalogue's rule, spelt the same in every regex flavour
ID = Field(min_length=1, max_length=256, pattern=ID_PATTERN)
UNGUARDED = ("/api/openapi/openapi.json", "/api/health/live", "/api/health/ready")  # probes and the schema: no key, no limit


class UserIn(BaseModel):
    model_config = ConfigDict(extra="ignore")  # gorse clients send Subscribe etc.; we keep what we use
    UserId: str = ID
    Labels: list[str] | None = Field(default=None, max_length=100)
    Comment: str | None = Field(default=None, max_length=10_000, description="a free-text profile: recommendations before any click")


class UserOut(BaseModel):
    UserId: str
    Labels: list[str]
    Comment: str


class ItemIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    ItemId: str = ID
    IsHidden: bool = False
    Categories: list[str] | None = Field(default=None, max_length=100)
    Timestamp: str | None = Field(default=None, max_length=64, description="RFC 3339; when the item was published", json_schema_extra={"format": "date-time"})
    Labels: list[str] | None = Field(default=None, max_length=100)
    Comment: str = Field(default="", max_length=20_000, description="the item's text (with Labels, what the model reads)")


class ItemPatch(BaseModel):
    model_config = ConfigDict(extra="ignore")
    IsHidden: bool | None = None
    Categories: list[str] | None = Field(default=None, max_length=100)
    Timestamp: str | None = Field(default=None, max_length=64, json_schema_extra={"format": "date-time"})
    Labels: list[str] | None = Field(default=None, max_length=100)
    Comment: str | None = Field(default=None, max_length=20_000)


class ItemOut(BaseModel):
    ItemId: str
    IsHidden: bool
    Categories: list[str]
    Timestamp: str
    Labels: list[str]
    Comment: str


class FeedbackIn(BaseModel):
    model_config = ConfigDict(extra="ignore")
    FeedbackType: str = Field(min_length=1, max_length=64, pattern=ID_PATTERN)
    UserId: str = ID
    ItemId: str = ID
    Value: float = Field(default=1.0, allow_inf_nan=False)
    Timestamp: str | None = Field(default=None, max_length=64, json_schema_extra={"format": "date-time"})


class FeedbackList(RootModel[list[FeedbackIn]]):
    root: list[FeedbackIn] = Field(max_length=10_000)


class SessionFeedbackIn(FeedbackIn):
    UserId: str = Field(default="", max_length=256, description="may be empty: an anonymous session")


class SessionFeedback(RootModel[list[SessionFeedbackIn]]):
    root: list[SessionFeedbackIn] = Field(min_length=1, max_length=1000)


class UserList(RootModel[list[UserIn]]):
    root: list[UserIn] = Field(max_length=10_000)


class ItemList(RootModel[list[ItemIn]]):
    root: list[ItemIn] = Field(max_length=10_000)


class FeedbackOut(BaseModel):
    FeedbackType: str
    UserId: str
    ItemId: str
    Value: float
    Timestamp: str


class Affected(BaseModel):
    RowAffected: int


class Scored(BaseModel):
    Id: str
    Score: float


class Recommended(RootModel[list[Scored] | list[str]]):
    """Item ids best first; with the header ``X-API-Version: 2``, ids with scores (as gorse answers)."""


class ScoreIn(BaseModel):
    """troika's addition: score given candidates (an impression) for one user."""
    model_config = ConfigDict(extra="ignore")
    UserId: str = ID
    ItemIds: list[Annotated[str, Field(min_length=1, max_length=256, pattern=ID_PATTERN)]] = Field(
        min_length=1, max_length=1000, description="the candidates, scored in this order")


class Page(BaseModel):
    n: int = Field(default=10, ge=1, le=1000)
    offset: int = Field(default=0, ge=0, le=100_000)


class Cursor(BaseModel):
    n: int = Field(default=100, ge=1, le=10_000)
    cursor: str = Field(default="", max_length=256)
    q: str | None = Field(default=None, max_length=1000, description="search item text by meaning (troika's addition)")


class FeedbackCursor(BaseModel):
    n: int = Field(default=100, ge=1, le=10_000)
    cursor: str = Field(default="", pattern=r"^[0-9]{0,12}$", description="from the previous page's Cursor")


class UsersOut(BaseModel):
    Cursor: str
    Users: list[UserOut]


class ItemsOut(BaseModel):
    Cursor: str
    Items: list[ItemOut]


class FeedbackPageOut(BaseModel):
    Cursor: str
    Feedback: list[FeedbackOut]


def _time(value: str | None, field: str) -> float | None:
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        field_error(field, f"{value[:40]!r} is not an RFC 3339 time such as 2026-01-31T12:00:00Z")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.timezone.utc)  # gorse reads zone-less times as UTC too
    return moment.timestamp()


def _rfc3339(value: dt.datetime | float | None) -> str:
    if value is None:
        return ""
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromtimestamp(value, dt.timezone.utc)
    return value.astimezone(dt.timezone.utc).isoformat().replace("+00:00", "Z")


def _args(model: type[BaseModel]):
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        first = exc.errors(include_url=False, include_input=False)[0]
        field_error(".".join(str(p) for p in first["loc"]) or "query", first["msg"])


def _item_out(row: Mapping) -> dict:
    return {"ItemId": row["id"], "IsHidden": row["hidden"], "Categories": row["categories"], "Timestamp": _rfc3339(row["timestamp"]),
            "Labels": row["labels"], "Comment": row["title"]}


def _feedback_out(record: Feedback) -> dict:
    return {"FeedbackType": record.type, "UserId": record.user, "ItemId": record.item, "Value": record.value,
            "Timestamp": _rfc3339(record.timestamp)}


def _as_item(body: ItemIn) -> Item:
    # gorse's text lives in Comment; Labels add keywords. The model reads both.
    return Item(body.ItemId, body.Comment, " ".join(body.Labels or []), tuple(body.Categories or ()), _time(body.Timestamp, "Timestamp"))


def _as_feedback(body: FeedbackIn) -> Feedback:
    return Feedback(body.UserId, body.ItemId, body.FeedbackType, body.Value, _time(body.Timestamp, "Timestamp"))


def _scored(recs, source: str, *, v2: bool = True):
    body = [{"Id": r.item, "Score": r.score} for r in recs] if v2 else [r.item for r in recs]
    response = jsonify(body)
    response.headers[SOURCE_HEADER] = source
    return response


def make_blueprint(service: RecommenderService, *, settings: Mapping[str, Any] | None = None) -> tuple[Blueprint, Any]:
    """The API blueprint (mounted at /rec) and its OpenAPI spec (/rec/api/openapi/openapi.json).

    ``settings``: the ``[recommender]`` table (``api_key``, ``rate_limit``).
    """
    settings = settings or {}
    bp = Blueprint("recommender_api", __name__)
    spec = api_spec("troika recommendation API (gorse-compatible)", path="rec/api/openapi",
                    description="gorse's REST API (users, items, feedback, recommend, neighbors, session, popular) with text-aware ranking.")
    catalogue = service.catalogue

    def doc(*, errors, **kwargs):
        return documented(spec, errors=(*errors, 429), **kwargs)  # every documented route is behind the rate limit

    @bp.before_request
    def api_key():
        if request.endpoint in PUBLIC_ENDPOINTS or request.path.endswith(UNGUARDED):
            return
        # Counted before the key is checked, so guessing keys is limited too.
        rate_limit("rec-api", str(settings.get("rate_limit", DEFAULT_RATE_LIMIT)))
        check_token(str(settings.get("api_key", "")), request.headers.get("X-API-Key"), what="API key",
                    setting="api_key in [recommender] of troika.toml or TROIKA_RECOMMENDER_API_KEY", how="X-API-Key: <key>")

    def affected(n: int):
        return jsonify(RowAffected=n)

    register_page(bp, service)  # GET / : the demo page (recommender/page.py)

    # --- health (gorse's paths) -----------------------------------------------------

    @bp.get("/api/health/live")
    def live():
        return jsonify(Ready=True, Live=True)

    @bp.get("/api/health/ready")
    def ready():
        return (jsonify(Ready=True), 200) if service.ready else (jsonify(Ready=False, error={"code": "not_ready", "message": "no items indexed yet"}), 503)

    # --- users ----------------------------------------------------------------------

    @bp.post("/api/user")
    @doc(body=UserIn, response=Affected, errors=(400, 401, 403, 413, 415), tags=["users"], security=KEY)
    def insert_user():
        body = json_body(UserIn)
        return affected(catalogue.put_users([{"id": body.UserId, "labels": body.Labels, "comment": body.Comment}]))

    @bp.post("/api/users")
    @doc(body=UserList, response=Affected, errors=(400, 401, 403, 413, 415), tags=["users"], security=KEY)
    def insert_users():
        users = json_body(UserList).root
        return affected(catalogue.put_users([{"id": u.UserId, "labels": u.Labels, "comment": u.Comment} for u in users]))

    @bp.get("/api/user/<user_id>")
    @doc(response=UserOut, errors=(401, 403, 404), tags=["users"], security=KEY)
    def get_user(user_id):
        row = catalogue.user(user_id)
        return jsonify(UserId=row["id"], Labels=row["labels"], Comment=row["comment"])

    @bp.delete("/api/user/<user_id>")
    @doc(response=Affected, errors=(401, 403, 404), tags=["users"], security=KEY)
    def delete_user(user_id):
        catalogue.delete_user(user_id)
        return affected(1)

    @bp.get("/api/users")
    @doc(query=Cursor, response=UsersOut, errors=(400, 401, 403), tags=["users"], security=KEY)
    def list_users():
        args = _args(Cursor)
        rows, cursor = catalogue.users(n=args.n, cursor=args.cursor)
        return jsonify(Cursor=cursor, Users=[{"UserId": r["id"], "Labels": r["labels"], "Comment": r["comment"]} for r in rows])

    # --- items ----------------------------------------------------------------------

    @bp.post("/api/item")
    @doc(body=ItemIn, response=Affected, errors=(400, 401, 403, 413, 415), tags=["items"], security=KEY)
    def insert_item():
        body = json_body(ItemIn)
        return affected(service.put_items([_as_item(body)], hidden=body.IsHidden, labels=body.Labels or ()))

    @bp.post("/api/items")
    @doc(body=ItemList, response=Affected, errors=(400, 401, 403, 413, 415), tags=["items"], security=KEY)
    def insert_items():
        bodies = json_body(ItemList).root
        written = 0
        for hidden in (False, True):  # one write per visibility, so hidden items never show even briefly
            group = [b for b in bodies if b.IsHidden is hidden]
            if group:
                written += service.put_items([_as_item(b) for b in group], hidden=hidden)
        return affected(written)

    @bp.get("/api/item/<item_id>")
    @doc(response=ItemOut, errors=(401, 403, 404), tags=["items"], security=KEY)
    def get_item(item_id):
        return jsonify(_item_out(catalogue.item(item_id)))

    @bp.patch("/api/item/<item_id>")
    @doc(body=ItemPatch, response=Affected, errors=(400, 401, 403, 404, 413, 415), tags=["items"], security=KEY)
    def patch_item(item_id):
        body = json_body(ItemPatch)
        changes = {"hidden": body.IsHidden, "categories": body.Categories, "labels": body.Labels, "title": body.Comment}
        changes = {k: v for k, v in changes.items() if v is not None}  # gorse's SDK sends null for "unchanged"
        if body.Timestamp is not None:
            changes["timestamp"] = _time(body.Timestamp, "Timestamp")
        if changes:
            service.patch_item(item_id, **changes)
        else:
            catalogue.item(item_id)  # 404 for an unknown item even when nothing changes
        return affected(1)

    @bp.delete("/api/item/<item_id>")
    @doc(response=Affected, errors=(401, 403, 404), tags=["items"], security=KEY)
    def delete_item(item_id):
        service.delete_item(item_id)
        return affected(1)

    @bp.get("/api/items")
    @doc(query=Cursor, response=ItemsOut, errors=(400, 401, 403, 404), tags=["items"], security=KEY)
    def list_items():
        args = _args(Cursor)
        if args.q:
            found = service.search(args.q, n=min(args.n, 1000))
            rows = [catalogue.item(r.item) for r in found]
            response = jsonify(Cursor="", Items=[_item_out(r) for r in rows])
            response.headers[SOURCE_HEADER] = "search"
            return response
        rows, cursor = catalogue.items(n=args.n, cursor=args.cursor)
        return jsonify(Cursor=cursor, Items=[_item_out(r) for r in rows])

    @bp.get("/api/item/<item_id>/neighbors")
    @doc(query=Page, response=list[Scored], errors=(400, 401, 403, 404), tags=["recommend"], security=KEY)
    def neighbors(item_id):
        args = _args(Page)
        return _scored(service.neighbors(item_id, args.n, offset=args.offset), "similar-items")

    # --- feedback -------------------------------------------------------------------

    def _insert_feedback(overwrite: bool):
        records = [_as_feedback(f) for f in json_body(FeedbackList).root]
        return affected(service.add_feedback(records, overwrite=overwrite))

    @bp.post("/api/feedback")
    @doc(body=FeedbackList, response=Affected, errors=(400, 401, 403, 404, 413, 415), tags=["feedback"], security=KEY)
    def insert_feedback():
        """Insert feedback; feedback that exists (same type, user, item) is overwritten."""
        return _insert_feedback(overwrite=True)

    @bp.put("/api/feedback")
    @doc(body=FeedbackList, response=Affected, errors=(400, 401, 403, 404, 413, 415), tags=["feedback"], security=KEY)
    def put_feedback():
        """Insert feedback; feedback that exists is kept as it was."""
        return _insert_feedback(overwrite=False)

    @bp.get("/api/feedback")
    @doc(query=FeedbackCursor, response=FeedbackPageOut, errors=(400, 401, 403), tags=["feedback"], security=KEY)
    def list_feedback():
        args = _args(FeedbackCursor)
        page, cursor = catalogue.feedback_page(n=args.n, cursor=args.cursor)
        return jsonify(Cursor=cursor, Feedback=[_feedback_out(f) for f in page])

    @bp.get("/api/user/<user_id>/feedback")
    @bp.get("/api/user/<user_id>/feedback/<feedback_type>")
    @doc(response=list[FeedbackOut], errors=(401, 403), tags=["feedback"], security=KEY)
    def user_feedback(user_id, feedback_type=None):
        return jsonify([_feedback_out(f) for f in catalogue.user_feedback(user_id, feedback_type)])

    @bp.delete("/api/feedback/<user_id>/<item_id>")
    @doc(response=Affected, errors=(401, 403), tags=["feedback"], security=KEY)
    def delete_feedback(user_id, item_id):
        return affected(catalogue.delete_feedback(user_id, item_id))

    # --- recommendations ------------------------------------------------------------

    @bp.get("/api/recommend/<user_id>", strict_slashes=False)
    @bp.get("/api/recommend/<user_id>/<category>")
    @doc(query=Page, response=Recommended, errors=(400, 401, 403, 404), tags=["recommend"], security=KEY)
    def recommend(user_id, category=None):
        """Item ids for the user, best first; with ``X-API-Version: 2``, ids with scores (as gorse)."""
        args = _args(Page)
        recs, source = service.recommend(user_id, args.n, offset=args.offset, category=category or None)
        return _scored(recs, source, v2=request.headers.get("X-API-Version") == "2")

    @bp.post("/api/session/recommend")
    @doc(query=Page, body=SessionFeedback, response=list[Scored], errors=(400, 401, 403, 404, 413, 415), tags=["recommend"], security=KEY)
    def session_recommend():
        args = _args(Page)
        records = [_as_feedback(f) for f in json_body(SessionFeedback).root]
        recs = service.session_recommend(records, args.n)
        return _scored(recs, recs[0].source if recs else service.cold_source)

    @bp.post("/api/score")
    @doc(body=ScoreIn, response=list[Scored], errors=(400, 401, 403, 404, 413, 415), tags=["recommend"], security=KEY)
    def score():
        """Scores of the given items for the user, in the order given (troika's addition, for re-ranking an impression):
        calibrated click probabilities when the source is ``model`` or ``fallback``."""
        body = json_body(ScoreIn)
        scored, source = service.score(body.UserId, body.ItemIds)
        return _scored(scored, source)

    @bp.get("/api/popular", strict_slashes=False)
    @bp.get("/api/popular/<category>")
    @doc(query=Page, response=list[Scored], errors=(400, 401, 403), tags=["recommend"], security=KEY)
    def popular(category=None):
        args = _args(Page)
        return _scored(service.popular(args.n, offset=args.offset, category=category), "popular")

    return bp, spec
