"""`troika finance train` and `troika finance evaluate`, in exactly the forms the issue gives."""

import contextlib
import io
import json

import pytest

from finance_monitor.scoring.sentiment import SentimentModel
from shared.cli import main
from tests.finance_monitor.test_sentiment_data import write_phrasebank, write_tweets


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("finance-cli")
    pb, tw = write_phrasebank(tmp / "pb.csv"), write_tweets(tmp / "tw.csv")
    out = tmp / "model"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):  # capsys is per test; this fixture runs once per module
        code = main(["--quiet", "finance", "train", "--train", str(pb), str(tw), "--validation", str(pb), str(tw), "--mode", "fast", "--out", str(out)])
    assert code == 0
    return out, pb, tw, stdout.getvalue()


def test_train_writes_the_model_its_onnx_export_and_a_one_line_summary(trained):
    out, _, _, summary = trained
    assert (out / "manifest.json").is_file()
    assert (out.with_name(out.name + "-onnx") / "model.onnx").is_file()
    assert len(summary.strip().splitlines()) == 1
    assert "validation accuracy" in summary and str(out) in summary


def test_evaluate_prints_json_with_agreement_accuracy_for_phrasebank_files(trained, capsys):
    out, pb, _, _ = trained
    capsys.readouterr()
    assert main(["finance", "evaluate", "--model", str(out), "--data", str(pb)]) == 0
    captured = capsys.readouterr()
    report = json.loads(captured.out)  # stdout is only the JSON
    for key in ("accuracy", "macro_f1", "accuracy_agree_100"):
        assert 0 <= report[key] <= 1
    assert len(captured.err.strip().splitlines()) == 1 and "accuracy" in captured.err


def test_evaluate_a_twitter_file_with_the_onnx_export(trained, capsys):
    out, _, tw, _ = trained
    capsys.readouterr()
    assert main(["finance", "evaluate", "--model", str(out.with_name(out.name + "-onnx")), "--data", str(tw)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert 0 <= report["accuracy"] <= 1 and 0 <= report["macro_f1"] <= 1
    assert "accuracy_agree_100" not in report


def test_the_onnx_export_serves_the_same_labels(trained):
    out, _, _, _ = trained
    texts = ["Profits soared and the outlook was raised", "Losses deepened and jobs were cut", "The meeting is on Monday"]
    torch_model, onnx_model = SentimentModel.load(out), SentimentModel.load(out.with_name(out.name + "-onnx"))
    assert [s.label for s in onnx_model.score_headlines(texts)] == [s.label for s in torch_model.score_headlines(texts)]


@pytest.mark.parametrize(
    "content, message",
    [
        ("headline,score\nup,1\n", "not a sentiment file"),
        ("text,label\nshares up,7\n", "label '7'"),
    ],
)
def test_a_bad_file_is_one_line_and_exit_2(trained, tmp_path, capsys, content, message):
    out, pb, _, _ = trained
    bad = tmp_path / "bad.csv"
    bad.write_text(content)
    capsys.readouterr()
    for argv in (
        ["finance", "evaluate", "--model", str(out), "--data", str(bad)],
        ["finance", "train", "--train", str(pb), str(bad), "--validation", str(pb), "--mode", "fast", "--out", str(tmp_path / "m")],
    ):
        assert main(argv) == 2
        captured = capsys.readouterr()
        lines = captured.err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("troika: error:") and message in lines[0]
        assert captured.out == ""
    assert not (tmp_path / "m").exists()


def test_a_bad_training_setting_is_one_line_and_exit_2(trained, tmp_path, capsys):
    _, pb, tw, _ = trained
    capsys.readouterr()
    assert main(["finance", "train", "--train", str(pb), "--validation", str(tw), "--set", "layer_decay=2", "--out", str(tmp_path / "m")]) == 2
    assert capsys.readouterr().err.strip() == "troika: error: layer_decay must be in (0, 1], 1 being off, got 2.0"
    assert not (tmp_path / "m").exists()


def test_a_missing_model_is_one_line_and_exit_2(trained, tmp_path, capsys):
    _, pb, _, _ = trained
    capsys.readouterr()
    assert main(["finance", "evaluate", "--model", str(tmp_path / "absent"), "--data", str(pb)]) == 2
    assert capsys.readouterr().err.startswith("troika: error:")


def test_evaluate_skips_rows_with_an_unknown_label_unless_strict(trained, tmp_path, capsys):
    out, _, _, _ = trained
    data = tmp_path / "mixed.csv"
    data.write_text("text,label\nProfits soared at Kestrel Foods,1\nBrindle Tools shares drift,bullish\nLosses deepened at Brindle Tools,0\n")
    capsys.readouterr()
    assert main(["finance", "evaluate", "--model", str(out), "--data", str(data)]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["n"] == 2
    err = captured.err.strip().splitlines()
    assert err[0] == f"{data}:3: skipped: label 'bullish' is not 0 (Bearish), 1 (Bullish) or 2 (Neutral)"
    assert err[-1].endswith("1 bad row(s) skipped (listed above)")
    assert main(["finance", "evaluate", "--model", str(out), "--data", str(data), "--strict"]) == 2
    assert f"{data}:3: label 'bullish'" in capsys.readouterr().err


def test_a_teacher_directory_distils_into_a_student_with_the_stream_as_unlabelled_transfer(trained, tmp_path, capsys):
    from tests.conftest import write_csv

    teacher, pb, tw, _ = trained
    stream = write_csv(tmp_path / "stream.csv", [{"published_at": f"2020-01-0{i + 1}", "headline": h} for i, h in enumerate(
        ["Chipmaker shares slump after a profit warning", "Retailer lifts its full-year guidance", "Central bank holds rates", ""])])
    out = tmp_path / "student"
    argv = ["--quiet", "finance", "train", "--train", str(pb), str(tw), "--validation", str(pb), str(tw), "--teacher", str(teacher),
            "--unlabelled", str(stream), "--set", "epochs=1", "--set", "interpolation_grid=0", "--out", str(out)]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert len(captured.out.strip().splitlines()) == 1, captured.out  # --quiet: the summary line alone
    assert "(reused)" in captured.out and "3 unlabelled" in captured.out and "stream.csv:5: skipped: empty 'headline'" in captured.err
    record = SentimentModel.load(out).classifier.metrics["distillation"]
    assert record["teacher_reused"] and record["transfer_set"]["unlabelled"] == 3 and record["transfer_set"]["sources"] == [str(stream)]
    assert SentimentModel.load(out.with_name(out.name + "-onnx")).score_headlines(["Shares jump"])  # exported for serving


def test_a_trained_model_as_base_model_is_exported_and_served_as_it_is(trained, tmp_path, capsys):
    teacher, pb, tw, _ = trained
    out = tmp_path / "accurate-tier"
    assert main(["--quiet", "finance", "train", "--train", str(pb), str(tw), "--validation", str(pb), str(tw),
                 "--base-model", str(teacher), "--out", str(out)]) == 0
    assert f"packaged the trained model {teacher} as it is (not trained again)" in capsys.readouterr().out
    texts = ["Profits soared and the outlook was raised", "Losses deepened and jobs were cut"]
    same, served = SentimentModel.load(teacher), SentimentModel.load(out.with_name(out.name + "-onnx"))
    assert [s.label for s in served.score_headlines(texts)] == [s.label for s in same.score_headlines(texts)]
    assert SentimentModel.load(out).classifier.metrics["reused_from"] == str(teacher)


def test_a_model_trained_to_serve_fp32_is_exported_and_retrained_in_fp32(tmp_path, capsys):
    from finance_monitor.models import served_quantized
    from finance_monitor.retraining import learn_corrections
    from shared.artifacts import ArtifactStore, onnx_dir

    pb, tw = write_phrasebank(tmp_path / "pb.csv"), write_tweets(tmp_path / "tw.csv")
    out = tmp_path / "model"
    assert main(["--quiet", "finance", "train", "--train", str(pb), str(tw), "--validation", str(pb), "--mode", "fast",
                 "--serve", "onnx-fp32", "--out", str(out)]) == 0
    assert "fp32 ONNX for serving" in capsys.readouterr().out
    export = out.with_name(out.name + "-onnx")
    assert json.loads((export / "onnx_classifier.json").read_text())["quantized"] is False
    assert served_quantized(out) is False
    rows = [{"title": t, "label": label} for t, label in [("Profits soared", "positive"), ("Record revenue and a raised outlook", "positive"),
                                                          ("Losses deepened", "negative"), ("Jobs were cut after a loss", "negative")]]
    outcome = learn_corrections(ArtifactStore(tmp_path / "versions"), out, rows, tolerance=1.0)
    assert outcome.result is not None and outcome.result.promoted, outcome.reason
    assert json.loads((onnx_dir(outcome.result.version) / "onnx_classifier.json").read_text())["quantized"] is False


def test_no_onnx_is_serve_torch(tmp_path):
    pb = write_phrasebank(tmp_path / "pb.csv")
    assert main(["--quiet", "finance", "train", "--train", str(pb), "--validation", str(pb), "--mode", "fast", "--no-onnx",
                 "--out", str(tmp_path / "m")]) == 0
    assert not (tmp_path / "m-onnx").exists()
