"""Between gorse's JSON and troika's records: times as RFC 3339, items and feedback both ways, scored lists."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping

from flask import jsonify

from shared.web import field_error

from ..baselines import Recommendation
from ..records import Feedback, Item
from .schemas import FeedbackIn, ItemIn

SOURCE_HEADER = "X-Troika-Source"


def parse_time(value: str | None, field: str) -> float | None:
    """``value`` (RFC 3339) as a Unix time; a 400 naming ``field`` when it is not one."""
    if not value:
        return None
    try:
        moment = dt.datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        field_error(field, f"{value[:40]!r} is not an RFC 3339 time such as 2026-01-31T12:00:00Z")
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=dt.UTC)  # gorse reads zone-less times as UTC too
    return moment.timestamp()


def rfc3339(value: dt.datetime | float | None) -> str:
    if value is None:
        return ""
    if not isinstance(value, dt.datetime):
        value = dt.datetime.fromtimestamp(value, dt.UTC)
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


def item_out(row: Mapping) -> dict:
    return {"ItemId": row["id"], "IsHidden": row["hidden"], "Categories": row["categories"], "Timestamp": rfc3339(row["timestamp"]),
            "Labels": row["labels"], "Comment": row["title"]}


def feedback_out(record: Feedback) -> dict:
    return {"FeedbackType": record.type, "UserId": record.user, "ItemId": record.item, "Value": record.value,
            "Timestamp": rfc3339(record.timestamp)}


def as_item(body: ItemIn) -> Item:
    # gorse's text lives in Comment; Labels add keywords. The model reads both.
    return Item(body.ItemId, body.Comment, " ".join(body.Labels or []), tuple(body.Categories or ()), parse_time(body.Timestamp, "Timestamp"))


def as_feedback(body: FeedbackIn) -> Feedback:
    return Feedback(body.UserId, body.ItemId, body.FeedbackType, body.Value, parse_time(body.Timestamp, "Timestamp"))


def affected(n: int):
    return jsonify(RowAffected=n)


def scored(recs: Iterable[Recommendation], source: str, *, v2: bool = True):
    """Ids with scores (or, with ``v2=False``, ids alone), the source in ``X-Troika-Source``."""
    body = [{"Id": r.item, "Score": r.score} for r in recs] if v2 else [r.item for r in recs]
    response = jsonify(body)
    response.headers[SOURCE_HEADER] = source
    return response
