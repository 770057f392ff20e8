"""The chat widget in a real headless browser: a visitor's conversation, markup shown as text, an agent's reply arriving."""

import pytest

from tests.customer_service.test_web import AGENT, make_app

HOSTILE = '<img src=x onerror="window.pwned = 1">'


@pytest.fixture
def page(tmp_path, live_server, browser):
    app = make_app(tmp_path, f"sqlite:///{tmp_path}/chat.db")
    base = live_server(app)
    browser.get(base + "/cs/")
    browser.execute_script("window.localStorage.clear()")
    browser.get(base + "/cs/")
    return app, browser


def wait_for(browser, css, count=1, timeout=15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(lambda b: (found := b.find_elements("css selector", css)) and len(found) >= count and found)


def chat(browser, text):
    browser.find_element("css selector", ".troika-chat__input").send_keys(text)
    browser.find_element("css selector", ".troika-chat__send").click()


def test_a_visitor_asks_and_the_reply_names_its_path(page):
    _, browser = page
    browser.find_element("css selector", ".troika-chat__toggle").click()
    chat(browser, "where is my card?")
    reply = wait_for(browser, ".troika-chat__msg--bot")[0]
    assert reply.get_attribute("data-path") == "intent"
    assert "Cards arrive in 3-5 working days." in reply.text


def test_markup_in_a_message_is_shown_as_text_and_never_runs(page):
    _, browser = page
    browser.find_element("css selector", ".troika-chat__toggle").click()
    chat(browser, HOSTILE)
    mine = wait_for(browser, ".troika-chat__msg--user")[0]
    wait_for(browser, ".troika-chat__msg--bot")
    assert mine.find_element("css selector", ".troika-chat__text").text == HOSTILE
    assert browser.find_elements("css selector", ".troika-chat img") == []
    assert browser.execute_script("return window.pwned === undefined")


def test_after_a_handoff_the_agents_reply_reaches_the_widget(page):
    app, browser = page
    browser.find_element("css selector", ".troika-chat__toggle").click()
    chat(browser, "I have an unusual problem")
    handoff = wait_for(browser, '.troika-chat__msg--bot[data-path="handoff"]')[0]
    assert "member of our team" in handoff.text
    client = app.test_client()
    [waiting] = client.get("/cs/admin/handoffs?status=open", headers=AGENT).json["handoffs"]
    client.post(f"/cs/admin/handoffs/{waiting['id']}/reply", json={"agent": "alice", "text": "Hi, Alice here <b>now</b>."}, headers=AGENT)
    agent = wait_for(browser, ".troika-chat__msg--agent")[0]  # arrives by polling, no reload
    assert agent.find_element("css selector", ".troika-chat__text").text == "Hi, Alice here <b>now</b>."
