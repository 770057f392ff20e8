import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from shared import embeddings
from shared.embeddings import Embedder, Hit, VectorIndex
from shared.errors import DataError, IntegrityError


@pytest.fixture(scope="module")
def embedder():
    """The real packaged MiniLM, loaded once for this module."""
    return Embedder()


def random_unit_vectors(n, dim=16, seed=0):
    vectors = np.random.default_rng(seed).normal(size=(n, dim)).astype(np.float32)
    return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)


# --- Embedder ---------------------------------------------------------------------------


def test_encode_gives_float32_unit_rows_even_for_empty_and_very_long_texts(embedder):
    vectors = embedder.encode(["where is my card", "", "card " * 5000])
    assert vectors.dtype == np.float32
    assert vectors.shape == (3, embedder.dim) == (3, 384)
    np.testing.assert_allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)


def test_encoding_nothing_gives_an_empty_matrix_of_the_right_width(embedder):
    assert embedder.encode([]).shape == (0, 384)


def test_a_paraphrase_is_closer_than_an_unrelated_sentence(embedder):
    query, paraphrase, unrelated = embedder.encode(
        ["how do I reset my password", "I forgot my password and need a new one", "the weather is sunny in Lisbon"]
    )
    assert query @ paraphrase > query @ unrelated + 0.2


def test_encode_refuses_a_bare_string_or_non_strings(embedder):
    with pytest.raises(DataError, match="list of strings"):
        embedder.encode("where is my card")
    with pytest.raises(DataError, match="list of strings"):
        embedder.encode(["ok", None])


def test_construction_is_cheap_and_the_model_loads_once_across_threads(monkeypatch):
    import sentence_transformers

    loads = []

    class SlowModel:
        def __init__(self, path, **options):
            loads.append(options)
            time.sleep(0.05)  # wide window for a second thread to race in

        def get_embedding_dimension(self):
            return 7

    monkeypatch.setattr(sentence_transformers, "SentenceTransformer", SlowModel)
    lazy = Embedder()
    assert loads == []
    threads = [threading.Thread(target=lambda: lazy.dim) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert loads == [{"device": "cpu", "local_files_only": True, "trust_remote_code": False}]


# --- VectorIndex ------------------------------------------------------------------------


def test_search_returns_external_ids_best_first():
    index = VectorIndex(3).add(["faq-refund", "faq-card", "faq-rate"], [[1, 0, 0], [0, 1, 0], [0.9, 0.1, 0]])
    [hits] = index.search([2.0, 0.0, 0.0], k=2)  # raw, unnormalised query
    assert [h.id for h in hits] == ["faq-refund", "faq-rate"]
    assert hits[0] == Hit("faq-refund", pytest.approx(1.0))
    assert len(index) == 3 and index.ids == ["faq-refund", "faq-card", "faq-rate"] and "faq-card" in index


def test_k_beyond_the_index_and_an_empty_index_are_fine():
    empty = VectorIndex(4)
    assert empty.search(random_unit_vectors(2, 4), k=5) == [[], []]
    index = VectorIndex(4).add([10, 20], random_unit_vectors(2, 4))
    [hits] = index.search(random_unit_vectors(1, 4, seed=1), k=50)
    assert sorted(h.id for h in hits) == [10, 20]


@pytest.mark.parametrize(
    "ids, vectors, message",
    [
        (["a"], np.ones((1, 5)), r"shape \(n, 4\)"),
        (["a"], [[1.0, np.nan, 0, 0]], "NaN"),
        (["a"], [[1.0, np.inf, 0, 0]], "NaN or infinite"),
        (["a"], [["x", "y", "z", "w"]], "real numbers"),
        (["a"], np.zeros((1, 4)), "all zeros"),
        (["a", "b"], np.ones((1, 4)), "2 ids for 1 vectors"),
        (["a", "a"], np.ones((2, 4)), "duplicate id 'a'"),
        (["taken"], np.ones((1, 4)), "duplicate id 'taken'"),
        ([True], np.ones((1, 4)), "strings or integers"),
        ("ab", np.ones((2, 4)), "wrap a single id"),
    ],
)
def test_bad_input_is_a_data_error_and_leaves_the_index_unchanged(ids, vectors, message):
    index = VectorIndex(4).add(["taken"], np.ones((1, 4)))
    with pytest.raises(DataError, match=message):
        index.add(ids, vectors)
    assert index.ids == ["taken"] and index._index.ntotal == 1


def test_bad_queries_and_k_are_data_errors():
    index = VectorIndex(4).add(["a"], np.ones((1, 4)))
    with pytest.raises(DataError, match=r"shape \(n, 4\)"):
        index.search(np.ones((1, 3)))
    with pytest.raises(DataError, match="NaN"):
        index.search([[np.nan, 1, 1, 1]])
    with pytest.raises(DataError, match="rectangular"):
        index.search([[1, 1, 1, 1], [1, 1]])
    with pytest.raises(DataError, match="positive integer"):
        index.search(np.ones((1, 4)), k=0)


def test_exact_and_hnsw_agree_on_the_nearest_neighbour():
    vectors = random_unit_vectors(300, dim=32)
    queries = vectors[:40] + 0.05 * random_unit_vectors(40, dim=32, seed=1)
    ids = [f"item-{i}" for i in range(300)]
    exact = VectorIndex(32, "exact").add(ids, vectors)
    hnsw = VectorIndex(32, "hnsw").add(ids, vectors)
    assert (exact.index_type, hnsw.index_type) == ("exact", "hnsw")
    top = lambda index: [hits[0].id for hits in index.search(queries, k=1)]  # noqa: E731 - the top hit per query, for the comparisons below
    assert top(exact) == top(hnsw) == ids[:40]


def test_auto_switches_to_hnsw_at_the_threshold_and_keeps_every_vector(monkeypatch):
    monkeypatch.setattr(embeddings, "HNSW_THRESHOLD", 100)
    vectors = random_unit_vectors(120)
    index = VectorIndex(16).add(range(99), vectors[:99])
    assert index.index_type == "exact"
    index.add(range(99, 120), vectors[99:])
    assert index.index_type == "hnsw" and len(index) == 120
    assert [hits[0].id for hits in index.search(vectors[[0, 50, 119]], k=1)] == [0, 50, 119]


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_save_then_load_gives_identical_results(tmp_path, kind):
    ids = ["faq-1", 2, "ünïcode id ✓"]
    index = VectorIndex(16, kind, metadata={"source": "demo faq"}).add(ids, random_unit_vectors(3))
    queries = random_unit_vectors(5, seed=1)
    loaded = VectorIndex.load(index.save(tmp_path / "faq"))
    assert loaded.ids == ids and loaded.kind == kind and loaded.index_type == kind
    assert loaded.metadata == {"source": "demo faq"}
    assert loaded.search(queries, k=3) == index.search(queries, k=3)


def test_an_empty_index_round_trips(tmp_path):
    loaded = VectorIndex.load(VectorIndex(8).save(tmp_path / "empty"))
    assert len(loaded) == 0 and loaded.dim == 8 and loaded.search(np.ones((1, 8))) == [[]]


def test_a_flipped_byte_in_the_faiss_file_is_an_integrity_error(tmp_path):
    path = VectorIndex(16).add(["a", "b"], random_unit_vectors(2)).save(tmp_path / "idx")
    data = bytearray((path / "index.faiss").read_bytes())
    data[len(data) // 2] ^= 0x01
    (path / "index.faiss").write_bytes(bytes(data))
    with pytest.raises(IntegrityError, match="index.faiss does not match its sha256"):
        VectorIndex.load(path)


def test_saving_again_swaps_atomically_and_keeps_the_previous_index(tmp_path):
    path = tmp_path / "idx"
    VectorIndex(16).add(["old"], random_unit_vectors(1)).save(path)
    VectorIndex(16).add(["new"], random_unit_vectors(1)).save(path)
    assert VectorIndex.load(path).ids == ["new"]
    assert VectorIndex.load(tmp_path / "idx.previous").ids == ["old"]
    assert sorted(p.name for p in tmp_path.iterdir()) == ["idx", "idx.previous"]
    assert not list(path.glob("*.pkl")) and sorted(p.name for p in path.iterdir()) == [
        "index.faiss", "index.json", "manifest.json"
    ]


def test_build_embeds_texts_under_their_ids(embedder, tmp_path):
    faq = {
        "reset-password": "How can I reset my password?",
        "opening-hours": "When is the shop open?",
        "delivery-time": "How long does delivery take?",
    }
    index = VectorIndex.build(list(faq), list(faq.values()), embedder)
    assert index.metadata == {"encoder": "all-MiniLM-L6-v2"}
    [hits] = index.search(embedder.encode(["I forgot my password"]), k=1)
    assert hits[0].id == "reset-password"
    with pytest.raises(DataError, match="2 ids for 3 texts"):
        VectorIndex.build(["a", "b"], list(faq.values()), embedder)


finite_vectors = st.integers(1, 30).flatmap(
    lambda n: arrays(np.float32, (n, 6), elements=st.floats(-1e6, 1e6, width=32)).filter(
        lambda a: (np.abs(a).max(axis=1) > 0).all()  # zero rows are refused, tested above
    )
)


@settings(max_examples=60, deadline=None)
@given(vectors=finite_vectors, kind=st.sampled_from(["exact", "hnsw"]))
def test_property_scores_are_cosines_and_each_vector_finds_itself(vectors, kind):
    index = VectorIndex(6, kind).add([f"v{i}" for i in range(len(vectors))], vectors)
    results = index.search(vectors, k=len(vectors))
    for i, hits in enumerate(results):
        assert all(-1.0 <= h.score <= 1.0 for h in hits)
        assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
        # Top-1 is the vector itself, or a vector pointing the same way (a tie at cosine 1).
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)
        best = {h.id for h in hits if h.score >= hits[0].score - 1e-5}
        assert f"v{i}" in best
