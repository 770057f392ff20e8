import json
import logging
import shutil

import numpy as np
import pytest

from shared.artifacts import FORBIDDEN_SUFFIXES, verify_manifest
from shared.biencoder import (
    BiEncoderConfig,
    _mine_negatives,
    fine_tune_biencoder,
    load_biencoder,
    retrieval_recall,
    save_biencoder,
    train_biencoder,
)
from shared.embeddings import Embedder
from shared.errors import ConfigError, DataError, IntegrityError

# Made-up shop FAQ. Answers avoid the questions' words, so the frozen encoder has to
# guess from meaning alone and gets some wrong: room for fine-tuning to show.
FAQ = [
    ("I forgot my login", "Tap 'trouble signing in' and we will email a fresh link."),
    ("how do I close my account", "Settings, then privacy, then 'delete everything'; it takes a week."),
    ("the app keeps crashing", "Reinstall the latest version from the store and restart the phone."),
    ("can I pay with a voucher", "Gift codes are entered at checkout under 'promotions'."),
    ("where is my parcel", "Tracking numbers appear under orders once the courier scans the box."),
    ("do you ship abroad", "We deliver to 31 countries; see the international rates table."),
    ("how much is postage", "Standard delivery is free above 40 euros, otherwise 4.99."),
    ("I got the wrong size", "Send it back within 30 days with the prepaid label in the box."),
    ("my card was declined", "Check the billing address matches what your bank holds."),
    ("is there a student discount", "Verify through UNiDAYS to get 15 percent off."),
    ("can I talk to a human", "Our agents are on chat weekdays from nine to six."),
    ("what are your opening hours", "Shops open 10am to 8pm, Sundays until 5pm."),
    ("how do I change my email", "Profile, edit contact details, then confirm via the code we text you."),
    ("the item arrived broken", "Photograph the damage and we will replace it free of charge."),
    ("do you have a loyalty scheme", "Every purchase earns points worth one cent each."),
    ("how do I unsubscribe from newsletters", "Use the link at the bottom of any marketing message."),
    ("can I cancel an order", "Orders can be stopped until they leave the warehouse."),
    ("is my data safe", "We encrypt everything at rest and never sell personal information."),
    ("how long do refunds take", "Money returns to the original method in three to five working days."),
    ("can I pick up in store", "Choose click and collect; it is ready in two hours."),
]
QUESTIONS = [q for q, _ in FAQ]
ANSWERS = [a for _, a in FAQ]
IDS = [f"faq-{i}" for i in range(len(FAQ))]
FAST = BiEncoderConfig(epochs=1, batch_size=10, learning_rate=1e-4, max_seq_length=32)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Fine-tuned once for the module: (in-memory model, metrics, saved directory)."""
    model, metrics = train_biencoder(FAQ, config=FAST, eval_pairs=FAQ, progress=False)
    out = save_biencoder(model, tmp_path_factory.mktemp("models") / "faq-encoder", config=FAST, metrics=metrics)
    return model, metrics, out


# --- fine-tuning ------------------------------------------------------------------------


def test_fine_tuning_beats_the_frozen_encoder_at_matching_questions_to_answers(trained):
    _, metrics, out = trained
    frozen = retrieval_recall(Embedder(), QUESTIONS, IDS, IDS, ANSWERS)
    tuned = retrieval_recall(load_biencoder(out), QUESTIONS, IDS, IDS, ANSWERS)
    assert frozen["recall@1"] <= 0.8  # the data really is hard for the frozen encoder
    assert tuned["recall@1"] >= frozen["recall@1"] + 0.15
    assert tuned["mrr@10"] > frozen["mrr@10"]
    # The same figures were recorded while training, for the apps to report.
    assert metrics["eval_before"]["recall@1"] == pytest.approx(frozen["recall@1"])
    assert metrics["eval_after"]["recall@1"] == pytest.approx(tuned["recall@1"])


def test_saved_dir_is_a_verified_sentence_transformers_dir_without_pickles_or_training_text(trained):
    _, metrics, out = trained
    manifest = verify_manifest(out, kind="biencoder")
    assert manifest["config"]["max_seq_length"] == 32 and manifest["config"]["epochs"] == 1
    assert manifest["metrics"]["pairs"] == len(FAQ) == metrics["pairs"]
    files = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert {"model.safetensors", "modules.json", "config.json", "tokenizer.json", "manifest.json"} <= files
    assert not [f for f in files if any(f.lower().endswith(s) for s in FORBIDDEN_SUFFIXES)]
    assert "training_args.bin" not in files and "README.md" not in files
    # sentence-transformers' model card would quote training samples; user text must not leak.
    texts = " ".join(p.read_text(errors="ignore") for p in out.rglob("*.json") if p.name != "tokenizer.json")
    assert not [q for q in QUESTIONS if q in texts]


def test_the_saved_model_encodes_exactly_like_the_in_memory_one(trained):
    model, _, out = trained
    texts = ["where is my parcel", "a sentence it never saw in training", ""]
    in_memory = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    loaded = Embedder(str(out))  # a plain Embedder reads it; load_biencoder adds the manifest check
    np.testing.assert_allclose(loaded.encode(texts), in_memory, atol=1e-5)
    assert loaded.sentence_transformer.max_seq_length == 32


def test_a_tampered_model_is_refused_before_loading(trained, tmp_path):
    _, _, out = trained
    copy = shutil.copytree(out, tmp_path / "copy")
    weights = copy / "model.safetensors"
    data = bytearray(weights.read_bytes())
    data[-1] ^= 0xFF
    weights.write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="sha256"):
        load_biencoder(copy)


def test_explicit_negatives_train_quietly_and_log_one_summary(tmp_path, capsys, caplog):
    pairs = FAQ[:8]
    # e.g. answers shown to the user but not clicked: here, the next FAQ's answer
    negatives = [[ANSWERS[(i + 1) % 8]] for i in range(8)]
    config = BiEncoderConfig(epochs=1, batch_size=4, max_seq_length=32)
    with caplog.at_level(logging.INFO, logger="shared.biencoder"):
        out = fine_tune_biencoder(pairs, tmp_path / "enc", config=config, negatives=negatives, progress=False)
    assert json.loads((out / "manifest.json").read_text())["metrics"]["negatives_per_pair"] == 1
    assert load_biencoder(out).encode(["hello"]).shape == (1, 384)
    assert capsys.readouterr().out == ""
    summaries = [r.getMessage() for r in caplog.records if r.name == "shared.biencoder"]
    assert len(summaries) == 1 and "8 pairs" in summaries[0]


@pytest.mark.slow
def test_training_is_reproducible_with_mined_hard_negatives():
    config = BiEncoderConfig(epochs=1, batch_size=4, max_seq_length=32, hard_negatives=2)
    runs = [train_biencoder(FAQ[:10], config=config, progress=False) for _ in range(2)]
    assert runs[0][1]["negatives_per_pair"] == 2
    assert runs[0][1]["train_loss"] == runs[1][1]["train_loss"]
    np.testing.assert_allclose(runs[0][0].encode(QUESTIONS[:3]), runs[1][0].encode(QUESTIONS[:3]), atol=1e-6)


# --- hard-negative mining (a fake encoder: fast and exact) -------------------------------


class FakeEncoder:
    """Each text's vector is given by hand: similarity is whatever the test says it is."""

    def __init__(self, vectors):
        self.vectors = {text: np.asarray(v, dtype=np.float32) / np.linalg.norm(v) for text, v in vectors.items()}

    def encode(self, texts):
        return np.stack([self.vectors[t] for t in texts])


def test_mined_negatives_are_the_closest_other_positives_below_the_margin():
    encoder = FakeEncoder({
        "q1": [1, 0, 0], "a1": [0.9, 0.1, 0],
        "q2": [0, 1, 0], "a2": [0, 1, 0.1],
        "q3": [0, 0, 1], "a3": [0.1, 0, 1],
        "near-duplicate of a1": [0.9, 0.12, 0],  # too close to q1's positive: likely also right
    })
    pairs = [("q1", "a1"), ("q2", "a2"), ("q3", "a3"), ("q4", "near-duplicate of a1")]
    encoder.vectors["q4"] = encoder.vectors["q1"]
    negatives = _mine_negatives(encoder, pairs, n=1, seed=0)
    assert negatives[0] == ["a3"]  # q1's closest other positive once the near-duplicate is skipped
    assert negatives[3] == ["a3"]  # and the other way round: a1 is too close to q4's positive
    assert negatives[1] == ["near-duplicate of a1"] and negatives[2] == ["a2"]
    assert all(len(row) == 1 and row[0] != pair[1] for row, pair in zip(negatives, pairs))


def test_mining_fills_with_random_negatives_rather_than_dropping_pairs():
    # Every other positive is far closer than the pair's own: none passes the margin.
    encoder = FakeEncoder({"q": [1, 0], "a": [-1, 0.1], "b": [1, 0.1], "c": [1, 0.2], "p": [0, 1], "r": [0, 1]})
    negatives = _mine_negatives(encoder, [("q", "a"), ("p", "b"), ("r", "c")], n=2, seed=0)
    assert sorted(negatives[0]) == ["b", "c"]
    assert all(len(row) == 2 for row in negatives)


def test_mining_more_negatives_than_there_are_other_positives_is_refused():
    encoder = FakeEncoder({"q1": [1, 0], "a1": [1, 0], "q2": [0, 1], "a2": [0, 1]})
    with pytest.raises(DataError, match="distinct positives"):
        _mine_negatives(encoder, [("q1", "a1"), ("q2", "a2")], n=2, seed=0)


# --- retrieval_recall ---------------------------------------------------------------------


def test_retrieval_recall_counts_hits_and_reciprocal_ranks():
    encoder = FakeEncoder({"x": [1, 0, 0], "y": [0, 1, 0], "A": [1, 0, 0], "B": [0.8, 0.6, 0], "C": [0, -1, 0.1]})
    # "x" finds A first (rank 1); "y" wants A or C: B then A, so rank 2 and half of its relevant ids in the top 2.
    scores = retrieval_recall(encoder, ["x", "y"], ["a", {"a", "c"}], ["a", "b", "c"], ["A", "B", "C"], ks=(1, 2))
    assert scores == {"recall@1": 0.5, "recall@2": pytest.approx((1 + 0.5) / 2), "mrr@10": 0.75, "queries": 2}


@pytest.mark.parametrize(
    "args, message",
    [
        ((["x"], ["a", "b"], ["a"], ["A"]), "relevant_ids"),
        (([], [], ["a"], ["A"]), "queries needs at least 1"),
        ((["x"], ["zzz"], ["a"], ["A"]), "not all in the corpus"),
        ((["x"], ["a"], ["a", "b"], ["A"]), "one id per text"),
        ((["x"], ["a"], [], []), "non-empty corpus"),
        ((["x"], ["a"], ["a"], [""]), "non-empty string"),
    ],
)
def test_retrieval_recall_rejects_inconsistent_input(args, message):
    with pytest.raises(DataError, match=message):
        retrieval_recall(FakeEncoder({"x": [1, 0], "A": [1, 0]}), *args)


# --- validation (raised before any model loads) ------------------------------------------


@pytest.mark.parametrize(
    "field, value, message",
    [
        ("epochs", 0, "epochs must be positive"),
        ("learning_rate", -1e-5, "learning_rate must be positive"),
        ("batch_size", 1, "batch_size must be at least 2"),
        ("batch_size", 8.5, "batch_size must be an integer"),
        ("max_seq_length", 0, "max_seq_length must be positive"),
        ("warmup_ratio", 1.0, r"warmup_ratio must be in \[0, 1\)"),
        ("weight_decay", -0.1, "weight_decay must not be negative"),
        ("hard_negatives", -1, "hard_negatives must not be negative"),
        ("seed", -1, "seed must not be negative"),
        ("scale", float("nan"), "scale must be positive"),
        ("seed", "42", "seed must be an integer"),
        ("epochs", True, "epochs must be a number"),
    ],
)
def test_config_rejects_bad_values_with_a_clear_message(field, value, message):
    with pytest.raises(ConfigError, match=message):
        BiEncoderConfig(**{field: value})


@pytest.mark.parametrize(
    "pairs, options, error, message",
    [
        ([], {}, DataError, "pairs needs at least 2 rows"),
        (FAQ[:1], {}, DataError, "at least 2"),
        ("where is my parcel", {}, DataError, "list of texts or text tuples, got str"),
        (None, {}, DataError, "got NoneType"),
        ([("q", "a"), 42], {}, DataError, "row 1 has 1 texts"),
        ([("q", "a"), ("q2",)], {}, DataError, "row 1 has 1 texts, expected 2"),
        ([("q", "a"), ("q2", "   ")], {}, DataError, "non-empty string"),
        ([("q", "a"), ("q2", None)], {}, DataError, "non-empty string"),
        (FAQ[:3], {"negatives": [["x"], ["y"]]}, DataError, "one row per pair"),
        (FAQ[:2], {"negatives": [["x"], ["y", "z"]]}, DataError, "same number"),
        (FAQ[:2], {"negatives": [[FAQ[0][1]], ["y"]]}, DataError, "row 0 repeats its own"),
        (FAQ[:2], {"negatives": [["x"], ["y"]], "config": BiEncoderConfig(hard_negatives=1)}, ConfigError, "not both"),
        (FAQ[:2], {"eval_pairs": [("q", "")]}, DataError, "eval_pairs row 0"),
    ],
)
def test_bad_training_input_is_a_clear_error_not_a_trainer_traceback(pairs, options, error, message, monkeypatch):
    import sentence_transformers

    def no_model(*args, **kwargs):
        raise AssertionError("bad input must be refused before a model loads")

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", no_model)
    with pytest.raises(error, match=message):
        train_biencoder(pairs, progress=False, **options)
