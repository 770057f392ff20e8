import dataclasses
import re
from pathlib import Path

import pytest

from shared.config import KEYS, Config, describe, load_config
from shared.errors import ConfigError


@pytest.fixture(autouse=True)
def in_tmp(tmp_path, monkeypatch):
    """Each test runs in an empty directory, so a developer's ./troika.toml cannot leak in."""
    monkeypatch.chdir(tmp_path)
    return tmp_path


def write_toml(path, text):
    path.write_text(text)
    return path


def test_defaults(in_tmp):
    config = load_config(env={})
    assert (config.host, config.port, config.testing) == ("127.0.0.1", 8000, False)
    assert config.max_content_length == 64 * 1024
    assert config.apps == ("customer_service", "finance_monitor", "recommender")
    assert config.var_dir == in_tmp / "var"
    assert config.database_url == f"sqlite:///{in_tmp}/var/troika.db"
    assert config.secret_key == config.admin_token == config.base_model == ""


def test_file_then_environment_then_arguments(in_tmp):
    toml = write_toml(in_tmp / "deploy.toml", 'port = 8001\nhost = "0.0.0.0"\n')
    env = {"TROIKA_PORT": "8002"}
    assert load_config(toml, env={}).port == 8001
    assert load_config(toml, env=env).port == 8002
    config = load_config(toml, env=env, port=8003)
    assert (config.port, config.host) == (8003, "0.0.0.0")


def test_arguments_set_to_none_are_ignored():
    assert load_config(env={"TROIKA_PORT": "8002"}, port=None).port == 8002


def test_which_file_is_read(in_tmp):
    write_toml(in_tmp / "troika.toml", "port = 8001\n")
    other = write_toml(in_tmp / "other.toml", "port = 8002\n")
    third = write_toml(in_tmp / "third.toml", "port = 8003\n")
    assert load_config(env={}).port == 8001
    assert load_config(env={"TROIKA_CONFIG": str(other)}).port == 8002
    assert load_config(third, env={"TROIKA_CONFIG": str(other)}).port == 8003


def test_a_named_file_that_does_not_exist_is_an_error(in_tmp):
    with pytest.raises(ConfigError, match="missing.toml does not exist"):
        load_config(in_tmp / "missing.toml", env={})
    with pytest.raises(ConfigError, match="gone.toml does not exist"):
        load_config(env={"TROIKA_CONFIG": "gone.toml"})


@pytest.mark.parametrize(
    ("variable", "text", "key", "expected"),
    [
        ("TROIKA_PORT", " 9000 ", "port", 9000),
        ("TROIKA_TESTING", "yes", "testing", True),
        ("TROIKA_TESTING", "0", "testing", False),
        ("TROIKA_APPS", "recommender, customer_service,", "apps", ("recommender", "customer_service")),
        ("TROIKA_CORS_ORIGINS", "https://a.example,http://localhost:3000", "cors_origins", ("https://a.example", "http://localhost:3000")),
        ("TROIKA_LOG_LEVEL", "debug", "log_level", "DEBUG"),
        ("TROIKA_ADMIN_TOKEN", "t0ken", "admin_token", "t0ken"),
    ],
)
def test_environment_strings_are_converted(variable, text, key, expected):
    assert getattr(load_config(env={variable: text}), key) == expected


def test_environment_paths_are_made_absolute(in_tmp):
    config = load_config(env={"TROIKA_VAR_DIR": "data"})
    assert config.var_dir == in_tmp / "data"
    assert config.database_url == f"sqlite:///{in_tmp}/data/troika.db"


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"TROIKA_PORT": "eighty"}, "TROIKA_PORT='eighty': expected an integer"),
        ({"TROIKA_TESTING": "maybe"}, "TROIKA_TESTING='maybe': expected true or false"),
        ({"TROIKA_PORT": "70000"}, "port = 70000"),
        ({"TROIKA_LOG_LEVEL": "LOUD"}, "log_level = 'LOUD'"),
        ({"TROIKA_CORS_ORIGINS": "https://a.example/chat"}, "cors_origins: 'https://a.example/chat'"),
        ({"TROIKA_DATABASE_URL": "not a url"}, "database_url = 'not a url'"),
        ({"TROIKA_APPS": "customer-service"}, "'customer-service' is not a package name"),
    ],
)
def test_bad_values_name_the_key_and_the_value(env, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_config(env=env)


def test_unknown_and_mistyped_keys_in_the_file_are_refused(in_tmp):
    with pytest.raises(ConfigError, match="unknown key 'prot'"):
        load_config(write_toml(in_tmp / "a.toml", "prot = 8000\n"), env={})
    with pytest.raises(ConfigError, match="port = '8000': expected an integer"):
        load_config(write_toml(in_tmp / "b.toml", 'port = "8000"\n'), env={})
    with pytest.raises(ConfigError, match="testing = 1: expected true or false"):
        load_config(write_toml(in_tmp / "c.toml", "testing = 1\n"), env={})
    with pytest.raises(ConfigError, match="unreadable"):
        load_config(write_toml(in_tmp / "d.toml", "port = \n"), env={})


def test_unknown_arguments_are_refused():
    with pytest.raises(ConfigError, match="unknown setting 'prot'"):
        load_config(env={}, prot=8000)


def test_app_tables_are_kept_raw(in_tmp):
    toml = write_toml(in_tmp / "t.toml", '[customer_service]\nthreshold = 0.6\n[customer_service.handoff]\nemail = "help@example.com"\n')
    config = load_config(toml, env={})
    assert config.section("customer_service") == {"threshold": 0.6, "handoff": {"email": "help@example.com"}}
    assert config.section("recommender") == {}
    config.section("customer_service")["threshold"] = 0.1  # a copy: the config stays as loaded
    assert config.section("customer_service")["threshold"] == 0.6


def test_a_table_for_no_known_app_is_refused(in_tmp):
    with pytest.raises(ConfigError, match=r"unknown table \[custmer_service\]"):
        load_config(write_toml(in_tmp / "t.toml", "[custmer_service]\nthreshold = 0.6\n"), env={})


def test_relative_var_dir_in_a_file_is_relative_to_the_file(in_tmp):
    (in_tmp / "etc").mkdir()
    config = load_config(write_toml(in_tmp / "etc" / "troika.toml", 'var_dir = "state"\n'), env={})
    assert config.var_dir == in_tmp / "etc" / "state"


def test_explicit_database_url_is_kept():
    url = "postgresql://troika@db.internal/troika"
    assert load_config(env={"TROIKA_DATABASE_URL": url}).database_url == url


def test_replace_moves_a_derived_database_with_var_dir(in_tmp):
    config = load_config(env={}).replace(var_dir=in_tmp / "elsewhere")
    assert config.database_url == f"sqlite:///{in_tmp}/elsewhere/troika.db"
    fixed = load_config(env={"TROIKA_DATABASE_URL": "sqlite:////srv/t.db"}).replace(var_dir=in_tmp / "x")
    assert fixed.database_url == "sqlite:////srv/t.db"


def test_config_is_frozen_and_checks_direct_construction():
    with pytest.raises(dataclasses.FrozenInstanceError):
        Config().port = 1
    with pytest.raises(ConfigError, match="threads = 0"):
        Config(threads=0)
    assert Config(var_dir="v").var_dir == Path("v").absolute()


def test_describe_lists_every_key_and_hides_secrets():
    config = load_config(env={"TROIKA_ADMIN_TOKEN": "hunter2-admin", "TROIKA_DATABASE_URL": "postgresql://u:pw-in-url@db/t"})
    text = describe(config)
    for key in KEYS:
        assert f"\n{key} = " in "\n" + text
        assert f"TROIKA_{key.upper()}" in text
    assert "hunter2-admin" not in text and "pw-in-url" not in text
    assert 'admin_token = "<set>"' in text
    assert "# default: 8000" in text
    assert "hunter2-admin" not in repr(config)


def test_every_key_is_documented():
    fields = {f.name for f in dataclasses.fields(Config)} - {"sections"}
    assert set(KEYS) == fields
    assert all(len(help) > 10 for help in KEYS.values())


def test_describe_writes_app_tables_and_lists_of_tables_as_toml_blocks(tmp_path):
    import tomllib

    path = tmp_path / "troika.toml"
    path.write_text('[finance_monitor]\nbucket = "day"\n[finance_monitor.alerts]\nresolve_after = 3\n'
                    '[[finance_monitor.channels]]\ntype = "alertmanager"\nurl = "http://am:9093"\n'
                    '[[finance_monitor.channels]]\ntype = "email"\nhost = "smtp"\npassword = "pw-secret"\nto = "a@b.c"\n')
    text = describe(load_config(path, env={}))
    assert "[finance_monitor.alerts]\nfire_after = 1\nresolve_after = 3" in text and text.count("[[finance_monitor.channels]]\n") >= 2
    assert "pw-secret" not in text
    read = tomllib.loads(text)["finance_monitor"]  # what it prints is TOML that reads back
    assert read["bucket"] == "day" and read["alerts"] == {"fire_after": 1, "resolve_after": 3, "cooldown_hours": 24.0}
    assert [c["type"] for c in read["channels"]] == ["alertmanager", "email"] and read["channels"][1]["password"] == "<set>"


def test_describe_shows_a_commented_example_of_every_alert_channel_type_and_it_builds():
    import tomllib

    from finance_monitor.channel_config import KEYS as CHANNEL_TYPES
    from finance_monitor.channel_config import build_channels

    text = describe(Config())
    example = "\n".join(line[2:] for line in text.splitlines() if line.startswith("# ") or line == "#")
    start = example.index("[[finance_monitor.channels]]")
    tables = tomllib.loads(example[start:].split("\n--- ")[0])["finance_monitor"]["channels"]  # up to the next app's examples
    assert sorted(t["type"] for t in tables) == sorted(CHANNEL_TYPES)
    assert len(build_channels(tables, environ={"TROIKA_SMTP_PASSWORD": "x"})) == len(CHANNEL_TYPES)


def test_describe_lists_every_key_of_every_app_with_its_default_and_the_listing_loads_back(tmp_path):
    import tomllib

    from customer_service.settings import KEYS as CS_KEYS
    from customer_service.settings import check_keys
    from finance_monitor.settings import KEYS as FINANCE_KEYS
    from finance_monitor.settings import TOP_KEYS, load_settings
    from recommender.settings import KEYS as REC_KEYS
    from recommender.settings import SETTINGS, plugin_settings

    assert {k.name for k in FINANCE_KEYS} == TOP_KEYS and {k.name for k in REC_KEYS} == set(SETTINGS)
    path = tmp_path / "troika.toml"
    path.write_text('[customer_service]\nrate_limit = "5/second"\n[recommender]\napi_key = "k-secret-123"\n')
    text = describe(load_config(path, env={}))
    assert 'rate_limit = "5/second"' in text and '# default: "20/second;600/minute"' in text
    assert 'api_key = "<set>"' in text and "k-secret-123" not in text
    assert "[finance_monitor.fetch]\nconnect_timeout = 5.0" in text
    for app, keys in (("customer_service", CS_KEYS), ("finance_monitor", FINANCE_KEYS), ("recommender", REC_KEYS)):
        table = text[text.index(f"[{app}]"):]
        assert all(f"{key.name} = " in table or f"{key.name}: " in table or f"[{app}.{key.name}]" in table for key in keys), app
    read = tomllib.loads(text)  # what it prints is a troika.toml each app accepts as it is
    check_keys(read["customer_service"])
    assert load_settings(read["finance_monitor"], base=tmp_path).bucket.total_seconds() == 3600
    assert plugin_settings(load_config(env={}).replace(sections={"recommender": read["recommender"]}))["rate_limit"] == "200/second"


def test_troika_config_output_is_a_troika_toml_that_reads_back(tmp_path, capsys, monkeypatch):
    import tomllib

    from shared.cli import main

    monkeypatch.chdir(tmp_path)
    assert main(["config"]) == 0
    out, err = capsys.readouterr()
    (tmp_path / "troika.toml").write_text(out)  # `troika config > troika.toml`
    assert "configuration: code defaults" in err and tomllib.loads(out)["port"] == 8000
    assert main(["config"]) == 0 and capsys.readouterr().out == out


def test_a_typo_in_the_customer_service_table_is_named():
    from customer_service.settings import check_keys

    with pytest.raises(ConfigError, match="unknown key.*rate_limt.*the keys are model"):
        check_keys({"rate_limt": "5/second"})
