"""Items, users, feedback and impressions as stored, in plain Python over SQLAlchemy Core.

The API layer and the training job call it; records come from ``recommender.records``::

    catalogue = Catalogue(engine_for(config.database_url))
    catalogue.put_items([Item("m1", "Heat", "A heist thriller", ("Crime",), timestamp=...)])
    catalogue.add_feedback([Feedback("alice", "m1", "click", 1.0, timestamp=...)])
    catalogue.user_feedback("alice")            # newest first
    page, cursor = catalogue.items(n=100)        # keyset pages, as gorse's cursors

Writes are idempotent on natural keys (item id, user id, (type, user, item)), so an import
or a client retry run twice leaves the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared.errors import DataError, NotFoundError
from shared.storage import insert_new, upsert

from .records import Feedback, Impression, Item
from .tables import feedback, impressions, items, users

MAX_ID = 256
BLANK = " \t\r\n\f\v"  # what makes an id empty; the API's id pattern says the same
MAX_PAGE = 10_000


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _when(timestamp: float | dt.datetime | None) -> dt.datetime | None:
    if timestamp is None or isinstance(timestamp, dt.datetime):
        return timestamp
    return dt.datetime.fromtimestamp(float(timestamp), dt.UTC)


def _check_id(value: str, what: str) -> str:
    if not isinstance(value, str) or not value.strip(BLANK):
        raise DataError(f"{what} is empty")
    if len(value) > MAX_ID or "/" in value:
        raise DataError(f"{what} {value[:40]!r}: at most {MAX_ID} characters and no '/'")
    return value


class Catalogue:
    def __init__(self, engine: Engine, *, clock: Callable[[], dt.datetime] = utcnow):
        self.engine = engine
        self.clock = clock

    # --- items ----------------------------------------------------------------------

    def put_items(self, records: Iterable[Item], *, hidden: bool = False, labels: Sequence[str] = ()) -> int:
        """Insert or replace items by id; returns how many were written."""
        now = self.clock()
        rows = [dict(id=_check_id(r.id, "item id"), title=r.title, text=r.text, categories=list(r.categories),
                     labels=list(labels), hidden=hidden, timestamp=_when(r.timestamp), updated_at=now) for r in records]
        if not rows:
            return 0
        with self.engine.begin() as c:
            return upsert(c, items, rows, key=["id"])

    def item(self, item_id: str) -> dict:
        with self.engine.connect() as c:
            row = c.execute(sa.select(items).where(items.c.id == item_id)).first()
        if row is None:
            raise NotFoundError(f"no item {item_id!r}")
        return dict(row._mapping)

    def items(self, n: int = 100, cursor: str = "", *, include_hidden: bool = True) -> tuple[list[dict], str]:
        """One page of items by id after ``cursor``; the next cursor is "" after the last page."""
        return self._page(items, items.c.id, n, cursor, None if include_hidden else items.c.hidden.is_(False))

    def patch_item(self, item_id: str, **changes) -> dict:
        allowed = {"title", "text", "categories", "labels", "hidden", "timestamp"}
        unknown = set(changes) - allowed
        if unknown:
            raise DataError(f"cannot change {', '.join(sorted(unknown))} of an item; only {', '.join(sorted(allowed))}")
        if "timestamp" in changes:
            changes["timestamp"] = _when(changes["timestamp"])
        with self.engine.begin() as c:
            if c.execute(items.update().where(items.c.id == item_id).values(**changes, updated_at=self.clock())).rowcount == 0:
                raise NotFoundError(f"no item {item_id!r}")
        return self.item(item_id)

    def delete_item(self, item_id: str) -> None:
        """Remove an item and the feedback on it (as gorse does)."""
        with self.engine.begin() as c:
            c.execute(feedback.delete().where(feedback.c.item_id == item_id))
            if c.execute(items.delete().where(items.c.id == item_id)).rowcount == 0:
                raise NotFoundError(f"no item {item_id!r}")

    # --- users ----------------------------------------------------------------------

    def put_users(self, records: Iterable[dict]) -> int:
        """``records``: dicts with ``id`` and optional ``labels`` and ``comment`` (a free-text profile)."""
        now = self.clock()
        rows = [dict(id=_check_id(r.get("id", ""), "user id"), labels=list(r.get("labels") or []),
                     comment=str(r.get("comment") or ""), updated_at=now) for r in records]
        if not rows:
            return 0
        with self.engine.begin() as c:
            return upsert(c, users, rows, key=["id"])

    def user(self, user_id: str) -> dict:
        with self.engine.connect() as c:
            row = c.execute(sa.select(users).where(users.c.id == user_id)).first()
        if row is None:
            raise NotFoundError(f"no user {user_id!r}")
        return dict(row._mapping)

    def users(self, n: int = 100, cursor: str = "") -> tuple[list[dict], str]:
        return self._page(users, users.c.id, n, cursor)

    def delete_user(self, user_id: str) -> None:
        with self.engine.begin() as c:
            c.execute(feedback.delete().where(feedback.c.user_id == user_id))
            if c.execute(users.delete().where(users.c.id == user_id)).rowcount == 0:
                raise NotFoundError(f"no user {user_id!r}")

    # --- feedback and impressions ---------------------------------------------------

    def add_feedback(self, records: Iterable[Feedback], *, overwrite: bool = True) -> int:
        """Store feedback keyed by (type, user, item); ``overwrite`` replaces value and time of a repeat.

        Users seen for the first time are created (with no profile), so no feedback is
        refused for an unknown user; an unknown item is NotFoundError (nothing is stored),
        because nothing could ever be learnt from it.
        """
        now = self.clock()
        rows = [dict(type=_check_id(r.type, "feedback type"), user_id=_check_id(r.user, "user id"),
                     item_id=_check_id(r.item, "item id"), value=float(r.value), timestamp=_when(r.timestamp) or now,
                     comment="") for r in records]
        if not rows:
            return 0
        with self.engine.begin() as c:
            wanted = {r["item_id"] for r in rows}
            known = set(c.execute(sa.select(items.c.id).where(items.c.id.in_(wanted))).scalars())
            if wanted - known:
                missing = sorted(wanted - known)
                raise NotFoundError(f"unknown item(s) {', '.join(missing[:5])}{' ...' if len(missing) > 5 else ''}: insert them first")
            insert_new(c, users, [dict(id=u, labels=[], comment="", updated_at=now) for u in {r["user_id"] for r in rows}], key=["id"])
            key = ["type", "user_id", "item_id"]
            if overwrite:
                return upsert(c, feedback, rows, key=key, update=["value", "timestamp"])
            return len(insert_new(c, feedback, rows, key=key))

    def user_feedback(self, user_id: str, type: str | None = None, *, limit: int = 1000) -> list[Feedback]:
        """A user's feedback, newest first."""
        query = sa.select(feedback).where(feedback.c.user_id == user_id).order_by(feedback.c.timestamp.desc()).limit(limit)
        if type is not None:
            query = query.where(feedback.c.type == type)
        with self.engine.connect() as c:
            return [Feedback(r.user_id, r.item_id, r.type, r.value, r.timestamp.timestamp()) for r in c.execute(query).all()]

    def feedback_page(self, n: int = 100, cursor: str = "") -> tuple[list[Feedback], str]:
        """All feedback in key order, one page after ``cursor`` (an opaque string from the previous page)."""
        if not 1 <= n <= MAX_PAGE:
            raise DataError(f"n = {n}: expected 1 to {MAX_PAGE}")
        try:
            offset = int(cursor or 0)
        except ValueError:
            raise DataError(f"cursor {cursor[:40]!r} is not one this server gave") from None
        query = sa.select(feedback).order_by(feedback.c.type, feedback.c.user_id, feedback.c.item_id).offset(offset).limit(n + 1)
        with self.engine.connect() as c:
            rows = c.execute(query).all()
        page = [Feedback(r.user_id, r.item_id, r.type, r.value, r.timestamp.timestamp()) for r in rows[:n]]
        return page, (str(offset + n) if len(rows) > n else "")

    def delete_feedback(self, user_id: str, item_id: str, type: str | None = None) -> int:
        query = feedback.delete().where(feedback.c.user_id == user_id, feedback.c.item_id == item_id)
        if type is not None:
            query = query.where(feedback.c.type == type)
        with self.engine.begin() as c:
            return c.execute(query).rowcount

    def add_impression(self, record: Impression) -> int:
        clicked = sorted(record.clicked)  # Impression itself refuses clicks on items not shown
        with self.engine.begin() as c:
            return c.execute(impressions.insert().values(
                user_id=_check_id(record.user, "user id"), shown=list(record.shown), clicked=clicked,
                timestamp=_when(record.timestamp) or self.clock()).returning(impressions.c.id)).scalar_one()

    def counts(self) -> dict[str, int]:
        with self.engine.connect() as c:
            return {t.name.removeprefix("rec_"): c.execute(sa.select(sa.func.count()).select_from(t)).scalar()
                    for t in (items, users, feedback, impressions)}

    # --- paging ---------------------------------------------------------------------

    def _page(self, table, key, n: int, cursor: str, condition=None) -> tuple[list[dict], str]:
        if not 1 <= n <= MAX_PAGE:
            raise DataError(f"n = {n}: expected 1 to {MAX_PAGE}")
        query = sa.select(table).where(key > cursor).order_by(key).limit(n + 1)
        if condition is not None:
            query = query.where(condition)
        with self.engine.connect() as c:
            rows = [dict(r._mapping) for r in c.execute(query).all()]
        more = len(rows) > n
        rows = rows[:n]
        return rows, (rows[-1][key.name] if more else "")
