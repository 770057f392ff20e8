"""What the monitor keeps: articles (deduplicated), scores, topics, source state, job runs, alerts.

Plain Python over SQLAlchemy Core; jobs and the dashboard call it::

    store = MonitorStore(engine_for(config.database_url))
    result = store.add_articles([normalise(raw, fetched_at=now) for raw in fetched])
    result.new_ids, result.duplicates            # [12, 13], {"guid": 3, "title": 1}
    store.set_sentiment([(12, "negative", -0.82, {...}, "fm-sentiment@3")])
    alert_id = store.save_alert(alert)           # one row per alert episode, updated in place

Ingest is idempotent: GUID and URL keys are unique in the database, so the same feed
twice, or two processes at once, leave the same rows.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

import sqlalchemy as sa
from sqlalchemy.engine import Engine

from shared.storage import insert_new, upsert

from .detect.alert_lifecycle import Alert
from .detect.buckets import ScoredItem
from .ingest.normalise import Article
from .tables import alerts, article_topics, articles, deliveries, job_runs, sentiment_corrections, source_state, state

# Same title within this time of each other: one story syndicated, not two (see ingest.Deduper).
TITLE_WINDOW = dt.timedelta(days=2)
JOB_OUTCOMES = ("ok", "error", "missed")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass
class IngestResult:
    new_ids: list[int] = field(default_factory=list)
    duplicates: Counter = field(default_factory=Counter)  # by the key that matched: guid/url, title

    def summary(self) -> str:
        dupes = sum(self.duplicates.values())
        return f"{len(self.new_ids)} new article(s), {dupes} duplicate(s)"


class MonitorStore:
    def __init__(self, engine: Engine, *, clock: Callable[[], dt.datetime] = utcnow, title_window: dt.timedelta = TITLE_WINDOW):
        self.engine = engine
        self.clock = clock
        self.title_window = title_window

    # --- articles -------------------------------------------------------------------

    def add_articles(self, batch: Iterable[Article]) -> IngestResult:
        """Store the articles not seen before, in one transaction; report the rest as duplicates."""
        result = IngestResult()
        now = self.clock()
        with self.engine.begin() as c:
            for article in batch:
                if self._known_identity(c, article):
                    result.duplicates["guid/url"] += 1
                    continue
                if article.keys.title and self._recent_title(c, article):
                    result.duplicates["title"] += 1
                    continue
                row = dict(source=article.source, title=article.title, text=article.text, raw_text=article.raw_text,
                           url=article.url, guid=article.guid, published_at=article.published_at,
                           time_precision=article.time_precision, tickers=list(article.tickers),
                           guid_key=article.keys.guid, url_key=article.keys.url, title_key=article.keys.title, fetched_at=now)
                inserted = insert_new(c, articles, [row], key=None, returning=["id"])
                if inserted:
                    result.new_ids.append(inserted[0].id)
                else:
                    result.duplicates["guid/url"] += 1
        return result

    def _known_identity(self, c, article: Article) -> bool:
        keys = [(articles.c.guid_key, article.keys.guid), (articles.c.url_key, article.keys.url)]
        conditions = [column == value for column, value in keys if value]
        return bool(conditions) and c.execute(sa.select(articles.c.id).where(sa.or_(*conditions)).limit(1)).first() is not None

    def _recent_title(self, c, article: Article) -> bool:
        window = (article.published_at - self.title_window, article.published_at + self.title_window)
        query = sa.select(articles.c.id).where(articles.c.title_key == article.keys.title,
                                               articles.c.published_at.between(*window)).limit(1)
        return c.execute(query).first() is not None

    def unscored(self, limit: int = 256) -> list[dict]:
        """Articles waiting for a sentiment score (id, title, text, tickers), oldest first."""
        query = (sa.select(articles.c.id, articles.c.title, articles.c.text, articles.c.tickers)
                 .where(articles.c.sentiment.is_(None)).order_by(articles.c.id).limit(limit))
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(query).all()]

    def save_scores(self, scores: Sequence[tuple[int, str, float, dict, str]], topics: Iterable[tuple[int, str, str, float]]) -> None:
        """A scored batch in one transaction: ``set_sentiment``'s tuples and (article id, topic, method, score)
        per topic, so a crash leaves the whole batch unscored, to be done again."""
        topic_rows = [dict(article_id=i, topic=t, method=m, score=float(v)) for i, t, m, v in topics]
        with self.engine.begin() as c:
            if topic_rows:
                upsert(c, article_topics, topic_rows, key=["article_id", "topic"])
            self._set_sentiment(c, scores)

    def set_sentiment(self, scores: Sequence[tuple[int, str, float, dict, str]]) -> None:
        """(article id, label, score, probabilities, model version) per scored article."""
        with self.engine.begin() as c:
            self._set_sentiment(c, scores)

    @staticmethod
    def _set_sentiment(c, scores: Sequence[tuple[int, str, float, dict, str]]) -> None:
        for article_id, label, score, probabilities, model in scores:
            c.execute(articles.update().where(articles.c.id == article_id).values(
                sentiment=label, score=float(score), probabilities=probabilities, model=model))

    def set_topics(self, article_id: int, topics: Iterable[tuple[str, str, float]]) -> None:
        """(topic, method, score) assignments of one article; assigning again updates them."""
        rows = [dict(article_id=article_id, topic=t, method=m, score=float(s)) for t, m, s in topics]
        if rows:
            with self.engine.begin() as c:
                upsert(c, article_topics, rows, key=["article_id", "topic"])

    def articles(self, *, topic: str | None = None, since: dt.datetime | None = None, until: dt.datetime | None = None,
                 sentiment: str | None = None, limit: int = 100) -> list[dict]:
        """Newest first, with their topics; the dashboard's and the alert evidence's view."""
        query = sa.select(articles).order_by(articles.c.published_at.desc(), articles.c.id.desc()).limit(limit)
        if topic is not None:
            query = query.where(articles.c.id.in_(sa.select(article_topics.c.article_id).where(article_topics.c.topic == topic)))
        if since is not None:
            query = query.where(articles.c.published_at >= since)
        if until is not None:
            query = query.where(articles.c.published_at < until)
        if sentiment is not None:
            query = query.where(articles.c.sentiment == sentiment)
        with self.engine.connect() as c:
            rows = [dict(r._mapping) for r in c.execute(query).all()]
            ids = [r["id"] for r in rows]
            topics: dict[int, list[str]] = {}
            if ids:
                for article_id, name in c.execute(sa.select(article_topics.c.article_id, article_topics.c.topic)
                                                  .where(article_topics.c.article_id.in_(ids)).order_by(article_topics.c.topic)):
                    topics.setdefault(article_id, []).append(name)
        for r in rows:
            r["topics"] = topics.get(r["id"], [])
        return rows

    def scored_by_topic(self, since: dt.datetime, until: dt.datetime) -> list[tuple[str, dt.datetime, str, float]]:
        """(topic, published_at, sentiment, score) of every scored article in [since, until): what trends bucket."""
        query = (sa.select(article_topics.c.topic, articles.c.published_at, articles.c.sentiment, articles.c.score)
                 .join(articles, articles.c.id == article_topics.c.article_id)
                 .where(articles.c.sentiment.is_not(None), articles.c.published_at >= since, articles.c.published_at < until)
                 .order_by(articles.c.published_at))
        with self.engine.connect() as c:
            return [tuple(r) for r in c.execute(query).all()]

    def scored_items(self, since: dt.datetime, until: dt.datetime) -> list[ScoredItem]:
        """One item per (scored article, topic) published in ``[since, until)``: what detection's buckets count."""
        query = (sa.select(article_topics.c.topic, articles.c.id, articles.c.published_at, articles.c.time_precision,
                           articles.c.sentiment, articles.c.probabilities)
                 .join(articles, articles.c.id == article_topics.c.article_id)
                 .where(articles.c.sentiment.is_not(None), articles.c.published_at >= since, articles.c.published_at < until))
        with self.engine.connect() as c:
            rows = c.execute(query).all()
        return [ScoredItem(r.id, r.topic, r.published_at, r.sentiment == "negative", float((r.probabilities or {}).get("negative", 0.0)),
                           r.time_precision) for r in rows]

    def titles(self, ids: Iterable[int]) -> dict[int, str]:
        """article id -> title, for the ids still stored (others are left out)."""
        wanted = {i for i in ids if isinstance(i, int)}
        if not wanted:
            return {}
        with self.engine.connect() as c:
            return dict(c.execute(sa.select(articles.c.id, articles.c.title).where(articles.c.id.in_(wanted))).all())

    def count_articles(self) -> int:
        with self.engine.connect() as c:
            return c.execute(sa.select(sa.func.count()).select_from(articles)).scalar()

    # --- sources and jobs -----------------------------------------------------------

    def source_state(self, source: str) -> dict:
        with self.engine.connect() as c:
            row = c.execute(sa.select(source_state).where(source_state.c.source == source)).first()
        return dict(row._mapping) if row else {"source": source}

    def save_source_state(self, source: str, **values) -> None:
        with self.engine.begin() as c:
            upsert(c, source_state, [{"source": source, **values}], key=["source"])

    def record_job_run(self, job_id: str, outcome: str, *, started_at: dt.datetime, finished_at: dt.datetime | None = None,
                       scheduled_at: dt.datetime | None = None, detail: str = "", counts: dict | None = None) -> int:
        if outcome not in JOB_OUTCOMES:
            raise ValueError(f"outcome {outcome!r}: expected one of {', '.join(JOB_OUTCOMES)}")
        with self.engine.begin() as c:
            return c.execute(job_runs.insert().values(
                job_id=job_id, outcome=outcome, started_at=started_at, finished_at=finished_at, scheduled_at=scheduled_at,
                detail=detail[:4000], counts=counts or {}).returning(job_runs.c.id)).scalar_one()

    def job_runs(self, *, job_id: str | None = None, outcome: str | None = None, limit: int = 50) -> list[dict]:
        query = sa.select(job_runs).order_by(job_runs.c.id.desc()).limit(limit)
        if job_id is not None:
            query = query.where(job_runs.c.job_id == job_id)
        if outcome is not None:
            query = query.where(job_runs.c.outcome == outcome)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(query).all()]

    # --- alerts ---------------------------------------------------------------------

    def save_alert(self, alert: Alert) -> int:
        """Insert or update the alert episode (fingerprint + start); returns its id."""
        row = dict(fingerprint=alert.fingerprint, topic=alert.topic, rule=alert.rule, severity=alert.severity,
                   state=alert.state, started_at=alert.started_at, last_fired_at=alert.last_fired_at,
                   resolved_at=alert.resolved_at, windows_fired=alert.windows_fired, suppressed=alert.suppressed,
                   evidence=alert.evidence)
        with self.engine.begin() as c:
            upsert(c, alerts, [row], key=["fingerprint", "started_at"])
            return c.execute(sa.select(alerts.c.id).where(alerts.c.fingerprint == alert.fingerprint,
                                                          alerts.c.started_at == alert.started_at)).scalar_one()

    def alert_id(self, fingerprint: str, started_at: dt.datetime) -> int | None:
        """The id of the stored episode (fingerprint + start), or None when it is not stored yet."""
        with self.engine.connect() as c:
            return c.execute(sa.select(alerts.c.id).where(alerts.c.fingerprint == fingerprint,
                                                          alerts.c.started_at == started_at)).scalar()

    def alerts(self, *, state: str | None = None, topic: str | None = None, limit: int = 100) -> list[dict]:
        query = sa.select(alerts).order_by(alerts.c.last_fired_at.desc(), alerts.c.id.desc()).limit(limit)
        if state is not None:
            query = query.where(alerts.c.state == state)
        if topic is not None:
            query = query.where(alerts.c.topic == topic)
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(query).all()]

    def record_delivery(self, alert_id: int, event: str, channel: str, attempt: int, ok: bool, *,
                        status_code: int | None = None, error: str | None = None) -> None:
        with self.engine.begin() as c:
            c.execute(deliveries.insert().values(alert_id=alert_id, event=event, channel=channel, attempt=attempt, ok=ok,
                                                 status_code=status_code, error=error, created_at=self.clock()))

    def deliveries(self, alert_id: int) -> list[dict]:
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(sa.select(deliveries).where(deliveries.c.alert_id == alert_id)
                                                        .order_by(deliveries.c.id)).all()]

    # --- named state ----------------------------------------------------------------

    def load_state(self, name: str, default=None):
        with self.engine.connect() as c:
            value = c.execute(sa.select(state.c.value).where(state.c.name == name)).scalar()
        return default if value is None else value

    def save_state(self, name: str, value) -> None:
        with self.engine.begin() as c:
            upsert(c, state, [dict(name=name, value=value, updated_at=self.clock())], key=["name"])

    # --- dashboard: lookups and alert actions ---------------------------------------

    def articles_by_id(self, ids: Sequence[int]) -> list[dict]:
        """The articles with these ids, in the order given (ids no longer stored are skipped)."""
        wanted = [i for i in ids if isinstance(i, int) and not isinstance(i, bool)]
        if not wanted:
            return []
        with self.engine.connect() as c:
            found = {r.id: dict(r._mapping) for r in c.execute(sa.select(articles).where(articles.c.id.in_(wanted))).all()}
        return [found[i] for i in dict.fromkeys(wanted) if i in found]

    def alert(self, alert_id: int) -> dict | None:
        with self.engine.connect() as c:
            row = c.execute(sa.select(alerts).where(alerts.c.id == alert_id)).first()
        return dict(row._mapping) if row else None

    def acknowledge_alert(self, alert_id: int, by: str, *, at: dt.datetime | None = None) -> dict | None:
        """Mark the alert seen by ``by``; the alert, or None when there is no such alert.

        Idempotent: a second acknowledgement changes nothing, so the alert keeps who saw it first
        and when (the update only matches a row not acknowledged yet, which also settles a race)."""
        with self.engine.begin() as c:
            c.execute(alerts.update().where(alerts.c.id == alert_id, alerts.c.acknowledged_at.is_(None))
                      .values(acknowledged_at=at or self.clock(), acknowledged_by=by[:100]))
        return self.alert(alert_id)

    def silence_alert(self, alert_id: int, until: dt.datetime | None, by: str) -> dict | None:
        """Hold the alert's notifications until ``until`` (None lifts the silence); None when there is no such alert."""
        return self._update_alert(alert_id, silenced_until=until, silenced_by=by[:100] if until else None)

    def _update_alert(self, alert_id: int, **values) -> dict | None:
        with self.engine.begin() as c:
            if c.execute(alerts.update().where(alerts.c.id == alert_id).values(**values)).rowcount == 0:
                return None
        return self.alert(alert_id)

    def is_silenced(self, alert_id: int, at: dt.datetime | None = None) -> bool:
        """Whether a person silenced this alert's notifications until after ``at`` (default now)."""
        found = self.alert(alert_id)
        return bool(found and found["silenced_until"] and found["silenced_until"] > (at or self.clock()))

    # --- sentiment corrections (the retraining job's labelled data) -------------------

    def correct_sentiment(self, article_id: int, label: str, by: str) -> dict | None:
        """Record an analyst's label for the article; the correction row, or None when there is no such article."""
        with self.engine.begin() as c:
            if c.execute(sa.select(articles.c.id).where(articles.c.id == article_id)).first() is None:
                return None
            new_id = c.execute(sentiment_corrections.insert().values(
                article_id=article_id, label=label, corrected_by=by[:100], created_at=self.clock())).inserted_primary_key[0]
            row = c.execute(sa.select(sentiment_corrections).where(sentiment_corrections.c.id == new_id)).one()
        return dict(row._mapping)

    def corrections(self) -> list[dict]:
        """The newest correction of each corrected article, oldest first, with the article's title and text."""
        query = (sa.select(sentiment_corrections, articles.c.title, articles.c.text)
                 .join(articles, articles.c.id == sentiment_corrections.c.article_id).order_by(sentiment_corrections.c.id))
        with self.engine.connect() as c:
            newest = {r.article_id: dict(r._mapping) for r in c.execute(query).all()}  # a later row replaces an earlier one
        return sorted(newest.values(), key=lambda r: r["id"])

    def unlearned_corrections(self) -> int:
        """How many corrections no promoted model has learned yet."""
        query = sa.select(sa.func.count()).select_from(sentiment_corrections).where(sentiment_corrections.c.learned_at.is_(None))
        with self.engine.connect() as c:
            return c.execute(query).scalar_one()

    def mark_learned(self, up_to_id: int) -> None:
        """Every correction up to ``up_to_id`` (the newest a promoted model saw) is learned."""
        with self.engine.begin() as c:
            c.execute(sentiment_corrections.update().where(sentiment_corrections.c.id <= up_to_id,
                                                            sentiment_corrections.c.learned_at.is_(None))
                      .values(learned_at=self.clock()))

    def trend_rows(self, since: dt.datetime, until: dt.datetime) -> list[tuple[str, dt.datetime, str, float, str]]:
        """``scored_by_topic`` plus each article's time precision, so hourly trends can leave day-dated news out."""
        query = (sa.select(article_topics.c.topic, articles.c.published_at, articles.c.sentiment, articles.c.score,
                           articles.c.time_precision)
                 .join(articles, articles.c.id == article_topics.c.article_id)
                 .where(articles.c.sentiment.is_not(None), articles.c.published_at >= since, articles.c.published_at < until)
                 .order_by(articles.c.published_at))
        with self.engine.connect() as c:
            return [tuple(r) for r in c.execute(query).all()]

    def source_states(self) -> list[dict]:
        """Every source's last fetch outcome, by name."""
        with self.engine.connect() as c:
            return [dict(r._mapping) for r in c.execute(sa.select(source_state).order_by(source_state.c.source)).all()]

    def job_run_counts(self) -> dict[tuple[str, str], int]:
        """(job id, outcome) -> runs recorded: the job counters of /metrics."""
        query = sa.select(job_runs.c.job_id, job_runs.c.outcome, sa.func.count()).group_by(job_runs.c.job_id, job_runs.c.outcome)
        with self.engine.connect() as c:
            return {(job, outcome): n for job, outcome, n in c.execute(query).all()}

    def alert_counts(self) -> dict[tuple[str, str], int]:
        """(topic, state) -> alerts: the alert gauges of /metrics."""
        query = sa.select(alerts.c.topic, alerts.c.state, sa.func.count()).group_by(alerts.c.topic, alerts.c.state)
        with self.engine.connect() as c:
            return {(topic, state_): n for topic, state_, n in c.execute(query).all()}

    def sentiment_counts(self) -> dict[str | None, int]:
        """sentiment label (None: not scored yet) -> articles."""
        query = sa.select(articles.c.sentiment, sa.func.count()).group_by(articles.c.sentiment)
        with self.engine.connect() as c:
            return {label: n for label, n in c.execute(query).all()}
