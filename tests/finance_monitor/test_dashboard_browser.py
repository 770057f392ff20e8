"""The alerting dashboard in a real headless browser: charts drawn, a fired alert shown and acknowledged, refreshes on its own."""

import datetime as dt
import os

import pytest

from finance_monitor.detect.alert_lifecycle import Alert, fingerprint
from tests.finance_monitor.test_web import HOSTILE, NOW, TOKEN, FakeScheduler, make_app, seed

# How many pixels of a chart's canvas Chart.js painted (an empty canvas has none).
PAINTED = """
const canvas = arguments[0];
const data = canvas.getContext("2d").getImageData(0, 0, canvas.width, canvas.height).data;
let painted = 0;
for (let i = 3; i < data.length; i += 4) if (data[i] > 0) painted++;
return painted;
"""


@pytest.fixture
def dashboard(tmp_path, live_server, browser):
    app = make_app(tmp_path, f"sqlite:///{tmp_path}/finance.db", scheduler=FakeScheduler())
    seeded = seed(app.extensions["test.monitor"].store)
    base = live_server(app) + "/finance"
    browser.get_log("browser")  # the browser is shared: drop what earlier tests' pages logged (reading empties it)
    browser.get(base + "/")
    browser.execute_script("window.sessionStorage.clear()")
    return app, seeded, base, browser


def wait_for(browser, condition, timeout=15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(lambda b: condition(b))


def drawn_charts(browser, count):
    return wait_for(browser, lambda b: (found := b.find_elements("css selector", "canvas.fm-trend[data-drawn]")) and len(found) >= count and found)


def test_the_overview_draws_a_trend_chart_per_topic_and_shows_the_firing_alert(dashboard):
    _, seeded, base, browser = dashboard
    browser.get(base + "/")
    charts = drawn_charts(browser, 3)
    assert [c.get_attribute("data-drawn") for c in charts] == ["30", "30", "30"]
    for canvas in charts:
        assert canvas.size["height"] > 100 and canvas.size["width"] > 200
        assert browser.execute_script(PAINTED, canvas) > 1000
    assert browser.execute_script("return document.querySelectorAll('canvas[data-error]').length") == 0
    # Chart.js keeps to the page CSP (no inline styles or scripts): the browser reports no violation.
    assert [e["message"] for e in browser.get_log("browser") if e["source"] == "security"] == []
    firing = browser.find_element("css selector", f"#firing-{seeded['firing']}")
    assert firing.is_displayed() and "banks" in firing.text and "7 of 9 negative" in firing.text


def test_the_topic_page_draws_its_sentiment_chart_and_colours_headlines_shown_as_text(dashboard):
    _, _, base, browser = dashboard
    browser.get(base + "/topics/banks")
    [canvas] = drawn_charts(browser, 1)
    assert browser.execute_script(PAINTED, canvas) > 1000
    negative = browser.find_elements("css selector", ".fm-recent li.fm-sentiment--negative")
    positive = browser.find_elements("css selector", ".fm-recent li.fm-sentiment--positive")
    assert len(negative) == 7 and positive
    assert negative[0].value_of_css_property("border-left-color") == "rgba(192, 57, 43, 1)"
    assert positive[0].value_of_css_property("border-left-color") == "rgba(31, 122, 63, 1)"
    assert HOSTILE in negative[0].text
    assert browser.execute_script("return window.pwned === undefined")
    assert browser.find_elements("css selector", ".fm-recent img") == []


def test_a_fired_alert_is_acknowledged_and_silenced_with_the_admin_token(dashboard):
    app, seeded, base, browser = dashboard
    store = app.extensions["test.monitor"].store
    browser.get(base + "/alerts")
    alert = browser.find_element("css selector", f"#alert-{seeded['firing']}")
    assert alert.get_attribute("data-state") == "firing" and alert.get_attribute("data-acknowledged") == "no"
    assert "7 of 9 (78 %)" in alert.text and "Northbank shares plunge" in alert.text
    # Without the token nothing is sent: the browser asks for it.
    alert.find_element("css selector", ".fm-ack-form button").click()
    assert store.alert(seeded["firing"])["acknowledged_at"] is None
    browser.find_element("css selector", "#fm-admin-token").send_keys(TOKEN)
    browser.find_element("css selector", f"#alert-{seeded['firing']} .fm-ack-form button").click()
    wait_for(browser, lambda b: "done=acknowledged" in b.current_url)
    alert = browser.find_element("css selector", f"#alert-{seeded['firing']}")
    assert alert.get_attribute("data-acknowledged") == "yes" and "acknowledged by dashboard" in alert.text
    assert store.alert(seeded["firing"])["acknowledged_by"] == "dashboard"
    # The token stays for this tab's next action.
    alert.find_element("css selector", ".fm-silence-form button").click()
    wait_for(browser, lambda b: "done=silenced" in b.current_url)
    assert browser.find_element("css selector", f"#alert-{seeded['firing']}").get_attribute("data-silenced") == "yes"
    assert store.alert(seeded["firing"])["silenced_until"] == NOW + dt.timedelta(days=1)


def test_a_wrong_token_changes_nothing(dashboard):
    app, seeded, base, browser = dashboard
    browser.get(base + "/alerts")
    browser.find_element("css selector", "#fm-admin-token").send_keys("not-the-token")
    browser.find_element("css selector", f"#alert-{seeded['firing']} .fm-ack-form button").click()
    wait_for(browser, lambda b: "/ack" in b.current_url)
    assert "admin token" in browser.find_element("css selector", "body").text
    assert app.extensions["test.monitor"].store.alert(seeded["firing"])["acknowledged_at"] is None


def test_the_page_refreshes_itself_and_a_new_alert_appears(dashboard):
    app, _, base, browser = dashboard
    browser.get(base + "/?refresh=2")
    drawn_charts(browser, 3)
    store = app.extensions["test.monitor"].store
    new_id = store.save_alert(Alert(fingerprint("energy", "share"), "energy", "share", "warning", NOW - dt.timedelta(hours=3), NOW,
                                    {"negative": 6, "total": 10, "share": 0.6, "baseline": {"share": 0.1}, "p_value": 1e-4,
                                     "top_negative_ids": []}))
    appeared = wait_for(browser, lambda b: b.find_elements("css selector", f"#firing-{new_id}"), timeout=20)
    assert "energy" in appeared[0].text
    assert int(browser.find_element("css selector", "body").get_attribute("data-refreshes")) >= 1
    assert len(drawn_charts(browser, 3)) == 3  # the charts are drawn again after the refresh


def test_the_demo_dashboard_as_troika_run_serves_it(tmp_path, live_server, browser):
    """The real monitor on its demo data (as `troika run` starts it): charts drawn, the demo's alert shown and acknowledged."""
    from finance_monitor.plugin import make_plugin
    from shared.config import load_config
    from shared.server import build_app
    from tests.finance_monitor.monitor_helpers import with_demo_model

    with_demo_model(tmp_path)
    config = load_config(env={}, var_dir=tmp_path, database_url=f"sqlite:///{tmp_path}/troika.db", testing=True,
                         apps=["finance_monitor"], admin_token=TOKEN)
    plugin = make_plugin(config)
    plugin.prepare()
    try:
        base = live_server(build_app(config, [plugin])) + "/finance"
        browser.get(base + "/")
        charts = drawn_charts(browser, len(plugin.state.topics))
        assert all(browser.execute_script(PAINTED, c) > 1000 for c in charts)
        firing = wait_for(browser, lambda b: b.find_elements("css selector", ".fm-firing li"))
        assert any("banks" in f.text for f in firing)
        # TROIKA_SCREENSHOT=finance_monitor/docs/dashboard.png pytest -k demo_dashboard: the README's picture
        browser.save_screenshot(os.environ.get("TROIKA_SCREENSHOT") or str(tmp_path / "dashboard.png"))
        browser.get(base + "/alerts?state=firing")
        browser.find_element("css selector", "#fm-admin-token").send_keys(TOKEN)
        alert = browser.find_element("css selector", ".fm-alert--firing")
        alert_id = int(alert.get_attribute("data-alert-id"))
        alert.find_element("css selector", ".fm-ack-form button").click()
        wait_for(browser, lambda b: "done=acknowledged" in b.current_url)
        assert plugin.state.store.alert(alert_id)["acknowledged_by"] == "dashboard"
    finally:
        plugin.state.shutdown()
