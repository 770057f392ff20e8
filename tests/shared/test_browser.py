"""The suite's landing page in a real headless browser: what apps say is shown as text, never run."""

from flask import Blueprint

from shared.config import load_config
from shared.server import Plugin, build_app

HOSTILE = '<img src=x onerror="window.pwned = 1"><script>window.pwned = 2</script>'


def test_landing_page_shows_markup_from_an_app_as_text(tmp_path, live_server, browser):
    config = load_config(env={}, var_dir=tmp_path, testing=True, apps=["hostile"])
    plugin = Plugin(name="hostile", title="Hostile app", description=HOSTILE, blueprint=Blueprint("hostile", __name__),
                    url_prefix="/hostile")
    base = live_server(build_app(config, [plugin]))
    browser.get(base + "/")
    assert browser.title == "troika"
    assert HOSTILE in browser.find_element("css selector", "ul.apps").text
    assert browser.execute_script("return window.pwned === undefined")
    assert browser.find_elements("css selector", "ul.apps img") == []
