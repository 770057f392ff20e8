"""The recommender as served: the stored catalogue plus the ranking model in memory, kept in step.

Plain Python; the gorse-compatible API (``recommender.api``) and the demo page call it::

    service = RecommenderService(Catalogue(engine), embedder=Embedder())
    service.rebuild()                                  # index every stored item, learn from all feedback
    service.put_items([Item("m9", "Heat", "A heist thriller")])   # recommendable at once, no clicks needed
    service.add_feedback([Feedback("ann", "m9")])      # moves ann's next recommendations at once
    recs, source = service.recommend("ann", n=10)      # [Recommendation(item, score, source)], "content"
    scored, source = service.score("ann", ["m9", "m2"])   # the given items, in that order (re-ranking)
    service.use_click_model(ClickModel.load(path))     # from now on: ranked by click probability

Two layers. The content model (frozen encoder, a ``VectorIndex`` over every item) finds
candidates: the items nearest the user's clicks plus the popular ones, after the filters
(seen, hidden, deleted, category). When a trained click model is in use, it scores those
candidates (``CANDIDATES`` per request) with calibrated click probabilities and they are
ranked by them; without one, the content model's cosine ranks them.

Every answer says which source produced it: ``model`` (the click model, from the user's clicks),
``fallback`` (the click model without personal evidence: popularity, age, mean feedback),
``content`` (cosine to the user's clicks, no click model loaded), ``profile`` (a free-text
profile and no clicks), ``popular`` (nothing known, no click model), ``similar-items``.
Writes go to the database first; the models are updated after, under a lock, so a request
never sees a half-updated index. Text edits of existing items reach the index at the next
``rebuild``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from shared.embeddings import Embedder
from shared.errors import DataError, NotFoundError

from .baselines import ContentRecommender, PopularRecommender, Recommendation
from .catalogue import Catalogue
from .feedback_types import FeedbackTypes
from .records import Feedback, Item
from .vector_cache import cached_item_vectors

if TYPE_CHECKING:  # the click model pulls in scikit-learn; a content-only server need not load it
    from .click_model import ClickModel

# Every value of the API's X-Troika-Source header, with what it means; the demo page lists these.
SOURCES = {
    "model": "the click model, from the user's positive feedback (calibrated click probabilities)",
    "fallback": "the click model for a user without known positive feedback (popularity, age, mean feedback)",
    "content": "no click model loaded: cosine to the user's positive feedback",
    "profile": "cosine to the user's free-text profile (Comment), for a user without positive feedback",
    "popular": "the most clicked items: nothing known about the user, or GET /api/popular",
    "similar-items": "GET /api/item/<id>/neighbors: the items whose text is nearest",
    "search": "GET /api/items?q=: the items whose text means what the query says",
}

MAX_N = 1000
PAGE = 1000
# Candidates the click model re-ranks per request: the content model's nearest items and as many
# popular ones. More finds more, and costs about 1 ms per hundred on 2 cores.
CANDIDATES = 100


class RecommenderService:
    def __init__(self, catalogue: Catalogue, *, embedder: Embedder | None = None, vector_cache: str | Path | None = None,
                 feedback_types: FeedbackTypes | None = None):
        """``vector_cache``: a folder where ``rebuild`` keeps the item vectors (``vector_cache``
        module), so a restart on the same catalogue skips embedding it again. ``feedback_types``:
        which stored types are positive and which read (gorse's lists; default ``FeedbackTypes()``)."""
        self.catalogue = catalogue
        self.feedback_types = feedback_types or FeedbackTypes()
        self.embedder = embedder
        self.vector_cache = vector_cache
        self._lock = threading.RLock()
        self.model_: ContentRecommender | None = None
        self.popular_: PopularRecommender | None = None
        self.hidden_: set[str] = set()
        self.click_model_: ClickModel | None = None

    # --- loading --------------------------------------------------------------------

    def _stored_items(self) -> tuple[list[Item], set[str]]:
        items, hidden, cursor = [], set(), ""
        while True:
            page, cursor = self.catalogue.items(n=PAGE, cursor=cursor)
            for row in page:
                items.append(_item(row))
                if row["hidden"]:
                    hidden.add(row["id"])
            if not cursor:
                return items, hidden

    def _stored_users(self) -> list[str]:
        users, cursor = [], ""
        while True:
            page, cursor = self.catalogue.users(n=PAGE, cursor=cursor)
            users += [u["id"] for u in page]
            if not cursor:
                return users

    def _stored_feedback(self, users: list[str]) -> list[Feedback]:
        # As the models read it (clicks and views): a stored "star" is a click to them.
        return self.feedback_types.for_models(f for user in users for f in self.catalogue.user_feedback(user, limit=10_000))

    def snapshot(self) -> tuple[list[Item], list[Feedback]]:
        """Every stored item, and the feedback the models learn from (what a retrain fits on):
        positive types as clicks, read types as views, other types left out."""
        items, _ = self._stored_items()
        return items, self._stored_feedback(self._stored_users())

    def rebuild(self, *, show_progress: bool = False) -> dict:
        """Re-index every stored item and relearn from all stored feedback; swap in atomically."""
        items, hidden = self._stored_items()
        users = self._stored_users()
        feedback = self._stored_feedback(users)
        model = popular = None
        if items:
            vectors = None
            if self.vector_cache is not None and self.embedder is not None:
                vectors, _ = cached_item_vectors(items, self.embedder, directory=self.vector_cache, show_progress=show_progress)
            popular = PopularRecommender().fit(items, feedback)
            model = ContentRecommender(self.embedder, fallback=popular).fit(items, feedback, vectors=vectors, show_progress=show_progress)
        with self._lock:
            self.model_, self.popular_, self.hidden_ = model, popular, hidden
        return {"items": len(items), "users": len(users), "feedback": len(feedback)}

    def use_click_model(self, model: ClickModel | None) -> None:
        """Rank with ``model`` from now on (None: back to the content model alone). Its behaviour
        statistics are first recounted on the stored feedback and items it has not seen are
        embedded, outside the lock: requests go on being served meanwhile."""
        if model is not None:
            model.refit_behaviour(*self.snapshot())
        with self._lock:
            self.click_model_ = model

    @property
    def ready(self) -> bool:
        return self.model_ is not None

    # --- writes: database first, then the model ------------------------------------

    def put_items(self, items: Sequence[Item], *, hidden: bool = False, labels: Sequence[str] = ()) -> int:
        written = self.catalogue.put_items(items, hidden=hidden, labels=labels)
        with self._lock:
            if self.model_ is None:
                self.rebuild()
            else:
                self.model_.add_items(items)
            if self.click_model_ is not None:
                self.click_model_.add_items(items)
            for item in items:
                if hidden:
                    self.hidden_.add(item.id)
                else:
                    self.hidden_.discard(item.id)
        return written

    def patch_item(self, item_id: str, **changes) -> dict:
        row = self.catalogue.patch_item(item_id, **changes)
        with self._lock:
            if row["hidden"]:
                self.hidden_.add(item_id)
            else:
                self.hidden_.discard(item_id)
        return row

    def delete_item(self, item_id: str) -> None:
        self.catalogue.delete_item(item_id)
        with self._lock:
            # The index cannot drop a vector; the item is filtered out until the next rebuild.
            self.hidden_.add(item_id)

    def add_feedback(self, records: Sequence[Feedback], *, overwrite: bool = True) -> int:
        written = self.catalogue.add_feedback(records, overwrite=overwrite)  # stored with the client's types
        learnt = self.feedback_types.for_models(records)
        with self._lock:
            if self.model_ is not None:
                self.model_.add_feedback(learnt)
                self.popular_.add_feedback(learnt)  # also the content model's fallback: one object
        return written

    # --- reads ----------------------------------------------------------------------

    def _model(self) -> ContentRecommender:
        if self.model_ is None:
            raise NotFoundError("the catalogue is empty: insert items first")
        return self.model_

    def recommend(self, user: str, n: int = 10, *, offset: int = 0, category: str | None = None) -> tuple[list[Recommendation], str]:
        """Top items for ``user`` after ``offset``, filtered (seen, hidden, deleted, category); and the source."""
        _check_page(n, offset)
        profile = self._profile(user)
        with self._lock:
            recs = self._ranked(user, n + offset, profile=profile, categories=[category] if category else None)
        recs = recs[offset:]
        return recs, (recs[0].source if recs else self.cold_source)

    def _profile(self, user: str) -> str | None:
        """The user's free-text profile, read only when their clicks say nothing (it costs a
        database query, a third of a request's time). An unknown user is a cold-start user, not
        an error (as in gorse)."""
        model = self.model_
        if model is not None and model.histories_.get(user):
            return None
        try:
            return self.catalogue.user(user)["comment"] or None
        except NotFoundError:
            return None

    @property
    def cold_source(self) -> str:
        return "fallback" if self.click_model_ is not None else "popular"

    def _ranked(self, user: str | None, n: int, *, history: Sequence[str] | None = None, times: Sequence[float] | None = None,
                profile: str | None = None, categories: list[str] | None = None) -> list[Recommendation]:
        """The top ``n`` for a user (or an explicit history): candidates from the content model and the
        popular list after the filters, ranked by the click model when one is in use. Under the lock."""
        model = self._model()
        if self.click_model_ is None:
            return model.recommend(user, n, history=history, times=times, profile_text=profile, categories=categories,
                                   hidden=self.hidden_)
        near = model.recommend(user, max(CANDIDATES, n), history=history, times=times, profile_text=profile,
                               categories=categories, hidden=self.hidden_)
        if near and near[0].source == "profile":
            return near[:n]  # no clicks: the profile text is the only personal evidence, and only the content model reads it
        seen = set(model.seen_.get(user, ())) if user is not None else set()
        seen.update(history or ())
        popular = self.popular_.recommend(max(CANDIDATES, n), exclude=seen, categories=categories, hidden=self.hidden_)
        candidates = list(dict.fromkeys([r.item for r in near] + [r.item for r in popular]))
        if not candidates:
            return []
        scores = self._click_scores(candidates, user, history)
        top = np.argsort(-scores.values, kind="stable")[:n]
        return [Recommendation(candidates[k], float(scores.values[k]), scores.source) for k in top]

    def _click_scores(self, candidates: list[str], user: str | None, history: Sequence[str] | None):
        """The click model's probabilities for ``candidates`` (under the lock); items it has not
        embedded yet (inserted while it was loading) are embedded first."""
        click = self.click_model_
        missing = [c for c in candidates if c not in click.rows_]
        if missing:
            click.add_items([self.model_.items_[c] for c in missing])
        if history is None:
            history = [r.item for r in self.model_.histories_.get(user, [])] if user is not None else []
        return click.score(candidates, history=history, user=user)

    def score(self, user: str, items: Sequence[str]) -> tuple[list[Recommendation], str]:
        """Each of ``items`` scored for ``user`` (to re-rank an impression), in the order given; and the source.

        With a click model (``model``, ``fallback``): calibrated click probabilities. Without one:
        ``content``, the cosine of the user's vector (their clicks) and the item's; ``profile``, the
        same with the free-text profile's vector; ``popular``, the item's click count (nothing known
        about the user); those compare within one answer only.
        """
        if not 1 <= len(items) <= MAX_N:
            raise DataError(f"{len(items)} items: expected 1 to {MAX_N}")
        profile = self._profile(user)
        with self._lock:
            model = self._model()
            gone = [i for i in items if i not in model.items_ or (i in self.hidden_ and not self._stored(i))]
            if gone:
                raise NotFoundError(f"unknown item(s): {', '.join(map(str, gone[:5]))}")
            if self.click_model_ is not None:
                scores = self._click_scores(list(items), user, None)
            else:
                scores = model.score(list(items), user=user, profile_text=profile)
        return [Recommendation(i, float(v), scores.source) for i, v in zip(items, scores.values)], scores.source

    def _stored(self, item_id: str) -> bool:
        try:
            self.catalogue.item(item_id)
        except NotFoundError:
            return False
        return True

    def session_recommend(self, feedback: Sequence[Feedback], n: int = 10) -> list[Recommendation]:
        """For an anonymous session, its feedback read as a stored user's is: the positive types
        are the history, the read types are seen (never recommended), other types are ignored."""
        _check_page(n, 0)
        learnt = self.feedback_types.for_models(feedback)
        clicks = sorted((f for f in learnt if f.is_click), key=lambda f: f.timestamp or 0)
        history = [f.item for f in clicks]
        times = [f.timestamp for f in clicks] if all(f.timestamp is not None for f in clicks) else None
        seen = {f.item for f in learnt if not f.is_click} - set(history)
        with self._lock:
            # Asked for as many more as were seen, since those are dropped after ranking.
            recs = self._ranked(None, n + len(seen), history=history, times=times)
        return [r for r in recs if r.item not in seen][:n]

    def neighbors(self, item_id: str, n: int = 10, *, offset: int = 0) -> list[Recommendation]:
        """Items whose text is closest to this one's."""
        _check_page(n, offset)
        with self._lock:
            model = self._model()
            if item_id not in model.items_:
                raise NotFoundError(f"no item {item_id!r}")
            recs = model.recommend(None, n + offset, history=[item_id], hidden=self.hidden_)
        return [Recommendation(r.item, r.score, "similar-items") for r in recs[offset:]]

    def popular(self, n: int = 10, *, offset: int = 0, category: str | None = None) -> list[Recommendation]:
        _check_page(n, offset)
        with self._lock:
            if self.popular_ is None:
                return []
            return self.popular_.recommend(n + offset, categories=[category] if category else None, hidden=self.hidden_)[offset:]

    def search(self, query: str, n: int = 10) -> list[Recommendation]:
        """Items whose text means what ``query`` says (semantic search over the same index)."""
        _check_page(n, 0)
        with self._lock:
            model = self._model()
            vector = model._embedder.encode([query])[0]
            hits = model.index_.search(np.asarray(vector), k=min(n + len(self.hidden_), len(model.index_)))[0]
        return [Recommendation(h.id, h.score, "search") for h in hits if h.id not in self.hidden_][:n]


def _check_page(n: int, offset: int) -> None:
    if not 1 <= n <= MAX_N:
        raise DataError(f"n = {n}: expected 1 to {MAX_N}")
    if not 0 <= offset <= 100_000:
        raise DataError(f"offset = {offset}: expected 0 or more")


def _item(row: dict) -> Item:
    stamp = row["timestamp"].timestamp() if row["timestamp"] is not None else None
    return Item(row["id"], row["title"], row["text"], tuple(row["categories"]), stamp)
