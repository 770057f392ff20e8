"""`troika finance replay | scrape-once | run`, in the forms the issue and the README give."""

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from finance_monitor.backtest import replay_settings
from finance_monitor.demo_feed import demo_feed
from finance_monitor.pipeline import serving_dir
from finance_monitor.settings import DEMO_DIR, load_settings
from shared.cli import main
from tests.finance_monitor.local_http import QuietHandler, serve
from tests.finance_monitor.monitor_helpers import UTC, Clock, demo_scorer, make_monitor, trained_demo_model

REPO = Path(__file__).resolve().parents[2]
# Detector minimums sized for the few dozen rows of the demo stream (the defaults suit real feeds).
SMALL_DETECTOR = '[finance_monitor.detector]\nmin_total = 6\nmin_negative = 4\nmin_baseline_total = 5\nmin_baseline_buckets = 6\n'


@pytest.fixture(scope="module")
def model():
    return trained_demo_model()


def write_config(tmp_path, body: str) -> Path:
    path = tmp_path / "troika.toml"
    path.write_text(f'var_dir = "{tmp_path / "var"}"\n[finance_monitor]\ntopic_threshold = false\n{body}')
    return path


def test_replay_prints_json_alerts_with_the_required_keys(tmp_path, model, capsys):
    config = write_config(tmp_path, 'bucket = "hour"\n' + SMALL_DETECTOR)
    code = main(["--quiet", "finance", "replay", "--model", str(model), "--data", str(DEMO_DIR / "stream.csv"),
                 "--config", str(config), "--json"])
    captured = capsys.readouterr()
    assert code == 0
    document = json.loads(captured.out)  # stdout holds only the JSON
    assert document["skipped_rows"] == {"count": 0, "rows": [], "ignored_columns": []}
    alerts = document["alerts"]
    assert {a["topic"] for a in alerts} >= {"banks"}
    for alert in alerts:
        assert {"topic", "started_at", "resolved_at", "severity", "evidence"} <= set(alert)
        assert alert["started_at"] == "2026-03-02T07:00:00+00:00" and alert["resolved_at"] is None  # still firing at the end
        assert alert["severity"] in ("warning", "critical")
        assert alert["evidence"]["negative"] >= 4 and "Harbourline" in " ".join(alert["evidence"]["top_negative_headlines"])
    summary = captured.err.strip().splitlines()[-1]
    assert summary.startswith("replayed 58 rows") and f"{len(alerts)} alert(s)" in summary


def test_replay_of_the_demo_stream_raises_the_alerts_the_live_monitor_raises(tmp_path, model, capsys):
    # The live monitor as the server starts it with no sources: poll the demo stream (its times moved to end
    # now), then one detection pass.
    live = make_monitor(f"sqlite:///{tmp_path}/live.db", {"topic_threshold": False}, scorer=demo_scorer(),
                        clock=Clock(dt.datetime(2026, 5, 4, 12, 30, tzinfo=UTC)))
    live.catch_up()
    shift = dt.timedelta(seconds=live.store.source_state("demo")["cursor"]["shift_seconds"])
    raised = sorted((a["topic"], a["rule"], a["started_at"] - shift, a["severity"]) for a in live.store.alerts())
    assert "banks" in {topic for topic, *_ in raised}

    config = write_config(tmp_path, "")  # the same troika.toml: no sources, so the demo's settings
    assert main(["--quiet", "finance", "replay", "--model", str(model), "--data", str(DEMO_DIR / "stream.csv"),
                 "--config", str(config), "--json"]) == 0
    alerts = json.loads(capsys.readouterr().out)["alerts"]
    replayed = sorted((a["topic"], a["rule"], dt.datetime.fromisoformat(a["started_at"]), a["severity"]) for a in alerts)
    assert replayed == raised


def test_replay_takes_the_servers_settings_for_a_file_the_server_polls_and_archive_settings_otherwise(tmp_path):
    demo, archive = DEMO_DIR / "stream.csv", tmp_path / "archive.csv"
    archive.write_text("published_at,time_precision,source,ticker,headline,description\n2019-05-06,day,wire,,A headline,\n")
    live = replay_settings({}, demo)
    assert live.live_source == "demo" and live.monitor.bucket == dt.timedelta(hours=1)
    assert live.monitor.rules == load_settings({}).rules  # the demo detector, as the server runs it
    past = replay_settings({}, archive)
    assert past.live_source is None and past.monitor.bucket == dt.timedelta(days=1)
    assert [r.name for r in past.monitor.rules] == ["negative_volume", "negative_volume/week"]
    # A configured replay source is the server's file too; --bucket overrides the table's bucket.
    section = {"bucket": "hour", "sources": [{"name": "export", "kind": "replay", "path": str(archive)}]}
    assert replay_settings(section, archive).live_source == "export"
    assert replay_settings(section, archive, bucket="day").monitor.bucket == dt.timedelta(days=1)
    assert replay_settings(section, demo).monitor.bucket == dt.timedelta(hours=1)  # not polled: the table's bucket kept


def test_replay_of_a_tiny_daily_stream_prints_a_table(tmp_path, model, capsys):
    rows = ["published_at,time_precision,source,ticker,headline,description"]
    for day in range(1, 21):  # twenty calm days, then a bad one for a made-up oil producer
        rows += [f"2025-06-{day:02d},day,wire,,Oil output steady at Fenwick Petroleum in week {day} item {k},"for k in range(4)]
    rows += [f"2025-06-21,day,wire,,Fenwick Petroleum shares plunge after a refinery fire and heavy losses {k},"for k in range(8)]
    data = tmp_path / "stream.csv"
    data.write_text("\n".join(rows) + "\n")
    config = write_config(tmp_path, SMALL_DETECTOR)
    assert main(["--quiet", "finance", "replay", "--model", str(model), "--data", str(data), "--config", str(config),
                 "--from", "2025-06-10"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split()[:4] == ["topic", "started_at", "resolved_at", "severity"]
    assert any(line.startswith("energy") and "2025-06-21" in line for line in out[1:])


def test_replay_refuses_a_missing_file_in_one_line(tmp_path, model, capsys):
    assert main(["finance", "replay", "--model", str(model), "--data", str(tmp_path / "nope.csv")]) == 2
    assert capsys.readouterr().err.strip().startswith("troika: error: --data")


def test_replay_serves_the_onnx_export_when_there_is_one(tmp_path):
    torch_dir, onnx_dir = tmp_path / "sentiment", tmp_path / "sentiment-onnx"
    torch_dir.mkdir()
    (torch_dir / "manifest.json").write_text('{"kind": "classifier"}')
    assert serving_dir(torch_dir) == torch_dir  # no export beside it: torch
    onnx_dir.mkdir()
    (onnx_dir / "manifest.json").write_text('{"kind": "onnx-classifier"}')
    assert serving_dir(torch_dir) == onnx_dir and serving_dir(onnx_dir) == onnx_dir


def test_help_explains_each_verb_with_examples(capsys):
    for verb in ("replay", "scrape-once", "run"):
        with pytest.raises(SystemExit):
            main(["finance", verb, "--help"])
        assert "example" in capsys.readouterr().out


class Feed(QuietHandler):
    def do_GET(self):
        if self.path == "/broken":
            self.send(500, b"oops")
        else:
            self.send(200, demo_feed(), [("Content-Type", "application/rss+xml")])


def test_scrape_once_polls_every_source_and_prints_a_line_for_each(tmp_path, model, capsys):
    with serve(Feed) as base:
        config = write_config(tmp_path, f'sentiment_model = "{model}"\n'
                              f'[[finance_monitor.sources]]\nname = "wire"\nkind = "rss"\nurl = "{base}/feed.xml"\n'
                              f'[[finance_monitor.sources]]\nname = "broken"\nkind = "rss"\nurl = "{base}/broken"\n')
        assert main(["--quiet", "finance", "scrape-once", "--config", str(config)]) == 0
        lines = capsys.readouterr().out.strip().splitlines()
        assert lines[0].startswith("wire: ok, 58 fetched, 58 new") and lines[1].startswith("broken: error")
        assert lines[-1] == "polled 2 source(s): 58 new article(s), 58 scored; failed: broken"
        assert main(["--quiet", "finance", "scrape-once", "--config", str(config), "--source", "wire"]) == 0
        assert capsys.readouterr().out.strip().splitlines()[-1] == "polled 1 source(s): 0 new article(s), 0 scored"
        assert main(["finance", "scrape-once", "--config", str(config), "--source", "nope"]) == 2
        assert "no source named 'nope'" in capsys.readouterr().err


def test_run_keeps_the_scheduler_going_until_sigterm_then_stops_cleanly(tmp_path, model):
    config = write_config(tmp_path, f'sentiment_model = "{model}"\n')  # the demo replay source
    process = subprocess.Popen([sys.executable, "-m", "shared.cli", "--quiet", "finance", "run", "--config", str(config)],
                               cwd=REPO, env={**os.environ, "HF_HUB_OFFLINE": "1"}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        first = process.stdout.readline()
        assert first.startswith("scheduler running: ") and "source:demo" in first and "detect" in first
        time.sleep(0.5)
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, err
    assert out.strip().endswith("scheduler stopped")


def _second_precision_export(path, bad_line: bool = True):
    """An export as a news vendor ships it: second-precision times, an id and a link, a column we do not use."""
    rows = ["article_id,published_at,time_precision,source,ticker,headline,description,url,desk"]
    for day in range(1, 21):
        for k in range(4):
            rows.append(f"a{day}-{k},2025-06-{day:02d}T09:{k:02d}:17+00:00,second,wire,,Oil output steady at Fenwick Petroleum in week {day} item {k},,"
                        f"https://n.example/{day}/{k},energy")
    for k in range(8):
        rows.append(f"b{k},2025-06-21T10:{k:02d}:05Z,,wire,,Fenwick Petroleum shares plunge after a refinery fire and heavy losses {k},,"
                    f"https://n.example/21/{k},energy")
    if bad_line:
        rows.insert(5, "zz,not a time,second,wire,,A row with a broken time,,,energy")  # line 6
    path.write_text("\n".join(rows) + "\n")


def test_replay_json_of_a_second_precision_export_with_extra_columns(tmp_path, model, capsys):
    data = tmp_path / "export.csv"
    _second_precision_export(data)
    config = write_config(tmp_path, SMALL_DETECTOR)
    assert main(["--quiet", "finance", "replay", "--model", str(model), "--data", str(data), "--config", str(config),
                 "--from", "2025-06-10", "--json"]) == 0
    captured = capsys.readouterr()
    document = json.loads(captured.out)
    assert any(a["topic"] == "energy" and a["started_at"].startswith("2025-06-21") for a in document["alerts"])
    skipped = document["skipped_rows"]
    assert skipped["count"] == 1 and skipped["rows"][0]["line"] == 6 and "bad published_at" in skipped["rows"][0]["reason"]
    assert skipped["ignored_columns"] == ["desk"]
    err = captured.err.strip().splitlines()
    assert sum("ignored column(s) desk" in line for line in err) == 1
    assert any(line.endswith("export.csv:6: skipped: bad published_at (Invalid isoformat string: 'not a time')") for line in err)
    assert err[-1].startswith("replayed ") and err[-1].endswith("1 bad row(s) skipped (listed above)")


def test_replay_strict_stops_at_the_first_bad_row(tmp_path, model, capsys):
    data = tmp_path / "export.csv"
    _second_precision_export(data)
    assert main(["--quiet", "finance", "replay", "--model", str(model), "--data", str(data), "--strict", "--json"]) == 2
    captured = capsys.readouterr()
    assert captured.out == "" and "export.csv:6: bad published_at" in captured.err
