"""The demo page at /rec/ in a real headless browser, on the demo film club as `troika run` serves it.

A member's history and scored recommendations with their source, an added item recommended at
once, a click moving the list, markup in a title shown as text, a wrong key and a lost server said.
"""

import os

import pytest

from tests.recommender.test_plugin import KEY, V2, start

HOSTILE = "<img src=x onerror=alert(1)>"
OTTERS = "Divers follow a family of sea otters through a winter in the kelp forests of a cold northern coast."


@pytest.fixture(scope="module")
def vectors(tmp_path_factory):
    return tmp_path_factory.mktemp("var")  # the item-vector cache: only the first start embeds the demo


@pytest.fixture
def page(tmp_path, vectors, embedder, live_server, browser, monkeypatch):
    """(test client of the same app, the browser on /rec/ with an empty sessionStorage)."""
    monkeypatch.delenv("TROIKA_RECOMMENDER_API_KEY", raising=False)
    plugin, client = start(vectors, f"sqlite:///{tmp_path}/rec.db", embedder, fine_tune=False)
    if plugin.state.version is None:  # as `troika run` does on a fresh machine: the first click model, once per module
        plugin.state.retrain()
    url = live_server(client.application) + "/rec/"
    browser.get_log("browser")  # the browser is shared: drop what earlier tests' pages logged
    browser.get(url)
    browser.execute_script("window.sessionStorage.clear()")
    browser.get(url)
    return client, browser


def wait_for(browser, condition, timeout=20):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(lambda b: condition(b))


def status(browser):
    return browser.find_element("id", "rec-status").text


def enter_key(browser, key=KEY):
    from selenium.webdriver.common.keys import Keys

    browser.find_element("id", "rec-key").send_keys(key, Keys.ENTER)


def pick(browser, user):
    from selenium.webdriver.support.ui import Select

    wait_for(browser, lambda b: b.find_element("id", "rec-user").is_displayed())
    Select(browser.find_element("id", "rec-user")).select_by_visible_text(user)
    wait_for(browser, lambda b: status(b).startswith(user + ":"))


def shown(browser, list_id):
    return browser.find_elements("css selector", f"#{list_id} li[data-item]")


def screenshot(browser, path):
    """The demo part of the page at a 1200 x 900 viewport; the shared browser gets its size back."""
    size = browser.get_window_size()
    frame = browser.execute_script("return [window.outerWidth - window.innerWidth, window.outerHeight - window.innerHeight]")
    browser.set_window_size(1200 + frame[0], 900 + frame[1])
    try:
        browser.execute_script("document.getElementById('rec-demo-title').scrollIntoView()")
        browser.save_screenshot(path)
    finally:
        browser.set_window_size(size["width"], size["height"])


def console_errors(browser):
    return [e["message"] for e in browser.get_log("browser") if e["level"] == "SEVERE"]


def test_a_member_s_history_and_recommendations_with_scores_and_their_source(page):
    client, browser = page
    # An item whose title is markup, clicked by cai: it must show as text in cai's history.
    client.post("/rec/api/item", json={"ItemId": "x1", "Comment": HOSTILE, "Categories": ["sci-fi"]}, headers=V2)
    client.post("/rec/api/feedback", json=[{"FeedbackType": "click", "UserId": "cai", "ItemId": "x1"}], headers=V2)
    assert "60 items" in browser.find_element("id", "rec-counts").text  # the counts before the key
    enter_key(browser)
    pick(browser, "cai")

    history = client.get("/rec/api/user/cai/feedback", headers=V2).json
    rows = shown(browser, "rec-history")
    assert [r.get_attribute("data-item") for r in rows] == [f["ItemId"] for f in history]
    assert {r.find_element("css selector", ".rec-type").text for r in rows} == {"click", "view"}
    first_demo = next(r for r in rows if r.get_attribute("data-item") != "x1")
    title = client.get(f"/rec/api/item/{first_demo.get_attribute('data-item')}", headers=V2).json["Comment"]
    assert first_demo.find_element("css selector", ".rec-title").text == title
    hostile = next(r for r in rows if r.get_attribute("data-item") == "x1")
    assert hostile.find_element("css selector", ".rec-title").text == HOSTILE
    assert browser.find_elements("css selector", "#rec-app img") == []

    answer = client.get("/rec/api/recommend/cai", query_string={"n": 10}, headers=V2)
    recs = shown(browser, "rec-recs")
    assert [(r.get_attribute("data-item"), r.find_element("css selector", ".rec-score").text) for r in recs] == \
        [(a["Id"], f"{a['Score']:.3f}") for a in answer.json]
    assert browser.find_element("id", "rec-source").text == answer.headers["X-Troika-Source"] == "model"
    categories = client.get(f"/rec/api/item/{answer.json[0]['Id']}", headers=V2).json["Categories"]
    assert recs[0].find_element("css selector", ".rec-cats").text == ", ".join(categories)
    assert console_errors(browser) == []

    # The key stays in this tab only, never in the address; a reload starts again on the same member.
    assert KEY not in browser.current_url
    assert browser.execute_script("return window.sessionStorage.getItem('troika.rec.apiKey')") == KEY
    browser.refresh()
    wait_for(browser, lambda b: status(b).startswith("cai:"))


def test_an_added_item_is_recommended_at_once_and_a_click_moves_the_list(page, tmp_path):
    from selenium.webdriver.common.keys import Keys

    client, browser = page
    enter_key(browser)
    wait_for(browser, lambda b: status(b).startswith("ada:"))  # the first member, a nature lover
    before = [r.get_attribute("data-item") for r in shown(browser, "rec-recs")]
    assert "f61" not in before

    browser.find_element("id", "rec-item-id").send_keys("f61")
    browser.find_element("id", "rec-item-text").send_keys(OTTERS)
    browser.find_element("id", "rec-item-categories").send_keys("documentary, nature", Keys.ENTER)
    wait_for(browser, lambda b: status(b).startswith("Added f61."))
    assert "in ada's recommendations" in status(browser)
    [new] = browser.find_elements("css selector", "#rec-recs li.rec-item--new")
    assert new.get_attribute("data-item") == "f61" and OTTERS in new.text and "documentary, nature" in new.text
    assert client.get("/rec/api/item/f61", headers=V2).json["Categories"] == ["documentary", "nature"]
    # TROIKA_SCREENSHOT=recommender/docs/demo_page.png pytest -k added_item: the README's picture
    screenshot(browser, os.environ.get("TROIKA_SCREENSHOT") or str(tmp_path / "demo_page.png"))

    after_add = [r.get_attribute("data-item") for r in shown(browser, "rec-recs")]
    clicked = after_add[0]
    browser.find_element("css selector", "#rec-recs li[data-item] .rec-click").send_keys(Keys.ENTER)  # the keyboard works
    wait_for(browser, lambda b: "clicked" in status(b))
    after_click = [r.get_attribute("data-item") for r in shown(browser, "rec-recs")]
    assert clicked not in after_click and after_click != after_add  # seen now: never recommended again
    latest = shown(browser, "rec-history")[0]
    assert latest.get_attribute("data-item") == clicked and latest.find_element("css selector", ".rec-type").text == "click"
    assert {"click"} == {f["FeedbackType"] for f in client.get("/rec/api/user/ada/feedback", headers=V2).json if f["ItemId"] == clicked}
    assert console_errors(browser) == []


def test_a_wrong_key_is_refused_and_a_lost_server_is_said(page):
    _, browser = page
    enter_key(browser, "not-the-key")
    wait_for(browser, lambda b: "The API key was refused" in status(b))
    assert "rec-status--error" in browser.find_element("id", "rec-status").get_attribute("class")
    assert not browser.find_element("id", "rec-app").is_displayed()
    assert browser.execute_script("return window.sessionStorage.getItem('troika.rec.apiKey')") is None
    assert browser.switch_to.active_element == browser.find_element("id", "rec-key")

    enter_key(browser)
    wait_for(browser, lambda b: status(b).startswith("ada:"))
    # Point the page's requests at a closed port, as if the server had gone away.
    browser.execute_script("""
        const realFetch = window.fetch;
        window.fetch = (url, options) => realFetch(new URL(url, location.href).href.replace(/^https?:\\/\\/[^/]+/, "http://127.0.0.1:1"), options);
    """)
    browser.find_element("id", "rec-refresh").click()
    wait_for(browser, lambda b: "Cannot reach the server" in status(b), timeout=30)
