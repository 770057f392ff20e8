import json
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from finance_monitor.detect.alert_lifecycle import AlertBook, AlertPolicy, fingerprint, replay_alerts
from finance_monitor.detect.spikes import Bucket, Detection, Window

HOUR = timedelta(hours=1)
T0 = datetime(2019, 5, 6, tzinfo=UTC)
QUIET = Detection(False, 0.5, reason="p above alpha")


def window(i, topic="trade", negative=10):
    return Window(topic, T0 + i * HOUR, T0 + (i + 1) * HOUR, Bucket(T0 + i * HOUR, 20, negative, (f"h{i}",)))


def fired(p=1e-4, severity="warning"):
    return Detection(True, p, severity, 3.0, {"share": 0.1})


def run(book, detections, rule="binomial_share", topic="trade"):
    events = []
    for i, detection in enumerate(detections):
        events += [(i, e.kind, e.alert.severity) for e in book.observe(window(i, topic), detection, rule)]
    return events


def test_fingerprints_are_stable_and_distinct():
    assert fingerprint("trade", "count") == fingerprint("trade", "count")
    assert len({fingerprint("trade", "count"), fingerprint("trade", "binomial"), fingerprint("oil", "count")}) == 3


def test_firing_windows_make_one_alert_that_escalates_then_resolves():
    book = AlertBook(AlertPolicy(resolve_after=2, cooldown=timedelta(0)))
    events = run(book, [fired(), fired(1e-5), fired(1e-8, "critical"), fired(), QUIET, fired(), QUIET, QUIET, QUIET])
    assert events == [(0, "fired", "warning"), (2, "escalated", "critical"), (7, "resolved", "critical")]
    (alert,) = [book.current(fingerprint("trade", "binomial_share"))]
    assert alert.started_at == T0 and alert.resolved_at == T0 + 8 * HOUR and alert.last_fired_at == T0 + 6 * HOUR
    assert alert.windows_fired == 5
    # Evidence of the strongest window, with its headlines.
    assert alert.evidence["p_value"] == 1e-8 and alert.evidence["top_negative_ids"] == ["h2"]


def test_the_cooldown_swallows_a_quick_refire_then_lets_a_later_one_through():
    book = AlertBook(AlertPolicy(resolve_after=1, cooldown=3 * HOUR))
    events = run(book, [fired(), QUIET, fired(), QUIET, fired(), QUIET])
    # Resolved at the end of window 1 (02:00); window 2 ends 03:00 < 05:00: suppressed; window 4 ends 05:00: new alert.
    assert [(i, kind) for i, kind, _ in events] == [(0, "fired"), (1, "resolved"), (4, "fired"), (5, "resolved")]


def test_suppressed_firings_are_counted_on_the_resolved_alert():
    book = AlertBook(AlertPolicy(resolve_after=1, cooldown=10 * HOUR))
    run(book, [fired(), QUIET, fired(), fired(), QUIET])
    assert book.current(fingerprint("trade", "binomial_share")).suppressed == 2


def test_fire_after_needs_consecutive_windows():
    book = AlertBook(AlertPolicy(fire_after=2))
    events = run(book, [fired(), QUIET, fired(), fired()])
    assert events == [(3, "fired", "warning")]
    assert book.firing()[0].started_at == T0 + 2 * HOUR  # from the first window of the streak


def test_topics_and_rules_have_separate_lifecycles():
    book = AlertBook()
    assert run(book, [fired()], topic="trade") and run(book, [fired()], topic="oil")
    assert run(book, [fired()], rule="count", topic="trade")
    assert len(book.firing()) == 3


def test_state_survives_a_restart_through_json():
    policy = AlertPolicy(resolve_after=2, cooldown=timedelta(0))
    book = AlertBook(policy)
    run(book, [fired(), QUIET])  # firing, one quiet window counted
    restored = AlertBook.from_dict(json.loads(json.dumps(book.to_dict())), policy)
    events = restored.observe(window(2), QUIET, "binomial_share")
    assert [e.kind for e in events] == ["resolved"]  # the quiet count carried over


def test_replay_lists_every_alert_with_its_final_state():
    detections = [fired(), QUIET, QUIET, fired(1e-9, "critical"), fired()]
    alerts = replay_alerts(((window(i), d) for i, d in enumerate(detections)), "count", AlertPolicy(resolve_after=2, cooldown=timedelta(0)))
    assert [(a.started_at, a.resolved_at, a.severity) for a in alerts] == [(T0, T0 + 3 * HOUR, "warning"), (T0 + 3 * HOUR, None, "critical")]
    assert alerts[1].windows_fired == 2
    assert json.loads(json.dumps(alerts[0].to_dict()))["started_at"] == T0.isoformat()


def test_policy_is_validated():
    with pytest.raises(ValueError):
        AlertPolicy(resolve_after=0)



SEQUENCES = st.lists(st.sampled_from(["quiet", "warning", "critical"]), max_size=60)


@settings(max_examples=200, deadline=None)
@given(SEQUENCES, st.integers(1, 3), st.integers(1, 3), st.integers(0, 6))
def test_lifecycle_invariants_hold_for_any_sequence(sequence, fire_after, resolve_after, cooldown_hours):
    policy = AlertPolicy(fire_after=fire_after, resolve_after=resolve_after, cooldown=cooldown_hours * HOUR)
    book = AlertBook(policy)
    detections = {"quiet": QUIET, "warning": fired(), "critical": fired(1e-9, "critical")}
    events = []
    for i, name in enumerate(sequence):
        events += book.observe(window(i), detections[name], "count")
    state = "idle"
    last_resolved = None
    for event in events:
        if event.kind == "fired":
            assert state == "idle"  # never two open alerts for one fingerprint
            if last_resolved is not None:
                assert event.at >= last_resolved + policy.cooldown  # respects the cooldown
            state = "firing"
        elif event.kind == "escalated":
            assert state == "firing" and event.alert.severity == "critical"
        else:
            assert state == "firing" and event.alert.resolved_at >= event.alert.started_at
            state, last_resolved = "idle", event.alert.resolved_at
    assert len(book.firing()) == (1 if state == "firing" else 0)
    firing_windows = sum(name != "quiet" for name in sequence)
    assert sum(e.kind == "fired" for e in events) * fire_after <= firing_windows
