from datetime import UTC, datetime, timedelta

from finance_monitor.detect.alert_lifecycle import AlertBook, AlertPolicy
from finance_monitor.detect.buckets import ScoredItem
from finance_monitor.detect.detection import Rule, detect_windows, rules_key
from finance_monitor.settings import default_rules

DAY = timedelta(days=1)
T0 = datetime(2019, 1, 1, tzinfo=UTC)


def news(days: int, trade_negatives) -> list[ScoredItem]:
    """200 articles a day: 180 on other things, 20 on trade of which ``trade_negatives(day)`` are negative."""
    items = []
    for day in range(days):
        at = T0 + day * DAY + timedelta(hours=12)
        items += [ScoredItem(f"o{day}-{i}", "other", at, False) for i in range(180)]
        items += [ScoredItem(f"t{day}-{i}", "trade", at, i < trade_negatives(day), 0.9 if i < trade_negatives(day) else 0.1) for i in range(20)]
    return items


def replay(items, days):
    alerts = []
    detect_windows(items, ["trade", "other"], DAY, default_rules(DAY), AlertBook(AlertPolicy()), start=T0, end=T0 + days * DAY, episodes=alerts)
    return alerts


def test_a_week_long_slide_only_the_weekly_rule_sees_and_a_burst_that_both_see_are_separate_alerts():
    # Two negative trade stories a day for 60 days, then five a day for a week: no single day is significant.
    slide = replay(news(67, lambda day: 5 if day >= 60 else 2), 67)
    assert [(a.topic, a.rule) for a in slide] == [("trade", "negative_volume/week")]
    assert slide[0].evidence["negative"] >= 5 * 5 and slide[0].evidence["baseline"]["buckets"] == 56

    # The same slide ending in a day of 18 negative stories: the burst rule fires too, as its own alert.
    both = replay(news(67, lambda day: 18 if day == 66 else 5 if day >= 60 else 2), 67)
    by_rule = {a.rule: a for a in both}
    assert set(by_rule) == {"negative_volume", "negative_volume/week"} and {a.topic for a in both} == {"trade"}
    assert by_rule["negative_volume"].fingerprint != by_rule["negative_volume/week"].fingerprint
    assert by_rule["negative_volume"].started_at == T0 + 66 * DAY
    assert by_rule["negative_volume/week"].started_at < by_rule["negative_volume"].started_at


def test_a_steady_topic_raises_nothing_under_either_rule():
    assert replay(news(90, lambda day: 2), 90) == []


def test_a_set_of_rules_has_one_key_naming_each_rule():
    rules = default_rules(DAY)
    assert rules_key(rules) == "negative_volume+negative_volume/week"
    assert Rule.of(rules[1].detector).name == "negative_volume/w7"  # unnamed: kind and window
    assert [r.depth for r in rules] == [29, 63]
