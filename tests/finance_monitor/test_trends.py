"""Trends: per topic and bucket, volume, negative count and share, mean score; dense and epoch-aligned."""

import datetime as dt

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finance_monitor.detect.trends import trends, window

UTC = dt.UTC
DAY = dt.timedelta(days=1)
HOUR = dt.timedelta(hours=1)
D0 = dt.datetime(2026, 3, 2, tzinfo=UTC)


def at(days=0, hours=0):
    return D0 + dt.timedelta(days=days, hours=hours)


def test_daily_buckets_count_volume_negatives_share_and_mean_score():
    rows = [
        ("banks", at(0, 9), "negative", -0.8), ("banks", at(0, 15), "positive", 0.6), ("banks", at(0, 16), "negative", -0.4),
        ("banks", at(2, 1), "neutral", 0.0),
        ("energy", at(1, 3), "negative", -0.9),
    ]
    out = trends(rows, DAY, start=at(0), end=at(3), topics=["banks", "energy", "tech"])
    assert list(out) == ["banks", "energy", "tech"]
    banks = out["banks"].points
    assert [p.start for p in banks] == [at(0), at(1), at(2)]
    assert [(p.volume, p.negative) for p in banks] == [(3, 2), (0, 0), (1, 0)]
    assert banks[0].negative_share == pytest.approx(2 / 3, abs=1e-4)
    assert banks[0].mean_score == pytest.approx(-0.2)
    assert banks[1].mean_score is None and banks[1].negative_share == 0.0  # a quiet day is a point, not a gap
    assert [p.volume for p in out["energy"].points] == [0, 1, 0]
    assert [p.volume for p in out["tech"].points] == [0, 0, 0]  # configured, no news yet
    assert out["banks"].volume == 4 and out["banks"].negative == 2


def test_rows_outside_the_window_are_left_out():
    rows = [("banks", at(-1), "negative", -1.0), ("banks", at(0), "negative", -1.0), ("banks", at(1), "negative", -1.0)]
    [point] = trends(rows, DAY, start=at(0), end=at(1))["banks"].points
    assert point.volume == 1


def test_hourly_buckets_leave_day_precision_rows_out_and_count_them():
    rows = [("banks", at(0, 12), "negative", -0.5, "day"), ("banks", at(0, 3, ), "negative", -0.5, "minute")]
    trend = trends(rows, HOUR, start=at(0), end=at(1))["banks"]
    assert len(trend.points) == 24
    assert trend.volume == 1 and trend.too_coarse == 1
    assert trend.points[3].volume == 1 and trend.points[12].volume == 0


def test_window_ends_with_the_bucket_holding_until():
    assert window(DAY, 3, at(5, 13)) == (at(3), at(6))
    assert window(HOUR, 2, at(0, 5) + dt.timedelta(minutes=7)) == (at(0, 4), at(0, 6))
    with pytest.raises(ValueError):
        window(DAY, 0, at(0))


def test_bad_arguments_are_refused():
    with pytest.raises(ValueError):
        trends([], dt.timedelta(0), start=at(0), end=at(1))
    with pytest.raises(ValueError):
        trends([], DAY, start=at(1), end=at(1))


rows_strategy = st.lists(
    st.tuples(st.sampled_from(["a", "b"]), st.integers(0, 5 * 24 - 1), st.sampled_from(["negative", "neutral", "positive"]),
              st.floats(-1, 1)),
    max_size=60,
)


@settings(max_examples=60, deadline=None)
@given(rows_strategy)
def test_every_row_in_the_window_is_counted_once(raw):
    rows = [(topic, at(0) + dt.timedelta(hours=h), s, score) for topic, h, s, score in raw]
    out = trends(rows, DAY, start=at(0), end=at(5), topics=["a", "b"])
    for topic in ("a", "b"):
        mine = [r for r in rows if r[0] == topic]
        assert out[topic].volume == len(mine)
        assert out[topic].negative == sum(r[2] == "negative" for r in mine)
        for p in out[topic].points:
            assert 0.0 <= p.negative_share <= 1.0
            assert (p.mean_score is None) == (p.volume == 0)
            if p.mean_score is not None:
                assert -1.0 <= p.mean_score <= 1.0
