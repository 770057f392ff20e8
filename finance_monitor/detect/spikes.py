"""Negative-news spike detection: each window of a topic's buckets tested against a rolling baseline.

Plain data in, plain data out, so the detection job, the replay command and the bench
all call the same code::

    series = bucketise(items, size=timedelta(days=1))           # {topic: TopicSeries}
    detector = BinomialShareDetector(alpha=1e-3)
    for topic, s in series.items():
        for window, detection in evaluate(s, detector):
            ...                                                  # feed alert_lifecycle.AlertBook

Detectors, each with a minimum-count guard so that one negative headline on a quiet
day cannot raise an alert:

- :class:`BinomialShareDetector` — is the negative *share* of this window above the
  baseline share? Blind to volume, so a busy news day is not by itself an alarm.
- :class:`CountDetector` — are there more negative *items* than the baseline rate
  predicts? Poisson, or negative binomial when the baseline is over-dispersed (news
  volume is: weekdays vs weekends, earnings seasons).
- :class:`NegativeVolumeDetector` — is this topic's negative news a larger part of *all*
  the news than in the baseline? Sees a topic's bad news surging even when the topic's
  own negative share stays put (trade-war news: far more of it, as negative as ever),
  and a thin news day (a weekend, a source down) lowers what it expects instead of
  looking like a drop.
- :class:`EwmaShareDetector` — z-score of the negative share against an exponentially
  weighted mean and variance (a control chart), adapting to slow drifts.
- :class:`AllOf` — fires only when every member fires (e.g. share *and* count).

Every detector reports a one-sided p-value (EWMA: the normal tail of its z) and a
severity: ``"critical"`` below ``critical_alpha``, ``"warning"`` below ``alpha``.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from scipy import stats

# Re-exported: callers build series and detect in one import.
from .buckets import Bucket, ScoredItem, TopicSeries, bucket_start, bucketise, merge_buckets  # noqa: F401 - re-exported: callers take buckets with the detectors

SEVERITIES = ("warning", "critical")


# ---- detectors -------------------------------------------------------------------------


@dataclass(frozen=True)
class Detection:
    fired: bool
    p_value: float
    severity: str | None = None  # set when fired
    statistic: float = 0.0  # observed/expected ratio, or z for EWMA
    baseline: dict = field(default_factory=dict)
    reason: str = ""  # why it did not fire, when it did not


@dataclass(frozen=True)
class _Detector:
    """Common knobs. ``alpha`` is the sensitivity; the ``min_*`` guards keep small counts
    from alerting however improbable they look; ``min_ratio`` asks for an effect, not just
    significance (with a large baseline, tiny differences are 'significant')."""

    alpha: float = 1e-3
    critical_alpha: float = 1e-6
    min_negative: int = 5
    min_total: int = 10
    min_ratio: float = 1.5
    baseline_buckets: int = 28
    min_baseline_buckets: int = 7
    # Buckets merged into the current window: 1 tests each bucket alone; 3 daily buckets
    # catch a sustained rise that no single day makes significant (a slow sell-off).
    window_buckets: int = 1

    name = "detector"

    def __post_init__(self) -> None:
        if not 0 < self.critical_alpha <= self.alpha < 1:
            raise ValueError("need 0 < critical_alpha <= alpha < 1")
        if self.min_negative < 1 or self.min_total < 1 or self.min_ratio < 1:
            raise ValueError("min_negative and min_total must be at least 1, min_ratio at least 1")
        if not 1 <= self.min_baseline_buckets <= self.baseline_buckets:
            raise ValueError("need 1 <= min_baseline_buckets <= baseline_buckets")
        if self.window_buckets < 1:
            raise ValueError("window_buckets must be at least 1")

    def _guard(self, history: Sequence[Bucket], current: Bucket) -> str:
        if len(history) < self.min_baseline_buckets:
            return f"baseline has {len(history)} buckets, needs {self.min_baseline_buckets}"
        if current.negative < self.min_negative:
            return f"{current.negative} negative items, needs {self.min_negative}"
        if current.total < self.min_total:
            return f"{current.total} items, needs {self.min_total}"
        return ""

    def _verdict(self, p_value: float, ratio: float, statistic: float, baseline: dict) -> Detection:
        p_value = float(min(1.0, max(0.0, p_value)))
        if ratio < self.min_ratio:
            return Detection(False, p_value, None, statistic, baseline, f"ratio {ratio:.2f} below {self.min_ratio}")
        if p_value > self.alpha:
            return Detection(False, p_value, None, statistic, baseline, f"p {p_value:.2g} above {self.alpha:g}")
        severity = "critical" if p_value <= self.critical_alpha else "warning"
        return Detection(True, p_value, severity, statistic, baseline)

    def test(self, history: Sequence[Bucket], current: Bucket) -> Detection:
        raise NotImplementedError


@dataclass(frozen=True)
class BinomialShareDetector(_Detector):
    """P(X >= k) for X ~ Binomial(n, p0): k negatives among n items this window, p0 the
    baseline's pooled negative share (with a +1/+2 prior so an all-clear baseline does not
    make any single negative item infinitely surprising)."""

    min_baseline_total: int = 50

    name = "binomial_share"
    unit = "items"  # what the denominator counts

    @staticmethod
    def _denominator(bucket: Bucket) -> int:
        return bucket.total

    def test(self, history: Sequence[Bucket], current: Bucket) -> Detection:
        history = history[-self.baseline_buckets:]
        n0 = sum(self._denominator(b) for b in history)
        k0 = sum(b.negative for b in history)
        p0 = (k0 + 1) / (n0 + 2)
        baseline = {"share": round(p0, 6), self.unit: n0, "negative": k0, "buckets": len(history)}
        reason = self._guard(history, current) or (f"baseline has {n0} {self.unit}, needs {self.min_baseline_total}" if n0 < self.min_baseline_total else "")
        if reason:
            return Detection(False, 1.0, baseline=baseline, reason=reason)
        n = self._denominator(current)
        p_value = stats.binom.sf(current.negative - 1, n, p0)
        ratio = current.negative / n / p0
        return self._verdict(p_value, ratio, ratio, baseline)


@dataclass(frozen=True)
class NegativeVolumeDetector(BinomialShareDetector):
    """The share test with every article of the window (``Bucket.volume``, all topics) as the
    denominator: k the topic's negative items, n all the news, p0 the baseline's negative items
    per article. For the topic holding every article it is the share test."""

    name = "negative_volume"
    unit = "articles"

    @staticmethod
    def _denominator(bucket: Bucket) -> int:
        # A bucket made without the news volume (0) counts its own items: then this is the share test.
        return max(bucket.volume, bucket.total)


@dataclass(frozen=True)
class CountDetector(_Detector):
    """P(X >= k) for the negative count X of the window under the baseline's rate: Poisson,
    or negative binomial (method of moments) when the baseline varies more than Poisson
    allows and ``overdispersed`` is on."""

    overdispersed: bool = True
    min_rate: float = 0.5  # floor on the baseline mean: a silent baseline is not a zero rate

    name = "count"

    def test(self, history: Sequence[Bucket], current: Bucket) -> Detection:
        history = history[-self.baseline_buckets:]
        counts = [b.negative for b in history]
        mean = sum(counts) / len(counts) if counts else 0.0
        var = sum((c - mean) ** 2 for c in counts) / (len(counts) - 1) if len(counts) > 1 else 0.0
        # The window may span several buckets: expect the sum of that many baseline buckets
        # (means and variances add; a sum of negative binomials keeps p and adds r).
        rate = max(mean, self.min_rate) * self.window_buckets
        var *= self.window_buckets
        baseline = {"rate": round(rate, 4), "variance": round(var, 4), "buckets": len(history)}
        reason = self._guard(history, current)
        if reason:
            return Detection(False, 1.0, baseline=baseline, reason=reason)
        k = current.negative
        if self.overdispersed and var > rate:
            r = rate * rate / (var - rate)
            p_value = stats.nbinom.sf(k - 1, r, r / (r + rate))
            baseline["model"] = "negative_binomial"
        else:
            p_value = stats.poisson.sf(k - 1, rate)
            baseline["model"] = "poisson"
        ratio = k / rate
        return self._verdict(p_value, ratio, ratio, baseline)


@dataclass(frozen=True)
class EwmaShareDetector(_Detector):
    """z = (share - m) / s with m, s an exponentially weighted mean and standard deviation of
    the baseline buckets' negative shares (empty buckets skipped). s is floored at the
    binomial noise of the current bucket, so a 3-item window cannot yield a huge z; the
    p-value is the normal tail of z."""

    smoothing: float = 0.1  # weight of the newest bucket in the running mean

    name = "ewma_share"

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 < self.smoothing < 1:
            raise ValueError("need 0 < smoothing < 1")

    def test(self, history: Sequence[Bucket], current: Bucket) -> Detection:
        history = [b for b in history[-self.baseline_buckets:] if b.total]
        mean = var = None
        for bucket in history:
            if mean is None:
                mean, var = bucket.share, 0.0
                continue
            delta = bucket.share - mean
            mean += self.smoothing * delta
            var = (1 - self.smoothing) * (var + self.smoothing * delta * delta)
        baseline = {"share": round(mean or 0.0, 6), "sd": round(math.sqrt(var or 0.0), 6), "buckets": len(history)}
        reason = self._guard(history, current)
        if reason:
            return Detection(False, 1.0, baseline=baseline, reason=reason)
        p = min(max(mean, 1e-3), 1 - 1e-3)
        sd = math.sqrt(max(var, p * (1 - p) / current.total))
        z = (current.share - mean) / sd
        # alpha is the normal tail of the z threshold (1e-3 ~ z 3.09), so one knob means the same everywhere.
        return self._verdict(float(stats.norm.sf(z)), current.share / p, z, baseline)


@dataclass(frozen=True)
class AllOf:
    """Fires when every member fires; the weakest member sets p-value and severity."""

    members: tuple
    name: str = ""

    def __post_init__(self) -> None:
        if not self.members:
            raise ValueError("AllOf needs at least one detector")
        if not self.name:
            object.__setattr__(self, "name", "+".join(m.name for m in self.members))

    @property
    def min_baseline_buckets(self) -> int:
        return max(m.min_baseline_buckets for m in self.members)

    @property
    def baseline_buckets(self) -> int:
        return max(m.baseline_buckets for m in self.members)

    @property
    def window_buckets(self) -> int:
        windows = {m.window_buckets for m in self.members}
        if len(windows) != 1:
            raise ValueError("AllOf members must share window_buckets")
        return windows.pop()

    def test(self, history: Sequence[Bucket], current: Bucket) -> Detection:
        results = [m.test(history, current) for m in self.members]
        weakest = max(results, key=lambda d: d.p_value)
        baseline = {m.name: d.baseline for m, d in zip(self.members, results)}
        if not all(d.fired for d in results):
            reasons = "; ".join(f"{m.name}: {d.reason}" for m, d in zip(self.members, results) if not d.fired)
            return Detection(False, weakest.p_value, None, weakest.statistic, baseline, reasons)
        severity = "critical" if all(d.severity == "critical" for d in results) else "warning"
        return Detection(True, weakest.p_value, severity, weakest.statistic, baseline)


# ---- running a detector over a series --------------------------------------------------


@dataclass(frozen=True)
class Window:
    topic: str
    start: datetime
    end: datetime
    bucket: Bucket


def evaluate(series: TopicSeries, detector, since: datetime | None = None) -> Iterator[tuple[Window, Detection]]:
    """Test the window ending with each bucket of ``series`` (from ``since``) against the
    ``baseline_buckets`` before that window."""
    buckets = series.buckets
    depth, width = detector.baseline_buckets, detector.window_buckets
    for i in range(width - 1, len(buckets)):
        end = buckets[i].start + series.size
        if since is not None and end <= since:
            continue
        first = i - width + 1
        current = buckets[i] if width == 1 else merge_buckets(buckets[first:i + 1])
        history = buckets[max(0, first - depth):first]
        yield Window(series.topic, current.start, end, current), detector.test(history, current)


def evidence(window: Window, detection: Detection) -> dict:
    """What an alert carries so a reader can judge it without re-running anything."""
    bucket = window.bucket
    return {
        "window_start": window.start.isoformat(),
        "window_end": window.end.isoformat(),
        "negative": bucket.negative,
        "total": bucket.total,
        "share": round(bucket.share, 4),
        "baseline": detection.baseline,
        "p_value": detection.p_value,
        "statistic": round(detection.statistic, 4),
        "top_negative_ids": list(bucket.top_negative),
    }
