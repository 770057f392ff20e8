from datetime import UTC, datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finance_monitor.detect.spikes import (
    AllOf,
    BinomialShareDetector,
    Bucket,
    CountDetector,
    EwmaShareDetector,
    NegativeVolumeDetector,
    ScoredItem,
    TopicSeries,
    bucket_start,
    bucketise,
    evaluate,
    evidence,
)

DAY = timedelta(days=1)
T0 = datetime(2019, 1, 1, tzinfo=UTC)
DETECTORS = [BinomialShareDetector(), CountDetector(), EwmaShareDetector(), NegativeVolumeDetector()]


def steady(days=28, total=100, negative=10):
    return [Bucket(T0 + i * DAY, total, negative) for i in range(days)]


def noisy(seed, days, rate=100, share=0.1):
    rng = np.random.default_rng(seed)
    totals = rng.poisson(rate, days)
    return [Bucket(T0 + i * DAY, int(n), int(rng.binomial(n, share))) for i, n in enumerate(totals)]


def test_buckets_align_to_utc_midnight_and_hours():
    moment = datetime(2019, 5, 6, 23, 59, tzinfo=timezone(timedelta(hours=-4)))  # 03:59 UTC next day
    assert bucket_start(moment, DAY) == datetime(2019, 5, 7, tzinfo=UTC)
    assert bucket_start(moment, timedelta(hours=1)) == datetime(2019, 5, 7, 3, tzinfo=UTC)


def test_bucketise_is_dense_per_topic_and_ranks_negative_evidence():
    items = [
        ScoredItem("a", "oil", T0 + timedelta(hours=1), True, 0.7),
        ScoredItem("b", "oil", T0 + timedelta(hours=2), True, 0.9),
        ScoredItem("c", "oil", T0 + timedelta(hours=3), False, 0.1),
        ScoredItem("d", "oil", T0 + 2 * DAY, True, 0.8),
        ScoredItem("e", "banks", T0 + DAY, False, 0.0),
        ScoredItem("f", "oil", T0 + timedelta(hours=4), True, 0.95, time_precision="day"),
        ScoredItem("g", "oil", T0 + timedelta(hours=4), True, 0.99, time_precision="month"),
    ]
    series = bucketise(items, DAY, top_k=2)
    oil = series["oil"]
    assert [b.start for b in oil.buckets] == [T0, T0 + DAY, T0 + 2 * DAY]
    assert [(b.total, b.negative) for b in oil.buckets] == [(4, 3), (0, 0), (1, 1)]
    assert oil.buckets[0].top_negative == ("f", "b")
    assert oil.too_coarse == 1  # the month-precision item
    assert [b.total for b in series["banks"].buckets] == [0, 1, 0]
    # The news volume counts each article once, whatever its topics: a (d), e, f (a, b, c, f on day 0).
    assert [b.volume for b in oil.buckets] == [4, 1, 1] == [b.volume for b in series["banks"].buckets]
    hourly = bucketise(items, timedelta(hours=1))
    assert hourly["oil"].too_coarse == 2  # day- and month-precision items do not fit an hour


def test_bucketise_respects_an_explicit_range():
    items = [ScoredItem(str(i), "t", T0 + i * DAY, False) for i in range(10)]
    series = bucketise(items, DAY, start=T0 + 2 * DAY, end=T0 + 5 * DAY)["t"]
    assert [b.start for b in series.buckets] == [T0 + 2 * DAY, T0 + 3 * DAY, T0 + 4 * DAY]
    assert sum(b.total for b in series.buckets) == 3


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: d.name)
def test_a_clear_negative_surge_fires(detector):
    detection = detector.test(steady(), Bucket(T0 + 28 * DAY, 100, 45))
    assert detection.fired and detection.severity == "critical" and detection.p_value < 1e-6
    assert detection.baseline


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: d.name)
def test_an_ordinary_day_does_not_fire(detector):
    detection = detector.test(steady(), Bucket(T0 + 28 * DAY, 100, 13))
    assert not detection.fired and detection.reason


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: d.name)
def test_small_counts_never_fire_however_extreme_the_share(detector):
    quiet = steady(total=3, negative=0)
    detection = detector.test(quiet, Bucket(T0 + 28 * DAY, 4, 4))
    assert not detection.fired
    assert "needs" in detection.reason


@pytest.mark.parametrize("detector", DETECTORS, ids=lambda d: d.name)
def test_too_short_a_baseline_does_not_fire(detector):
    detection = detector.test(steady(days=3), Bucket(T0 + 3 * DAY, 100, 60))
    assert not detection.fired and "baseline" in detection.reason


@pytest.mark.parametrize("detector_type", [BinomialShareDetector, CountDetector, EwmaShareDetector], ids=lambda t: t.name)
def test_stationary_noise_rarely_fires_at_the_default_sensitivity(detector_type):
    series = TopicSeries("t", DAY, noisy(seed=7, days=400))
    fired = sum(d.fired for _, d in evaluate(series, detector_type()))
    # alpha = 1e-3 over ~400 windows: about 0.4 expected by chance.
    assert fired <= 2


@pytest.mark.parametrize("detector_type", [BinomialShareDetector, CountDetector, EwmaShareDetector], ids=lambda t: t.name)
def test_higher_sensitivity_never_fires_less(detector_type):
    buckets = noisy(seed=3, days=200, share=0.1)
    buckets[150] = Bucket(buckets[150].start, 100, 19)  # a moderate bump
    series = TopicSeries("t", DAY, buckets)
    counts = [sum(d.fired for _, d in evaluate(series, detector_type(alpha=a, critical_alpha=min(a, 1e-6)))) for a in (1e-5, 1e-3, 1e-1)]
    assert counts == sorted(counts) and counts[-1] > counts[0]


def test_the_share_test_ignores_a_pure_volume_surge_and_the_count_test_does_not():
    busy = Bucket(T0 + 28 * DAY, 400, 40)  # four times the news, same 10% negative
    assert not BinomialShareDetector().test(steady(), busy).fired
    assert CountDetector().test(steady(), busy).fired
    assert not AllOf((BinomialShareDetector(), CountDetector())).test(steady(), busy).fired


def test_an_overdispersed_baseline_needs_more_to_fire_than_poisson():
    swings = [Bucket(T0 + i * DAY, 100, 0 if i % 2 else 20) for i in range(28)]
    current = Bucket(T0 + 28 * DAY, 100, 25)
    assert CountDetector(overdispersed=False).test(swings, current).fired
    negbin = CountDetector(overdispersed=True).test(swings, current)
    assert not negbin.fired and negbin.baseline["model"] == "negative_binomial"


def test_all_of_reports_each_member_and_the_weakest_p_value():
    detectors = (BinomialShareDetector(), CountDetector())
    combined = AllOf(detectors)
    current = Bucket(T0 + 28 * DAY, 100, 45)
    detection = combined.test(steady(), current)
    assert combined.name == "binomial_share+count" and detection.fired
    assert detection.p_value == max(d.test(steady(), current).p_value for d in detectors)
    assert set(detection.baseline) == {"binomial_share", "count"}


def test_evaluate_tests_every_bucket_against_the_ones_before_it():
    buckets = steady(days=40)
    buckets[35] = Bucket(buckets[35].start, 100, 50, ("h1", "h2"))
    results = list(evaluate(TopicSeries("oil", DAY, buckets), BinomialShareDetector()))
    assert len(results) == 40
    fired = [(w.start, d.severity) for w, d in results if d.fired]
    assert fired == [(buckets[35].start, "critical")]
    window, detection = results[35]
    ev = evidence(window, detection)
    assert (ev["negative"], ev["total"], ev["top_negative_ids"]) == (50, 100, ["h1", "h2"])
    assert ev["baseline"]["items"] == 28 * 100 and ev["window_end"] == (buckets[35].start + DAY).isoformat()
    assert results[36][1].baseline["negative"] > 28 * 10  # the spike is in the next baseline


@pytest.mark.parametrize(
    "kwargs",
    [dict(alpha=0), dict(alpha=1e-3, critical_alpha=1e-2), dict(min_negative=0), dict(min_ratio=0.5), dict(baseline_buckets=5, min_baseline_buckets=7)],
)
def test_settings_are_validated(kwargs):
    with pytest.raises(ValueError):
        BinomialShareDetector(**kwargs)


def test_ewma_smoothing_is_validated():
    with pytest.raises(ValueError):
        EwmaShareDetector(smoothing=1.5)


def test_a_sustained_rise_fires_over_a_multi_day_window_but_not_day_by_day():
    buckets = steady(days=31)
    for i in (28, 29, 30):
        buckets[i] = Bucket(buckets[i].start, 100, 17, (f"h{i}",), (0.5 + i / 100,))
    series = TopicSeries("t", DAY, buckets)
    daily = [d.fired for _, d in evaluate(series, BinomialShareDetector())]
    assert not any(daily)
    results = list(evaluate(series, BinomialShareDetector(window_buckets=3)))
    assert len(results) == 29  # the first two buckets cannot end a 3-day window
    window, detection = results[-1]
    assert detection.fired
    assert (window.start, window.end) == (buckets[28].start, buckets[30].start + DAY)
    assert (window.bucket.negative, window.bucket.total) == (51, 300)
    assert window.bucket.top_negative == ("h30", "h29", "h28")  # re-ranked across the merged days
    assert detection.baseline["items"] == 28 * 100  # the baseline ends where the window starts


def test_all_of_members_must_agree_on_the_window():
    with pytest.raises(ValueError, match="window_buckets"):
        _ = AllOf((BinomialShareDetector(window_buckets=3), CountDetector())).window_buckets


@pytest.mark.parametrize("detector_type", [BinomialShareDetector, CountDetector, EwmaShareDetector], ids=lambda t: t.name)
def test_multi_day_windows_compare_like_with_like(detector_type):
    # Three ordinary days summed must look ordinary against a baseline of single days.
    series = TopicSeries("t", DAY, noisy(seed=11, days=200))
    assert sum(d.fired for _, d in evaluate(series, detector_type(window_buckets=3))) <= 2



MINUTES = st.integers(min_value=0, max_value=60 * 24 * 20)


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(MINUTES, st.booleans(), st.sampled_from(["a", "b"])), max_size=80), st.sampled_from([timedelta(hours=1), timedelta(hours=6), DAY]))
def test_bucketise_keeps_every_fine_grained_item_exactly_once(rows, size):
    items = [ScoredItem(str(i), topic, T0 + timedelta(minutes=m), neg, 0.5) for i, (m, neg, topic) in enumerate(rows)]
    series = bucketise(items, size)
    for topic in ("a", "b"):
        mine = [it for it in items if it.topic == topic]
        buckets = series[topic].buckets if topic in series else []
        assert sum(b.total for b in buckets) == len(mine)
        assert sum(b.negative for b in buckets) == sum(it.negative for it in mine)
        assert all(b2.start - b1.start == size for b1, b2 in zip(buckets, buckets[1:]))
        for it in mine:
            (holder,) = [b for b in buckets if b.start <= it.published_at < b.start + size]
            assert holder.total >= 1


def topic_day(volume, total, negative, day=0):
    return Bucket(T0 + day * DAY, total, negative, volume=volume)


def test_negative_volume_sees_a_topic_surging_at_its_usual_share():
    # Every day 400 articles; trade news is 10 of them, 3 negative. Then trade news surges to 60, 18 negative:
    # the same 30 % share (the share test stays silent), six times the negative news.
    history = [topic_day(400, 10, 3, d) for d in range(28)]
    surge = topic_day(400, 60, 18, 28)
    assert not BinomialShareDetector().test(history, surge).fired
    fired = NegativeVolumeDetector().test(history, surge)
    assert fired.fired and fired.baseline["articles"] == 400 * 28 and fired.statistic == pytest.approx(6.0, rel=0.05)


def test_negative_volume_expects_less_on_a_thin_news_day_and_needs_a_baseline():
    history = [topic_day(400, 10, 3, d) for d in range(28)]
    # A weekend: 80 articles in all, 3 negative trade items is above its usual 0.6 of them but within chance.
    assert not NegativeVolumeDetector().test(history, topic_day(80, 10, 3, 28)).fired
    # Five negatives out of the usual three, on a normal day: not an effect worth an alert.
    assert not NegativeVolumeDetector().test(history, topic_day(400, 12, 5, 28)).fired
    thin = [topic_day(1, 1, 0, d) for d in range(28)]
    assert "baseline has 28 articles" in NegativeVolumeDetector().test(thin, topic_day(400, 60, 30, 28)).reason
