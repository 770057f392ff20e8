"""Fine-tune a sentence-transformers bi-encoder on (anchor, positive) pairs, and measure retrieval.

The support bot trains it on (question, FAQ answer) pairs, the recommender on (clicked item,
next clicked item) texts. The loss is MultipleNegativesRankingLoss: each anchor must pick its own
positive out of every other positive in the batch (plus any explicit negatives)::

    pairs = [("I forgot my login", "Use the 'forgot password' link on the sign-in page"), ...]
    out = fine_tune_biencoder(pairs, "var/models/faq-encoder", config=BiEncoderConfig(epochs=2),
                              eval_pairs=held_out)          # manifest records recall before/after
    embedder = load_biencoder(out)                          # verifies the manifest, returns an Embedder
    retrieval_recall(embedder, queries, relevant_ids, faq_ids, faq_texts)
    # {'recall@1': 0.82, 'recall@5': 0.97, 'mrr@10': 0.88, 'queries': 40}
"""

from __future__ import annotations

import contextlib
import logging
import numbers
import random
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from types import SimpleNamespace

import numpy as np

from .artifacts import MANIFEST, atomic_dir, verify_manifest, write_manifest
from .embeddings import Embedder, VectorIndex
from .encoder import DEFAULT_ENCODER_NAME, resolve_encoder
from .errors import ConfigError, DataError

log = logging.getLogger(__name__)

MANIFEST_KIND = "biencoder"
# NV-Retriever's "TopK-PercPos": a mined negative must score below 95% of the pair's positive,
# since anything closer is too often an unlabelled second right answer.
MINING_MARGIN = 0.95


@dataclass
class BiEncoderConfig:
    """How to fine-tune: sentence-transformers' usual settings (not tuned on troika's data yet)."""

    epochs: float = 3.0
    batch_size: int = 32  # also the number of in-batch negatives + 1: bigger is better while memory allows
    learning_rate: float = 2e-5
    warmup_ratio: float = 0.1
    weight_decay: float = 0.01
    # Tokens kept per text, in training and in the saved model (it truncates at inference too).
    max_seq_length: int = 128
    scale: float = 20.0  # MultipleNegativesRankingLoss's inverse temperature
    # Negatives mined per pair with the starting model from the other pairs' positives, used when
    # no ``negatives`` are passed. 0 = in-batch negatives only.
    hard_negatives: int = 0
    seed: int = 42

    def __post_init__(self):
        for field in fields(self):
            value, integer = getattr(self, field.name), field.type == "int"
            if isinstance(value, bool) or not isinstance(value, numbers.Integral if integer else numbers.Real):
                raise ConfigError(f"{field.name} must be {'an integer' if integer else 'a number'}, got {value!r}")
        for name in ("epochs", "learning_rate", "scale", "max_seq_length"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.batch_size < 2:
            raise ConfigError(f"batch_size must be at least 2 (in-batch negatives need company), got {self.batch_size}")
        if not 0 <= self.warmup_ratio < 1:
            raise ConfigError(f"warmup_ratio must be in [0, 1), got {self.warmup_ratio}")
        for name in ("weight_decay", "hard_negatives", "seed"):
            if not getattr(self, name) >= 0:
                raise ConfigError(f"{name} must not be negative, got {getattr(self, name)}")


def _check_rows(rows, what: str, width: int | None = None, at_least: int = 0) -> list[tuple[str, ...]]:
    if isinstance(rows, (str, bytes)) or not isinstance(rows, Iterable):
        raise DataError(f"{what} must be a list of texts or text tuples, got {type(rows).__name__}")
    rows = [tuple(row) if isinstance(row, Iterable) and not isinstance(row, (str, bytes)) else (row,) for row in rows]
    for i, row in enumerate(rows):
        if width is not None and len(row) != width:
            raise DataError(f"{what} row {i} has {len(row)} texts, expected {width}")
        for text in row:
            if not isinstance(text, str) or not text.strip():
                raise DataError(f"{what} row {i} holds {text!r}: every text must be a non-empty string")
    if len(rows) < at_least:
        raise DataError(f"{what} needs at least {at_least} rows, got {len(rows)}")
    return rows


def _by_anchor(pairs: list[tuple[str, str]]) -> tuple[list[str], dict[str, set[int]]]:
    """Distinct positives (the corpus), and each distinct anchor's positives as corpus positions."""
    corpus = list(dict.fromkeys(p for _, p in pairs))
    position, own = {text: i for i, text in enumerate(corpus)}, defaultdict(set)
    for anchor, positive in pairs:
        own[anchor].add(position[positive])
    return corpus, own


def _encoder(model) -> SimpleNamespace:
    """An Embedder-like view of an in-memory model: what ``retrieval_recall`` and mining call."""
    return SimpleNamespace(encode=lambda texts: model.encode(list(texts), batch_size=64, normalize_embeddings=True,
                                                             show_progress_bar=False))


def retrieval_recall(embedder, queries: Sequence[str], relevant_ids: Sequence, corpus_ids: Sequence,
                     corpus_texts: Sequence[str], ks: Sequence[int] = (1, 5)) -> dict:
    """Recall@k (share of each query's relevant ids in its top k, averaged) and MRR@max(10, k).

    ``embedder`` is an ``Embedder`` (or anything with ``encode(texts)``); ``relevant_ids[i]`` is
    one corpus id or a collection of them for ``queries[i]``.
    """
    queries = [q for (q,) in _check_rows(queries, "queries", width=1, at_least=1)]
    relevant_ids, corpus_ids = list(relevant_ids), list(corpus_ids)
    if len(relevant_ids) != len(queries):
        raise DataError(f"got {len(relevant_ids)} relevant_ids for {len(queries)} queries")
    ks = sorted({int(k) for k in ks})
    if not ks or ks[0] < 1:
        raise DataError(f"ks must be positive integers, got {ks}")
    corpus_texts = [t for (t,) in _check_rows(corpus_texts, "corpus_texts", width=1)]
    if not corpus_texts or len(corpus_ids) != len(corpus_texts):
        raise DataError(f"need a non-empty corpus with one id per text, got {len(corpus_ids)} ids for {len(corpus_texts)} texts")
    vectors = np.asarray(embedder.encode(corpus_texts))
    index = VectorIndex(vectors.shape[1], kind="exact").add(corpus_ids, vectors)
    relevant = [set(r) if isinstance(r, (set, frozenset, list, tuple)) else {r} for r in relevant_ids]
    for i, wanted in enumerate(relevant):
        if not wanted or not all(r in index for r in wanted):
            raise DataError(f"query {i}: relevant ids {sorted(map(str, wanted))} are not all in the corpus")
    depth = max(10, ks[-1])
    found = [[hit.id for hit in hits] for hits in index.search(embedder.encode(queries), k=depth)]
    scores = {f"recall@{k}": float(np.mean([len(w & set(f[:k])) / len(w) for w, f in zip(relevant, found)])) for k in ks}
    ranks = [next((r for r, i in enumerate(f, 1) if i in w), None) for w, f in zip(relevant, found)]
    scores[f"mrr@{depth}"] = float(np.mean([1 / r if r else 0.0 for r in ranks]))
    scores["queries"] = len(queries)
    return scores


def _pairs_recall(encoder, pairs: list[tuple[str, str]]) -> dict:
    corpus, own = _by_anchor(pairs)
    return retrieval_recall(encoder, list(own), list(own.values()), list(range(len(corpus))), corpus)


def _mine_negatives(encoder, pairs: list[tuple[str, str]], n: int, seed: int) -> list[list[str]]:
    """For each pair, the ``n`` other positives its anchor ranks highest below the margin.

    Random other positives fill any shortfall, so every pair keeps its place (the miner in
    sentence-transformers drops such pairs) and every row has the same number of columns.
    """
    corpus, own = _by_anchor(pairs)
    position = {text: i for i, text in enumerate(corpus)}
    for anchor in own:  # an anchor's own text may be a positive elsewhere (item-to-item): never its negative
        own[anchor].update([position[anchor]] if anchor in position else [])
    most_own = max(map(len, own.values()))
    if len(corpus) - most_own < n:
        raise DataError(f"mining {n} hard negatives per pair needs more distinct positives than the {len(corpus)} given")
    vectors, anchors = encoder.encode(corpus), list(own)
    anchor_vectors = encoder.encode(anchors)
    index = VectorIndex(vectors.shape[1], kind="exact").add(list(range(len(corpus))), vectors)
    hits = dict(zip(anchors, index.search(anchor_vectors, k=min(len(corpus), most_own + 4 * n + 10))))
    anchor_vectors, rng, negatives = dict(zip(anchors, anchor_vectors)), random.Random(seed), []
    for anchor, positive in pairs:
        ceiling = MINING_MARGIN * float(anchor_vectors[anchor] @ vectors[position[positive]])
        chosen = [h.id for h in hits[anchor] if h.id not in own[anchor] and h.score < ceiling][:n]
        while len(chosen) < n:
            pick = rng.randrange(len(corpus))
            if pick not in own[anchor] and pick not in chosen:
                chosen.append(pick)
        negatives.append([corpus[i] for i in chosen])
    return negatives


@contextlib.contextmanager
def _hf_progress_bars(enabled: bool):
    # transformers' bars (e.g. "Loading weights") hang on one process-wide switch: restore it after.
    from transformers.utils import logging as hf_logging

    was_enabled = hf_logging.is_progress_bar_enabled()
    (hf_logging.enable_progress_bar if enabled else hf_logging.disable_progress_bar)()
    try:
        yield
    finally:
        (hf_logging.enable_progress_bar if was_enabled else hf_logging.disable_progress_bar)()


def train_biencoder(pairs, *, base_model=None, config: BiEncoderConfig | None = None, negatives=None,
                    eval_pairs=None, progress: bool = True):
    """Fine-tune and return ``(SentenceTransformer on cpu, metrics)`` without saving anything.

    ``negatives[i]``: texts that must rank below ``pairs[i]``'s positive (a string or a list, the
    same count for every pair), e.g. items shown but not clicked. ``eval_pairs``: held-out pairs
    scored with ``retrieval_recall`` before and after training, reported in ``metrics``.
    """
    import torch
    from datasets import Dataset
    from sentence_transformers import SentenceTransformer, SentenceTransformerTrainer, SentenceTransformerTrainingArguments
    from sentence_transformers.base.sampler import BatchSamplers
    from sentence_transformers.sentence_transformer.losses import MultipleNegativesRankingLoss
    from transformers import PrinterCallback

    cfg = config or BiEncoderConfig()
    pairs = _check_rows(pairs, "pairs", width=2, at_least=2)
    eval_pairs = _check_rows(eval_pairs, "eval_pairs", width=2, at_least=1) if eval_pairs is not None else None
    if negatives is not None:
        if cfg.hard_negatives:
            raise ConfigError("pass negatives or set hard_negatives, not both")
        negatives = _check_rows(negatives, "negatives")
        if len(negatives) != len(pairs) or len({len(row) for row in negatives}) != 1 or not negatives[0]:
            raise DataError(f"negatives needs one row per pair ({len(pairs)}), each with the same number (1 or more) of texts")
        for i, (row, pair) in enumerate(zip(negatives, pairs)):
            if set(row) & set(pair):
                raise DataError(f"negatives row {i} repeats its own anchor or positive")

    class Trainer(SentenceTransformerTrainer):
        def add_model_card_callback(self, default_args_dict):
            pass  # no model card is written, so skip its bookkeeping (it samples the data, shows a bar)

    started = time.monotonic()
    with _hf_progress_bars(progress), tempfile.TemporaryDirectory(prefix="troika-biencoder-") as tmp:
        base_path = resolve_encoder(base_model)
        if (Path(base_path) / MANIFEST).is_file():  # warm start from a saved troika model: check it first
            verify_manifest(base_path)
        model = SentenceTransformer(base_path, local_files_only=True, trust_remote_code=False)
        model.max_seq_length = cfg.max_seq_length
        metrics = {"pairs": len(pairs)}
        if eval_pairs:
            metrics["eval_before"] = _pairs_recall(_encoder(model), eval_pairs)
        if cfg.hard_negatives:
            negatives = _mine_negatives(_encoder(model), pairs, cfg.hard_negatives, cfg.seed)
        columns = {"anchor": [a for a, _ in pairs], "positive": [p for _, p in pairs]}
        for j in range(len(negatives[0]) if negatives else 0):
            columns[f"negative_{j + 1}"] = [row[j] for row in negatives]
        metrics["negatives_per_pair"] = len(columns) - 2
        args = SentenceTransformerTrainingArguments(
            output_dir=tmp, num_train_epochs=cfg.epochs, per_device_train_batch_size=cfg.batch_size,
            learning_rate=cfg.learning_rate, weight_decay=cfg.weight_decay, optim="adamw_torch_fused",
            # Fused AdamW: the same update, ~8x faster steps on CPU. warmup_steps below 1 is a ratio.
            lr_scheduler_type="linear", warmup_steps=cfg.warmup_ratio,
            # A text twice in one batch would be scored as its own negative.
            batch_sampler=BatchSamplers.NO_DUPLICATES,
            save_strategy="no",  # no checkpoints: they would hold pickled optimizer/RNG state
            logging_strategy="epoch", report_to="none", disable_tqdm=not progress,
            seed=cfg.seed, data_seed=cfg.seed, use_cpu=not torch.cuda.is_available(),
        )

        trainer = Trainer(model=model, args=args, train_dataset=Dataset.from_dict(columns),
                          loss=MultipleNegativesRankingLoss(model, scale=cfg.scale))
        trainer.remove_callback(PrinterCallback)  # with tqdm off it would print every log dict
        result = trainer.train()
        model = trainer.model.to("cpu").eval()
        metrics["train_loss"] = round(float(result.training_loss), 5)
        metrics["seconds"] = round(time.monotonic() - started, 1)
        if eval_pairs:
            metrics["eval_after"] = _pairs_recall(_encoder(model), eval_pairs)
    summary = f"bi-encoder: {len(pairs)} pairs, {cfg.epochs:g} epochs in {metrics['seconds']}s, loss {metrics['train_loss']:.4f}"
    if eval_pairs:
        summary += f", eval recall@1 {metrics['eval_before']['recall@1']:.3f} -> {metrics['eval_after']['recall@1']:.3f}"
    log.info(summary)
    return model, metrics


def save_biencoder(model, out_dir: str | Path, *, config: BiEncoderConfig | None = None, metrics: dict | None = None,
                   base_model=None) -> Path:
    """Write a sentence-transformers directory + manifest, swapped in atomically (old kept as ``.previous``)."""
    out_dir = Path(out_dir)
    with atomic_dir(out_dir) as tmp:
        # No model card: sentence-transformers' README quotes training samples (user text).
        model.save(str(tmp), create_model_card=False, safe_serialization=True)
        # write_manifest refuses .bin/.pt and other pickles, so a stray one aborts the swap.
        write_manifest(tmp, MANIFEST_KIND, extra={
            "base_model": str(base_model or DEFAULT_ENCODER_NAME),
            "config": asdict(config or BiEncoderConfig()),
            "metrics": metrics or {},
        })
    return out_dir


def fine_tune_biencoder(pairs, out_dir: str | Path, *, base_model=None, config: BiEncoderConfig | None = None,
                        negatives=None, eval_pairs=None, progress: bool = True) -> Path:
    """``train_biencoder`` then ``save_biencoder``; returns ``out_dir`` (loads with ``load_biencoder``)."""
    config = config or BiEncoderConfig()
    model, metrics = train_biencoder(pairs, base_model=base_model, config=config, negatives=negatives,
                                     eval_pairs=eval_pairs, progress=progress)
    with _hf_progress_bars(progress):
        return save_biencoder(model, out_dir, config=config, metrics=metrics, base_model=base_model)


def load_biencoder(directory: str | Path, **embedder_options) -> Embedder:
    """An ``Embedder`` over a saved bi-encoder, after checking every file against the manifest."""
    verify_manifest(directory, kind=MANIFEST_KIND)
    return Embedder(str(directory), **embedder_options)
