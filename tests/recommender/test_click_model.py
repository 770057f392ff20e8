"""The click model on tiny original data: it trains, saves, loads, refuses a tampered file,
scores a cold-start item from its text and falls back for a cold-start user, saying so."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from recommender.click_model import ClickModel, ClickModelConfig
from recommender.click_pairs import click_pairs
from recommender.evaluation import load_amazon, load_movielens
from recommender.records import Item
from shared.errors import IntegrityError
from tests.recommender.tiny_data import write_amazon, write_movielens

# One encoder step on a handful of pairs: enough to run the whole path, seconds on a CPU.
FAST = dict(max_pairs=8, batch_size=4, max_seq_length=32, seed=0)


@pytest.fixture(scope="module")
def films(tmp_path_factory):
    folder = write_movielens(tmp_path_factory.mktemp("films"))
    return load_movielens(folder, folder / "ratings_train.csv", folder / "ratings_test.csv")


@pytest.fixture(scope="module")
def trained(films, tmp_path_factory):
    model = ClickModel(ClickModelConfig(**FAST)).fit(films.items, films.train, progress=False)
    out = model.save(tmp_path_factory.mktemp("model") / "click")
    return model, out


def test_training_saves_a_verified_directory_that_loads_with_the_same_scores(trained, films):
    model, out = trained
    assert model.encoder_metrics_["pairs"] == 8 and model.protocol_ == "impression"
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "rec-click-model"
    assert "item_vectors.safetensors" in manifest["files"] and any(f.startswith("encoder/") for f in manifest["files"])
    assert not [p for p in out.rglob("*") if p.suffix in {".pkl", ".bin", ".pt", ".npy"}]
    loaded = ClickModel.load(out)
    case = films.cases()[0]
    before = model.score(case.candidates, history=case.history, user=case.user)
    after = loaded.score(case.candidates, history=case.history, user=case.user)
    np.testing.assert_allclose(before.values, after.values, rtol=1e-5, atol=1e-6)
    assert before.source == after.source == "model"
    assert ((after.values > 0) & (after.values < 1)).all()


def test_a_cold_start_item_gets_a_probability_from_its_text_alone(trained):
    model = ClickModel.load(trained[1])
    new = Item("13", "Haunted Lighthouse (2002)", "Genres: Horror, Thriller.", ("Horror", "Thriller"))
    model.add_items([new])
    scores = model.score(["13", "5"], history=["1", "2", "3"])
    assert scores.source == "model" and np.isfinite(scores.values).all()
    assert 0 < scores.values[0] < 1
    assert 0 < model.click_probability(["13"], history=["1", "2"])[0] < 1


def test_a_cold_start_user_falls_back_and_says_so(trained):
    model = trained[0]
    for scores in (model.score(["1", "5", "9"], history=[]), model.score(["1", "5", "9"], user="nobody"),
                   model.score(["1", "5"], history=["not-an-item"])):
        assert scores.source == "fallback"
        assert ((scores.values > 0) & (scores.values < 1)).all()


def test_a_tampered_model_file_is_refused(trained, tmp_path):
    import shutil

    copy = tmp_path / "copy"
    shutil.copytree(trained[1], copy)
    state = json.loads((copy / "model.json").read_text())
    state["half_life"] = 99.0
    (copy / "model.json").write_text(json.dumps(state))
    with pytest.raises(IntegrityError, match="model.json does not match its sha256"):
        ClickModel.load(copy)
    with pytest.raises(IntegrityError, match="not a 'rec-click-model'|expected a 'rec-click-model'"):
        (copy / "manifest.json").write_text(json.dumps({"kind": "other", "files": {}}))
        ClickModel.load(copy)


def test_next_item_rows_train_an_order_aware_model(tmp_path):
    items, train, test = write_amazon(tmp_path)
    data = load_amazon(items, train, test)
    model = ClickModel(ClickModelConfig(**FAST, sampled_candidates=6)).fit(data.items, data.train, rows=data.rows, progress=False)
    assert model.protocol_ == "next-item"
    scores = model.score([i.id for i in data.items], history=["3"])  # a lab-goggles buyer: gloves next
    assert scores.source == "model"
    assert scores.values[[i.id for i in data.items].index("4")] == scores.values.max()


def test_pairs_come_from_click_sequences_with_the_users_dislikes_as_hard_negatives():
    documents = {k: f"text {k}" for k in "abcdefg"}
    pairs, negatives = click_pairs([("u", ["a", "b", "c"])], documents, views={"u": ["g"]}, n_negatives=2, seed=1)
    assert [p[1] for p in pairs] == ["text b", "text c"]
    assert all(row[0] == "text g" and len(row) == 2 and not set(row) & set(pair) for row, pair in zip(negatives, pairs))


@pytest.fixture(scope="module")
def loaded(trained):
    return ClickModel.load(trained[1])


@settings(max_examples=25, deadline=None)
@given(text=st.text(max_size=3000), categories=st.lists(st.text(max_size=20), max_size=3))
def test_any_item_text_gets_a_probability_and_batches_agree_with_single_items(loaded, text, categories):
    loaded.add_items([Item("new", text, text, tuple(categories))])  # empty, huge, any unicode: still an item
    both = loaded.score(["new", "5"], history=["1", "2", "3"]).values
    assert np.isfinite(both).all() and ((both > 0) & (both < 1)).all()
    single = [loaded.score([c], history=["1", "2", "3"]).values[0] for c in ("new", "5")]
    np.testing.assert_allclose(both, single, rtol=1e-6)
