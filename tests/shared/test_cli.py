import json
import subprocess
import sys

import pytest

from shared.cli import main
from tests.conftest import SHARED_DATA, write_csv


@pytest.fixture(scope="module")
def trained(tmp_path_factory, tiny_csv):
    out = tmp_path_factory.mktemp("cli") / "model"
    assert main(["--quiet", "train-classifier", "--train", str(tiny_csv), "--validation", str(tiny_csv), "--mode", "fast", "--out", str(out)]) == 0
    return out


def test_train_prints_a_one_line_summary(tiny_csv, tmp_path, capsys):
    out = tmp_path / "model"
    assert main(["--quiet", "train-classifier", "--train", str(tiny_csv), "--mode", "fast", "--out", str(out)]) == 0
    summary = capsys.readouterr().out.strip().splitlines()[-1]
    assert summary.startswith("trained a fast model on ") and "4 labels" in summary and summary.endswith(str(out))
    assert (out / "manifest.json").is_file()


def test_set_overrides_a_training_setting_and_a_bad_one_writes_nothing(tiny_csv, tmp_path, capsys):
    from shared.classifier import TextClassifier

    out = tmp_path / "model"
    argv = ["--quiet", "train-classifier", "--train", str(tiny_csv), "--mode", "fast", "--out", str(out)]
    assert main([*argv, "--set", "fast_c_grid=2.5", "--set", "guard_size=0"]) == 0
    config = TextClassifier.load(out).config
    assert (config.fast_c_grid, config.guard_size) == ((2.5,), 0)
    capsys.readouterr()
    assert main([*argv[:-1], str(tmp_path / "other"), "--set", "fast_c_grid=big"]) == 2
    assert "fast_c_grid" in capsys.readouterr().err and not (tmp_path / "other").exists()


def test_evaluate_prints_json_metrics(trained, tiny_csv, capsys):
    assert main(["evaluate-classifier", "--model", str(trained), "--data", str(tiny_csv)]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    assert report["accuracy"] >= 0.95 and report["n"] == 32
    assert "accuracy" in err.strip().splitlines()[-1]


def test_unknown_label_at_evaluation_is_one_line_and_exit_2(trained, tmp_path, capsys):
    data = write_csv(tmp_path / "new.csv", [{"text": "can I get a loan", "category": "loan"}])
    assert main(["evaluate-classifier", "--model", str(trained), "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not trained on: loan" in err


@pytest.mark.parametrize(
    "content, message",
    [("", "no rows"), ("words,category\nhi,greet\n", "no text column"), ("text,topic\nhi,greet\n", "no label column")],
)
def test_bad_training_files_are_one_line_errors(tmp_path, capsys, content, message):
    path = tmp_path / "bad.csv"
    path.write_text(content)
    assert main(["train-classifier", "--train", str(path), "--mode", "fast", "--out", str(tmp_path / "m")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("troika: error:") and message in err and "Traceback" not in err
    assert not (tmp_path / "m").exists()


def test_missing_model_directory_is_a_clear_error(tiny_csv, tmp_path, capsys):
    assert main(["evaluate-classifier", "--model", str(tmp_path / "nope"), "--data", str(tiny_csv)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_export_onnx_reports_agreement(trained, tiny_csv, capsys):
    assert main(["export-onnx", "--model", str(trained), "--check", str(tiny_csv)]) == 0
    out = capsys.readouterr().out
    assert "top-1 agreement" in out
    assert main(["evaluate-classifier", "--model", str(trained) + "-onnx", "--data", str(tiny_csv)]) == 0


def test_console_script_help_explains_the_commands():
    result = subprocess.run([sys.executable, "-m", "shared.cli", "--help"], capture_output=True, text=True, check=True)
    for command in ("run", "train-classifier", "evaluate-classifier", "export-onnx", "retrain-classifier"):
        assert command in result.stdout


@pytest.mark.skipif(not (SHARED_DATA / "banking77" / "validation.csv").is_file(), reason="../shared/data/banking77 not present")
def test_evaluate_works_on_banking77_files_as_they_are(tmp_path, capsys):
    import csv

    rows = list(csv.DictReader(open(SHARED_DATA / "banking77" / "train.csv", encoding="utf-8")))
    per_label = {}
    for row in rows:
        per_label.setdefault(row["category"], [])
        if len(per_label[row["category"]]) < 8:
            per_label[row["category"]].append(row)
    subset = write_csv(tmp_path / "subset.csv", [r for group in per_label.values() for r in group])
    model = tmp_path / "b77"
    assert main(["--quiet", "train-classifier", "--train", str(subset), "--mode", "fast", "--out", str(model)]) == 0
    capsys.readouterr()
    assert main(["evaluate-classifier", "--model", str(model), "--data", str(SHARED_DATA / "banking77" / "validation.csv")]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["n"] == 1003 and len(report["per_label"]) == 77
    assert report["accuracy"] > 0.6  # 8 examples per intent, frozen encoder
