"""The chat widget in a real headless browser: a visitor's conversation, markup shown as text, an agent's reply arriving."""

import pytest

from tests.customer_service.test_web import AGENT, make_app

HOSTILE = "<img src=x onerror=alert(1)>"


def fresh_page(browser, base):
    """/cs/ with no conversation remembered from an earlier test."""
    browser.get(base + "/cs/")
    browser.execute_script("window.localStorage.clear()")
    browser.get(base + "/cs/")


@pytest.fixture
def page(tmp_path, live_server, browser):
    app = make_app(tmp_path, f"sqlite:///{tmp_path}/chat.db")
    fresh_page(browser, live_server(app))
    return app, browser


def wait_for(browser, css, count=1, timeout=15):
    from selenium.webdriver.support.ui import WebDriverWait

    return WebDriverWait(browser, timeout).until(lambda b: (found := b.find_elements("css selector", css)) and len(found) >= count and found)


def chat(browser, text):
    browser.find_element("css selector", ".troika-chat__input").send_keys(text)
    browser.find_element("css selector", ".troika-chat__send").click()


def test_a_visitor_converses_clicks_a_choice_and_the_session_survives_a_reload(page):
    _, browser = page
    browser.find_element("css selector", ".troika-chat__toggle").click()
    chat(browser, "what is the fee?")
    clarify = wait_for(browser, '.troika-chat__msg--bot[data-path="clarify"]')[0]
    choices = clarify.find_elements("css selector", ".troika-chat__choice")
    assert [c.text for c in choices] == ["transfer fee", "card fee"]
    choices[1].click()  # sends "card fee" as the visitor's next message
    answer = wait_for(browser, '.troika-chat__msg--bot[data-path="intent"]')[0]
    assert "Cards arrive in 3-5 working days." in answer.text
    assert [m.text for m in browser.find_elements("css selector", ".troika-chat__msg--user .troika-chat__text")] == ["what is the fee?", "card fee"]
    browser.refresh()
    browser.find_element("css selector", ".troika-chat__toggle").click()
    restored = wait_for(browser, ".troika-chat__msg", count=4)
    assert len(restored) == 4  # the conversation is back after a reload


def test_markup_in_a_message_is_shown_as_text_and_never_runs(page):
    _, browser = page
    browser.find_element("css selector", ".troika-chat__toggle").click()
    chat(browser, HOSTILE)
    mine = wait_for(browser, ".troika-chat__msg--user")[0]
    wait_for(browser, ".troika-chat__msg--bot")
    assert mine.find_element("css selector", ".troika-chat__text").text == HOSTILE
    assert browser.find_elements("css selector", ".troika-chat img") == []


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


def test_the_widget_says_so_when_the_server_cannot_be_reached(page):
    _, browser = page
    browser.find_element("css selector", ".troika-chat__toggle").click()
    # Point the widget's requests at a closed port, as if the server had gone away.
    browser.execute_script("""
        const realFetch = window.fetch;
        window.fetch = (url, options) => realFetch(String(url).replace(/^https?:\\/\\/[^/]+/, "http://127.0.0.1:1"), options);
    """)
    chat(browser, "where is my card?")
    note = wait_for(browser, ".troika-chat__msg--notice", timeout=30)[0]
    assert "cannot reach" in note.text
    assert browser.find_element("css selector", ".troika-chat__input").get_attribute("value") == "where is my card?"


def test_keyboard_opens_and_escape_closes_the_chat(page):
    _, browser = page
    from selenium.webdriver.common.keys import Keys

    toggle = browser.find_element("css selector", ".troika-chat__toggle")
    assert toggle.get_attribute("aria-expanded") == "false"
    toggle.send_keys(Keys.ENTER)
    assert toggle.get_attribute("aria-expanded") == "true"
    assert browser.switch_to.active_element == browser.find_element("css selector", ".troika-chat__input")
    browser.switch_to.active_element.send_keys(Keys.ESCAPE)
    assert toggle.get_attribute("aria-expanded") == "false"


def test_the_demo_bank_bot_in_the_widget_answers_asks_finds_and_hands_off(tmp_path, live_server, browser, request):
    """The real demo bot (as `troika run` serves it) in the real widget: every path a visitor meets."""
    import os

    from customer_service.plugin import make_plugin
    from shared.config import load_config
    from shared.server import build_app

    config = load_config(env={}, var_dir=tmp_path, testing=True, apps=["customer_service"],
                         database_url=f"sqlite:///{tmp_path}/chat.db")
    plugin = make_plugin(config)
    plugin.prepare()
    fresh_page(browser, live_server(build_app(config, [plugin])))
    browser.find_element("css selector", ".troika-chat__toggle").click()

    chat(browser, "how much is the fee")
    clarify = wait_for(browser, '.troika-chat__msg--bot[data-path="clarify"]')[0]
    choices = clarify.find_elements("css selector", ".troika-chat__choice")
    assert sorted(c.text for c in choices) == ["card fee", "transfer fee"]
    next(c for c in choices if c.text == "card fee").click()
    wait_for(browser, '.troika-chat__msg--bot[data-path="intent"]')

    chat(browser, "I lost my card")
    answer = wait_for(browser, '.troika-chat__msg--bot[data-path="intent"]', count=2)[1]
    assert "card" in answer.text.lower()

    chat(browser, "is my money protected if the bank fails?")
    found = wait_for(browser, '.troika-chat__msg--bot[data-path="retrieval"]')[0]
    link = found.find_element("css selector", "a")
    assert link.get_attribute("href") == "https://help.lumen.example/protection"

    chat(browser, HOSTILE)  # out of scope: a reply offering a person, not a person at once
    offer = wait_for(browser, '.troika-chat__msg--bot[data-path="out_of_scope"]')[0]
    assert "Shall I pass you to a person?" in offer.text
    mine = browser.find_elements("css selector", ".troika-chat__msg--user .troika-chat__text")[-1]
    assert mine.text == HOSTILE and browser.find_elements("css selector", ".troika-chat img") == []

    chat(browser, "I want to talk to a human")  # the demo's speak_to_human hands off
    handoff = wait_for(browser, '.troika-chat__msg--bot[data-path="handoff"]')[0]
    assert "member of our team" in handoff.text

    # TROIKA_SCREENSHOT=customer_service/docs/widget.png pytest -k demo_bank: the README's picture
    browser.save_screenshot(os.environ.get("TROIKA_SCREENSHOT") or str(tmp_path / "widget.png"))


def test_taking_the_out_of_scope_offer_hands_off(tmp_path, live_server, browser):
    from customer_service.service import BotReply

    class OutOfScope:
        def respond(self, text, history):
            if text == "talk to a person":
                return BotReply("I'm passing you to a member of our team.", "handoff", details={"reason": "asked"})
            return BotReply("I can help with cards; shall I pass you to a person?", "out_of_scope",
                            details={"choices": ["talk to a person"]})

    fresh_page(browser, live_server(make_app(tmp_path, f"sqlite:///{tmp_path}/chat.db", bot=OutOfScope())))
    browser.find_element("css selector", ".troika-chat__toggle").click()
    chat(browser, "what's the weather")
    offer = wait_for(browser, '.troika-chat__msg--bot[data-path="out_of_scope"]')[0]
    offer.find_element("css selector", ".troika-chat__choice").click()
    assert "member of our team" in wait_for(browser, '.troika-chat__msg--bot[data-path="handoff"]')[0].text


def test_after_a_reload_the_newest_message_is_in_view(page):
    _, browser = page
    browser.find_element("css selector", ".troika-chat__toggle").click()
    for i in range(8):  # more than the panel's height
        chat(browser, f"where is my card, question {i}?")
        wait_for(browser, ".troika-chat__msg--bot", count=i + 1)
    browser.refresh()
    browser.find_element("css selector", ".troika-chat__toggle").click()
    wait_for(browser, ".troika-chat__msg", count=16)
    log = browser.find_element("css selector", ".troika-chat__log")
    height, top, client = (browser.execute_script(f"return arguments[0].{p}", log) for p in ("scrollHeight", "scrollTop", "clientHeight"))
    assert height > client and top + client >= height - 2  # scrolled to the end, not the start


def test_the_page_does_not_scroll_sideways_at_500_px(page):
    _, browser = page
    size = browser.get_window_size()
    try:
        browser.set_window_size(500, 800)
        browser.refresh()
        inner = browser.execute_script("return window.innerWidth")
        assert browser.execute_script("return document.documentElement.scrollWidth") <= inner
        browser.find_element("css selector", ".troika-chat__toggle").click()
        assert browser.execute_script("return document.documentElement.scrollWidth") <= inner
    finally:
        browser.set_window_size(size["width"], size["height"])


def test_the_agents_inbox_lists_a_handoff_and_claims_replies_and_resolves_it(tmp_path, live_server, browser):
    from tests.customer_service.test_web import ADMIN_TOKEN

    app = make_app(tmp_path, f"sqlite:///{tmp_path}/chat.db")
    base = live_server(app)
    client = app.test_client()
    sid = client.post("/cs/api/chat", json={"message": f"something unusual {HOSTILE}"}).json["session_id"]
    browser.get(base + "/cs/agents/")
    browser.execute_script("window.sessionStorage.clear()")
    browser.get(base + "/cs/agents/")
    browser.find_element("id", "token").send_keys(ADMIN_TOKEN)
    browser.find_element("id", "agent").send_keys("alice")
    browser.find_element("css selector", "#login button").click()
    wait_for(browser, ".agents__open")[0].click()
    transcript = wait_for(browser, "#transcript li", count=2)
    assert transcript[0].text == f"user: something unusual {HOSTILE}" and browser.find_elements("css selector", "main img") == []

    browser.find_element("id", "claim").click()
    wait_for(browser, "#claim[disabled]")
    browser.find_element("id", "reply-text").send_keys("Hi, Alice here.")
    browser.find_element("id", "reply").find_element("css selector", "button").click()
    assert wait_for(browser, '#transcript li[data-role="agent"]')[0].text == "agent: Hi, Alice here."
    client.post("/cs/api/chat", json={"message": "thanks, and my card?", "session_id": sid})
    assert wait_for(browser, "#transcript li", count=4)[-1].text == "user: thanks, and my card?"  # live refresh

    browser.find_element("id", "resolve").click()
    wait_for(browser, "#resolve[disabled]")
    assert [h["status"] for h in client.get("/cs/admin/handoffs", headers=AGENT).json["handoffs"]] == ["resolved"]


def test_the_agents_inbox_says_so_when_the_token_is_wrong(tmp_path, live_server, browser):
    base = live_server(make_app(tmp_path, f"sqlite:///{tmp_path}/chat.db"))
    browser.get(base + "/cs/agents/")
    browser.execute_script("window.sessionStorage.clear()")
    browser.find_element("id", "token").send_keys("not-the-token")
    browser.find_element("id", "agent").send_keys("bob")
    browser.find_element("css selector", "#login button").click()
    from selenium.webdriver.support.ui import WebDriverWait

    WebDriverWait(browser, 10).until(lambda b: "Could not load the inbox" in b.find_element("id", "status").text)
