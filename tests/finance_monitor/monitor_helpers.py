"""Helpers for the monitor's tests: the demo sentiment model trained once per process, a keyword scorer,
monitors on a test database with a clock the test moves."""

from __future__ import annotations

import atexit
import datetime as dt
import functools
import shutil
import tempfile
from pathlib import Path

from finance_monitor.models import demo_model_dir, ensure_demo_model
from finance_monitor.pipeline import Monitor
from finance_monitor.scoring.sentiment import Sentiment
from finance_monitor.settings import load_settings
from finance_monitor.store import MonitorStore
from shared.config import Config
from shared.storage import engine_for

UTC = dt.UTC
NEGATIVE_WORDS = ("plunge", "slump", "crash", "losses", "fraud", "downgrade")


@functools.cache
def trained_demo_model() -> Path:
    """The demo model (fast mode, demo/sentiment.csv), trained once per test process into a temporary var_dir
    (removed when the process ends)."""
    folder = Path(tempfile.mkdtemp(prefix="fm-demo-model-"))
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return ensure_demo_model(folder, progress=False)


def with_demo_model(var_dir: Path) -> Path:
    """Put the once-trained demo model where a monitor with this var_dir looks for it (no training in the test)."""
    target = demo_model_dir(var_dir)
    if not target.exists():
        target.parent.mkdir(parents=True, exist_ok=True)
        target.symlink_to(trained_demo_model(), target_is_directory=True)
    return target


class KeywordScorer:
    """A stand-in sentiment model: negative when the headline has a bad word, else neutral. Instant and predictable."""

    def score_articles(self, headlines, bodies):
        out = []
        for headline in headlines:
            bad = any(w in (headline or "").lower() for w in NEGATIVE_WORDS)
            p = {"negative": 0.9, "neutral": 0.1, "positive": 0.0} if bad else {"negative": 0.05, "neutral": 0.9, "positive": 0.05}
            out.append(Sentiment("negative" if bad else "neutral", p["positive"] - p["negative"], p))
        return out


class Clock:
    def __init__(self, now: dt.datetime):
        self.now = now

    def __call__(self) -> dt.datetime:
        return self.now


def make_monitor(db_url: str, section: dict, *, clock=None, scorer=None, var_dir: Path | None = None) -> Monitor:
    """A monitor on ``db_url`` with the ``[finance_monitor]`` table ``section``; migrated, scored by ``scorer``."""
    settings = load_settings(section)
    clock = clock or (lambda: dt.datetime.now(UTC))
    monitor = Monitor(settings, MonitorStore(engine_for(db_url), clock=clock), sentiment=scorer or KeywordScorer(),
                      model_version="keywords", config=section, clock=clock)
    if var_dir is not None:
        monitor.suite = Config(var_dir=var_dir, database_url=db_url)
    monitor.prepare(progress=False)
    return monitor


@functools.cache
def demo_scorer():
    """The demo model, loaded once per test process."""
    from finance_monitor.scoring.sentiment import SentimentModel

    return SentimentModel.load(trained_demo_model())
