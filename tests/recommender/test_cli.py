"""``troika rec train | evaluate | import | serve`` in the exact forms the issue lists, on tiny original files."""

import json

import pytest

from shared.cli import main
from tests.recommender.tiny_data import write_amazon, write_movielens

KEYS = {"auc", "mrr", "ndcg@5", "ndcg@10", "hit@10"}


@pytest.fixture(autouse=True)
def _vector_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("TROIKA_REC_CACHE", str(tmp_path / "cache"))


def check_report(report):
    assert KEYS <= set(report)
    assert set(report["baselines"]) == {"popularity", "als", "content"}
    for values in [report, *report["baselines"].values()]:
        assert all(0.0 <= values[k] <= 1.0 for k in KEYS)


def test_movielens_train_then_evaluate_json(tmp_path, capsys):
    folder = write_movielens(tmp_path / "ml")
    model = tmp_path / "model"
    assert main(["--quiet", "rec", "train", "--movielens", str(folder), "--train", str(folder / "ratings_train.csv"),
                 "--out", str(model), "--max-pairs", "8"]) == 0
    assert "trained the click model" in capsys.readouterr().out
    assert main(["--quiet", "rec", "evaluate", "--model", str(model), "--movielens", str(folder), "--train",
                 str(folder / "ratings_train.csv"), "--test", str(folder / "ratings_test.csv"), "--json"]) == 0
    out, err = capsys.readouterr()
    report = json.loads(out)
    check_report(report)
    assert report["protocol"] == "impression" and report["cases"] == 9
    assert "best baseline" in err and len(err.strip().splitlines()) == 1


def test_amazon_train_then_evaluate_json(tmp_path, capsys):
    items, train, test = write_amazon(tmp_path / "amz")
    model = tmp_path / "model"
    assert main(["--quiet", "rec", "train", "--amazon", str(items), "--train", str(train), "--out", str(model),
                 "--max-pairs", "8"]) == 0
    capsys.readouterr()
    assert main(["--quiet", "rec", "evaluate", "--model", str(model), "--amazon", str(items), "--train", str(train),
                 "--test", str(test), "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    check_report(report)
    assert report["protocol"].startswith("next-item") and report["cases"] == 12


def test_bad_files_and_a_tampered_model_are_one_clear_error(tmp_path, capsys):
    folder = write_movielens(tmp_path / "ml")
    assert main(["rec", "train", "--movielens", str(tmp_path / "nowhere"), "--train", str(folder / "ratings_train.csv"),
                 "--out", str(tmp_path / "m")]) == 2
    assert "no movies.csv" in capsys.readouterr().err
    (tmp_path / "bad.csv").write_text("userId,movieId,rating,timestamp\nu1,999,x,1\n")
    assert main(["rec", "train", "--movielens", str(folder), "--train", str(tmp_path / "bad.csv"), "--out", str(tmp_path / "m")]) == 2
    assert "no usable rows" in capsys.readouterr().err
    assert main(["rec", "train", "--movielens", str(folder), "--amazon", str(folder / "movies.csv"), "--train",
                 str(folder / "ratings_train.csv"), "--out", str(tmp_path / "m")]) == 2
    assert "exactly one of" in capsys.readouterr().err
    fake = tmp_path / "fake-model"
    fake.mkdir()
    (fake / "model.json").write_text("{}")
    assert main(["rec", "evaluate", "--model", str(fake), "--movielens", str(folder), "--train", str(folder / "ratings_train.csv"),
                 "--test", str(folder / "ratings_test.csv")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("troika: error:") and "manifest" in err and "Traceback" not in err


def test_import_loads_files_into_the_app_database(tmp_path, capsys, monkeypatch):
    folder = write_movielens(tmp_path / "ml")
    monkeypatch.setenv("TROIKA_DATABASE_URL", f"sqlite:///{tmp_path / 'rec.db'}")
    for _ in range(2):  # idempotent: a second import writes the same rows
        assert main(["rec", "import", "--movielens", str(folder)]) == 0
        assert "imported 12 items" in capsys.readouterr().out
    from recommender.catalogue import Catalogue
    from shared.storage import make_engine

    counts = Catalogue(make_engine(f"sqlite:///{tmp_path / 'rec.db'}")).counts()
    assert counts["items"] == 12 and counts["feedback"] == 108


def test_help_shows_examples(capsys):
    with pytest.raises(SystemExit):
        main(["rec", "evaluate", "--help"])
    assert "troika rec evaluate --model" in capsys.readouterr().out


def test_retrain_fits_the_app_database_and_publish_serves_a_trained_model(tmp_path, capsys, monkeypatch):
    folder = write_movielens(tmp_path / "ml")
    monkeypatch.setenv("TROIKA_DATABASE_URL", f"sqlite:///{tmp_path / 'rec.db'}")
    monkeypatch.setenv("TROIKA_VAR_DIR", str(tmp_path / "var"))
    assert main(["rec", "retrain"]) == 2
    assert "no items" in capsys.readouterr().err  # an empty database says what to do
    assert main(["--quiet", "rec", "import", "--movielens", str(folder)]) == 0
    capsys.readouterr()
    assert main(["--quiet", "rec", "retrain", "--no-fine-tune"]) == 0
    assert capsys.readouterr().out.startswith("promoted: held-out auc old none")

    from recommender.plugin import model_store
    from shared.config import load_config

    store = model_store(load_config())
    first = store.active()
    model = tmp_path / "trained"
    assert main(["--quiet", "rec", "train", "--movielens", str(folder), "--train", str(folder / "ratings_train.csv"),
                 "--out", str(model), "--no-fine-tune"]) == 0
    assert main(["rec", "publish", str(model)]) == 0
    assert "now active" in capsys.readouterr().out and store.active() != first and len(store.versions()) == 2
    (model / "model.json").write_text("{}")  # tampered: refused before anything is copied
    assert main(["rec", "publish", str(model)]) == 2
    assert "manifest" in capsys.readouterr().err and len(store.versions()) == 2
