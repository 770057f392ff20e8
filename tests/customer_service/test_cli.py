"""``troika cs train`` / ``troika cs evaluate`` in the exact forms the figures are checked with, on tiny CSVs."""

import csv
import json

import pytest

from shared.cli import main

from .conftest import OOS_TRAIN, OOS_VALIDATION, TRAIN, VALIDATION


def write_csv(path, rows, header=("text", "intent")):
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return str(path)


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    d = tmp_path_factory.mktemp("cs")
    return {
        "train": write_csv(d / "train.csv", [(t, i) for i, ts in TRAIN.items() for t in ts]),
        # Validation carries its out-of-scope rows inline (intent "oos"), as CLINC150 exports do.
        "validation": write_csv(d / "val.csv", [(t, i) for i, ts in VALIDATION.items() for t in ts] + [(t, "oos") for t in OOS_VALIDATION[:1]]),
        "oos_train": write_csv(d / "oos_train.csv", [(t, "oos") for t in OOS_TRAIN]),
        "oos_validation": write_csv(d / "oos_val.csv", [(t, "oos") for t in OOS_VALIDATION[1:]]),
        "dir": d,
    }


@pytest.fixture(scope="module")
def model(files):
    out = files["dir"] / "model"
    assert main(["--quiet", "cs", "train", "--intents", files["train"], "--validation", files["validation"], "--oos-train", files["oos_train"],
                 "--oos-validation", files["oos_validation"], "--mode", "fast", "--out", str(out)]) == 0
    return out


def test_train_then_evaluate_prints_every_figure_as_json(model, files, capsys):
    capsys.readouterr()
    assert main(["cs", "evaluate", "--model", str(model), "--data", files["validation"], "--oos", files["oos_validation"]]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)
    for key in ("accuracy", "in_scope_accuracy", "oos_recall", "oos_precision", "macro_f1", "answered", "clarified", "retrieved",
                "out_of_scope", "handed_off"):
        assert 0.0 <= report[key] <= 1.0, key
    assert (report["n"], report["n_in_scope"], report["n_oos"]) == (9, 6, 3)
    assert report["in_scope_accuracy"] <= report["accuracy"]
    # oos_action = "reply" (the default): what the bot cannot answer gets an out-of-scope reply, no handoff.
    assert report["answered"] + report["clarified"] + report["out_of_scope"] == pytest.approx(1.0) and report["handed_off"] == 0
    assert "in-scope accuracy" in captured.err and "{" not in captured.err
    assert report["runtime"] == "torch"
    # The int8 encoder the server answers with, saved next to the model, gives about the same figures.
    assert main(["cs", "evaluate", "--model", str(model), "--data", files["validation"], "--oos", files["oos_validation"],
                 "--runtime", "onnx"]) == 0
    served = json.loads(capsys.readouterr().out)
    assert served["runtime"] == "onnx" and abs(served["accuracy"] - report["accuracy"]) <= 2 / 9
    assert main(["cs", "evaluate", "--model", str(model), "--data", files["validation"], "--oos", files["oos_validation"],
                 "--oos-action", "handoff"]) == 0
    handing_off = json.loads(capsys.readouterr().out)
    assert (handing_off["handed_off"], handing_off["out_of_scope"]) == (report["out_of_scope"], 0.0)


def test_evaluate_without_out_of_scope_rows_reports_no_oos_recall(model, files, capsys):
    data = write_csv(files["dir"] / "in_scope.csv", [(t, i) for i, ts in VALIDATION.items() for t in ts])
    capsys.readouterr()
    assert main(["cs", "evaluate", "--model", str(model), "--data", data]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n_oos"] == 0 and report["oos_recall"] is None


def test_bad_input_is_one_line_and_exit_2(model, files, capsys):
    unknown = write_csv(files["dir"] / "unknown.csv", [("how do I fly a kite", "kites")])
    assert main(["cs", "evaluate", "--model", str(model), "--data", unknown]) == 2
    assert capsys.readouterr().err.strip() == "troika: error: intents the model was not trained on: kites"
    missing_column = write_csv(files["dir"] / "bad.csv", [("a",)], header=("sentence",))
    assert main(["cs", "train", "--intents", missing_column, "--validation", files["validation"], "--mode", "fast",
                 "--out", str(files["dir"] / "never")]) == 2
    assert capsys.readouterr().err.count("\n") == 1
    assert main(["cs", "train", "--intents", files["train"], "--validation", files["validation"], "--set", "rdrop=-1",
                 "--out", str(files["dir"] / "never")]) == 2
    assert "rdrop must be 0 (off) or a positive weight" in capsys.readouterr().err
    assert not (files["dir"] / "never").exists()
    assert main(["cs", "evaluate", "--model", str(files["dir"] / "nothing"), "--data", files["validation"]]) == 2


def test_evaluate_lists_skipped_rows_on_stderr_and_strict_stops_at_them(model, files, capsys):
    rows = [(t, i) for i, ts in VALIDATION.items() for t in ts]
    data = write_csv(files["dir"] / "with_bad_rows.csv", rows[:2] + [("", "lost_card"), ("no intent here", "")] + rows[2:])
    capsys.readouterr()
    assert main(["cs", "evaluate", "--model", str(model), "--data", data]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n"] == len(rows)  # stdout stays the JSON alone
    assert f"{data}:4: skipped: empty 'text'\n{data}:5: skipped: empty 'intent'\n" in captured.err
    assert captured.err.rstrip().endswith("; 2 bad row(s) skipped (listed above)")
    assert main(["cs", "evaluate", "--model", str(model), "--data", data, "--strict"]) == 2
    assert f"{data}:4: empty 'text'" in capsys.readouterr().err


def test_chat_answers_each_line_with_its_path_until_an_empty_line(monkeypatch, capsys):
    import io

    monkeypatch.setattr("sys.stdin", io.StringIO("I lost my card\nwhat are your phone opening hours\n\nnever read\n"))
    assert main(["--quiet", "cs", "chat"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("bot [intent: card_lost]: Freeze the card")
    assert out[1].startswith("bot [retrieval]: Our phone line is open")
    assert out[2] == "  source: When can I reach the support team by phone? <https://help.lumen.example/contact>"
    assert out[-1] == "2 message(s) answered" and not any("never read" in line for line in out)


def test_chat_with_a_model_needs_its_responses(model, capsys):
    assert main(["cs", "chat", "--model", str(model)]) == 2
    assert "--model needs --responses" in capsys.readouterr().err


def test_tune_retrieval_fine_tunes_the_knowledge_base_encoder_and_the_bot_serves_it(tmp_path, capsys, db_url):
    from customer_service.plugin import DEMO_FILES, make_plugin
    from shared.config import load_config
    from shared.server import build_app

    faq = DEMO_FILES["knowledge"][0]
    questions = tmp_path / "questions.csv"
    questions.write_text("text,passage_id\nwhen is the phone line open,faq-1\ncan I call you on sunday,faq-1\n")
    out = tmp_path / "kb-encoder"
    assert main(["--quiet", "cs", "tune-retrieval", "--knowledge", str(faq), "--questions", str(questions),
                 "--out", str(out), "--epochs", "1"]) == 0
    summary = capsys.readouterr().out
    assert "held-out pairs: recall@1" in summary and f'retrieval_model = "{out}"' in summary
    assert (out / "manifest.json").exists()

    config = load_config(env={}, var_dir=tmp_path / "var", testing=True, apps=["customer_service"], database_url=db_url)
    config = config.replace(sections={"customer_service": {"retrieval_model": str(out)}})
    plugin = make_plugin(config)
    plugin.prepare()
    assert plugin.state.bot.knowledge.embedder.path.name.startswith("kb-encoder-")  # its ONNX export serves
    body = build_app(config, [plugin]).test_client().post("/cs/api/chat", json={"message": "is my money protected if the bank fails?"}).json
    assert body["path"] == "retrieval"


def test_tune_retrieval_refuses_phrasings_of_unknown_passages(tmp_path, capsys):
    from customer_service.plugin import DEMO_FILES

    questions = tmp_path / "questions.csv"
    questions.write_text("text,passage_id\nwhen is the phone line open,no-such-passage\n")
    assert main(["cs", "tune-retrieval", "--knowledge", str(DEMO_FILES["knowledge"][0]), "--questions", str(questions),
                 "--out", str(tmp_path / "x")]) == 2
    assert "no-such-passage" in capsys.readouterr().err


def test_train_to_serve_with_torch_saves_no_export_and_records_it(files, tmp_path):
    out = tmp_path / "torch-model"
    assert main(["--quiet", "cs", "train", "--intents", files["train"], "--validation", files["validation"], "--oos-train", files["oos_train"],
                 "--oos-validation", files["oos_validation"], "--mode", "fast", "--serve", "torch", "--out", str(out)]) == 0
    assert not (out / "onnx").exists()
    assert json.loads((out / "detector.json").read_text())["serve"] == "torch"
