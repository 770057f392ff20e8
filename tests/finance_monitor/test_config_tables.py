"""Lists of named tables in troika.toml: every mistake is a ConfigError starting with the key as written."""

import pytest

from finance_monitor.config_tables import Names, no_unknown_keys, tables
from shared.errors import ConfigError


def test_each_table_comes_with_its_key_path():
    assert list(tables([{"name": "a"}, {"name": "b"}], "finance_monitor.sources", "a source")) == [
        ("finance_monitor.sources[0]", {"name": "a"}), ("finance_monitor.sources[1]", {"name": "b"})]


@pytest.mark.parametrize("entries, message", [
    ({"name": "a"}, "finance_monitor.sources: must be a list of tables ([[finance_monitor.sources]])"),
    ("feeds", "finance_monitor.sources: must be a list of tables"),
    ([{"name": "a"}, "b"], "finance_monitor.sources[1]: must be a table, a source; got str"),
])
def test_anything_but_a_list_of_tables_is_refused(entries, message):
    with pytest.raises(ConfigError) as caught:
        list(tables(entries, "finance_monitor.sources", "a source"))
    assert str(caught.value).startswith(message)


def test_a_second_use_of_a_name_says_where_the_first_was():
    names = Names("source")
    names.take("s[0]", "reuters")
    with pytest.raises(ConfigError, match=r"^s\[2\]\.name: 'reuters' is already the name of s\[0\]; give each source its own name"):
        names.take("s[2]", "reuters")


def test_reserved_names_and_bad_names_are_refused():
    names = Names("topic", reserved={"general": "the general topic every article already has"})
    with pytest.raises(ConfigError, match="the general topic"):
        names.take("t[0]", "general")
    for bad in ("", "has space", "-leading", "x" * 65, 3, None):
        with pytest.raises(ConfigError, match=r"^t\[0\]\.name: must be 1-64 letters"):
            names.take("t[0]", bad)


def test_an_unknown_key_is_named():
    with pytest.raises(ConfigError, match=r"^s\[0\]\.urll: unknown key; a source has name, url"):
        no_unknown_keys("s[0]", {"name": "a", "urll": "x"}, {"name", "url"}, "a source has name, url")
    no_unknown_keys("s[0]", {"name": "a"}, {"name", "url"}, "a source has name, url")
