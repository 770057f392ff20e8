"""The click model: P(click | user history, item) from item text fine-tuned on clicks, blended
with behaviour signals by a small learned ranker.

    model = ClickModel(ClickModelConfig()).fit(items, feedback)            # MovieLens-like logs
    model = ClickModel().fit(items, feedback, rows=next_item_rows)         # Amazon-like sequences
    model.score(["m1", "m2"], history=["m9", "m4"], user="u1")             # Scores(values, source)
    model.save("var/models/rec"); ClickModel.load("var/models/rec")        # manifest-verified

How it learns (``fit``):

1. The train period is split once more in time: the earlier part fits, the later part tunes.
   With ratings (MovieLens) each user's last ``tune_fraction`` of feedback forms that user's
   tuning impression; with next-item rows (Amazon) the last ``tune_fraction`` of the rows do,
   each row's target against randomly sampled catalogue items.
2. The item text encoder is fine-tuned on the earlier part's click sequences through
   ``shared.biencoder`` (contrastive loss, in-batch negatives plus NRMS-style sampled ones, the
   user's own below-threshold items as hard negatives; ``click_pairs``), for a bounded number of
   pairs; every item is then embedded with it. A new item needs only its text.
3. A user is the recency-weighted mean of the clicked items' vectors (half-life in clicks,
   chosen on the tuning part among ``half_lives``); a second vector of the user's disliked
   items, the latest item and the nearest recent item give the other text signals, and a ridge
   regression from item vector to mean feedback gives a text prior for items without ratings.
4. A logistic regression over the text signals is the calibrated click probability (Platt
   scaling on the tuning part); a second one, the blender, combines its logit with popularity,
   item age, category affinity, mean feedback, last-item transitions and repeats.
5. Behaviour statistics are refitted on the whole train period before saving.

Saved as a directory (``click_model_io``): the fine-tuned encoder, item vectors (safetensors),
items, weights and statistics (JSON), all under a sha256 manifest.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields

import numpy as np

from shared.errors import DataError

from .baselines import Scores
from .click_model_io import load_click_model, save_click_model
from .click_pairs import click_pairs
from .click_signals import BEHAVIOUR_SIGNALS, SIGNALS, TEXT_SIGNALS, BehaviourStats, signals, user_vector
from .linear import LinearScorer, fit_ridge
from .metrics import auc
from .records import Feedback, Item, NextItemCase
from .splits import by_user, impression_cases, temporal_split

log = logging.getLogger(__name__)
SOURCE_MODEL = "model"
SOURCE_FALLBACK = "fallback"


@dataclass
class ClickModelConfig:
    tune_fraction: float = 0.2
    fine_tune: bool = True
    max_pairs: int = 1024  # bounds the encoder's training steps: max_pairs / batch_size per epoch
    epochs: float = 1.0
    batch_size: int = 32
    learning_rate: float = 3e-5
    max_seq_length: int = 64
    negatives_per_pair: int = 1  # NRMS: sampled negatives per positive (the first a hard one when there is one)
    half_lives: tuple = (None, 3.0, 10.0, 30.0)  # in clicks; None = a plain mean
    sampled_candidates: int = 60  # next-item tuning: random negatives per row
    seed: int = 0
    base_model: str | None = None
    extra: dict = field(default_factory=dict)


def _sequences_from_rows(rows: Sequence[NextItemCase]) -> list[tuple[str, tuple[str, ...]]]:
    return [(r.user, (*r.history, r.item)) for r in rows]


def _latest_sequence_per_user(rows: Sequence[NextItemCase]) -> list[tuple[str, tuple[str, ...]]]:
    latest = {}
    for r in rows:
        latest[r.user] = (*r.history, r.item)
    return list(latest.items())


class ClickModel:
    def __init__(self, config: ClickModelConfig | None = None):
        self.config = config or ClickModelConfig()

    # --- fitting -----------------------------------------------------------------------

    def fit(self, items: Iterable[Item], feedback: Iterable[Feedback], *, rows: Sequence[NextItemCase] | None = None,
            progress: bool = True) -> ClickModel:
        cfg = self.config
        started = time.monotonic()
        items, feedback = list(items), list(feedback)
        if len(items) < 3:
            raise DataError(f"the click model needs a catalogue of at least 3 items, got {len(items)}")
        self.protocol_ = "next-item" if rows else "impression"
        documents = {i.id: i.document for i in items}
        if rows:
            rows = list(rows)
            cut = max(1, int(round(len(rows) * (1 - cfg.tune_fraction))))
            fit_rows, tune_rows = rows[:cut], rows[cut:]
            fit_feedback = [Feedback(r.user, r.item, "click", 1.0, r.timestamp) for r in fit_rows]
            pair_sequences = _latest_sequence_per_user(fit_rows)
            fit_sequences = _sequences_from_rows(fit_rows)
            views = {}
        else:
            fit_feedback, tune_feedback = temporal_split(feedback, cfg.tune_fraction)
            fit_sequences = [(u, tuple(r.item for r in rs if r.is_click)) for u, rs in by_user(fit_feedback).items()]
            pair_sequences = fit_sequences
            views = {u: [r.item for r in rs if not r.is_click] for u, rs in by_user(fit_feedback).items()}

        # 2. the text encoder
        self.timings_ = {}
        clock = time.monotonic()
        self._fine_tune(pair_sequences, documents, views, progress)
        self.timings_["fine_tune"], clock = round(time.monotonic() - clock, 1), time.monotonic()
        self._embed(items, progress)
        self.timings_["embed"], clock = round(time.monotonic() - clock, 1), time.monotonic()

        # 3-4. signals on the tuning part, from statistics of the fitting part only
        stats = BehaviourStats().fit(items, fit_feedback, fit_sequences)
        text_rating = self._text_rating(stats)
        if rows:
            cases = self._sampled_cases(tune_rows, np.random.default_rng(cfg.seed))
        else:
            cases = [(c.user, c.history, c.candidates, c.labels) for c in impression_cases(fit_feedback, tune_feedback)]
        if not cases:
            raise DataError("too little feedback to tune the click model: no user has a later-period click")
        self.half_life_ = self._choose_half_life(cases)
        features, labels, groups = [], [], []
        for k, (user, history, candidates, case_labels) in enumerate(cases):
            features.append(self._signals(user, history, candidates, stats, text_rating))
            labels.append(np.asarray(case_labels))
            groups.append(np.full(len(candidates), k))
        x, y = np.vstack(features), np.concatenate(labels)
        if len(set(y.tolist())) < 2:
            raise DataError("the tuning part holds only clicks or only non-clicks: nothing to calibrate on")
        self.click_ = LinearScorer.fit(x[:, :len(TEXT_SIGNALS)], y, names=TEXT_SIGNALS)
        self.blender_ = LinearScorer.fit(self._blend_inputs(x), y, names=("click_logit", *BEHAVIOUR_SIGNALS))
        self.tuning_ = self._tuning_report(x, y, np.concatenate(groups), len(cases))

        self.timings_["tune"], clock = round(time.monotonic() - clock, 1), time.monotonic()
        # 5. statistics of the whole train period
        self.refit_behaviour(items, feedback, rows=rows)
        self.timings_["refit"] = round(time.monotonic() - clock, 1)
        self.fit_seconds_ = round(time.monotonic() - started, 1)
        return self

    def _fine_tune(self, sequences, documents, views, progress) -> None:
        from shared.biencoder import BiEncoderConfig, train_biencoder

        cfg = self.config
        self.encoder_config_ = BiEncoderConfig(epochs=cfg.epochs, batch_size=cfg.batch_size, learning_rate=cfg.learning_rate,
                                               max_seq_length=cfg.max_seq_length, seed=cfg.seed)
        pairs, negatives = click_pairs(sequences, documents, views=views, n_negatives=cfg.negatives_per_pair,
                                       max_pairs=cfg.max_pairs, seed=cfg.seed)
        self.encoder_metrics_ = {"pairs": len(pairs)}
        if cfg.fine_tune and len(pairs) >= 2:
            self.encoder_, self.encoder_metrics_ = train_biencoder(
                pairs, base_model=cfg.base_model, config=self.encoder_config_, negatives=negatives or None, progress=progress)
        else:
            from sentence_transformers import SentenceTransformer

            from shared.encoder import resolve_encoder

            self.encoder_ = SentenceTransformer(resolve_encoder(cfg.base_model), local_files_only=True, trust_remote_code=False)
            self.encoder_.max_seq_length = cfg.max_seq_length
            self.encoder_metrics_["fine_tuned"] = False

    def encode(self, texts: Sequence[str], progress: bool = False) -> np.ndarray:
        vectors = self.encoder_.encode(list(texts), batch_size=64, normalize_embeddings=True,
                                       show_progress_bar=progress, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32)

    def _embed(self, items: Sequence[Item], progress: bool) -> None:
        self.items_ = {i.id: i for i in items}
        self.item_ids_ = [i.id for i in items]
        self.rows_ = {item: k for k, item in enumerate(self.item_ids_)}
        self.vectors_ = self.encode([i.document for i in items], progress)

    def add_items(self, items: Iterable[Item], progress: bool = False) -> ClickModel:
        """Embed items the model has not seen (or whose text changed): scorable at once."""
        new = [i for i in items if i.id not in self.items_ or self.items_[i.id].document != i.document]
        if not new:
            return self
        vectors = self.encode([i.document for i in new], progress)
        for item, vector in zip(new, vectors):
            if item.id in self.rows_:
                self.vectors_[self.rows_[item.id]] = vector
            else:
                self.rows_[item.id] = len(self.item_ids_)
                self.item_ids_.append(item.id)
                self.vectors_ = np.vstack([self.vectors_, vector[None, :]])
            self.items_[item.id] = item
        if getattr(self, "stats_", None) is not None:
            self.stats_.affinity.add_items(new)  # their categories count at once, before their first click
        if getattr(self, "ridge_", None) is not None:
            self.text_rating_ = self.ridge_.predict(self.vectors_)
        return self

    def refit_behaviour(self, items: Iterable[Item], feedback: Iterable[Feedback], *,
                        rows: Sequence[NextItemCase] | None = None) -> ClickModel:
        """Recount the behaviour statistics (and the text prior) on ``feedback``; new items are embedded."""
        items, feedback = list(items), list(feedback)
        self.add_items(items)
        all_items = [self.items_[i] for i in self.item_ids_]
        if rows:
            sequences, feedback = _sequences_from_rows(rows), [Feedback(r.user, r.item, "click", 1.0, r.timestamp) for r in rows]
        else:
            sequences = [(u, tuple(r.item for r in rs if r.is_click)) for u, rs in by_user(feedback).items()]
        self.stats_ = BehaviourStats().fit(all_items, feedback, sequences)
        self.text_rating_ = self._text_rating(self.stats_)
        self.histories_ = {u: [i for i in s if i in self.rows_] for u, s in sequences} if not rows else {}
        return self

    def _text_rating(self, stats: BehaviourStats) -> np.ndarray:
        if not stats.has_values:
            self.ridge_ = None
            return np.zeros(len(self.item_ids_))
        rated = np.array([stats.mean_feedback[stats.position[i]] if i in stats.position else np.nan for i in self.item_ids_])
        prior = float(np.nanmean(rated))
        known = ~np.isnan(rated) & (np.abs(rated - prior) > 1e-12)
        self.ridge_ = fit_ridge(self.vectors_[known], rated[known] - prior, alpha=10.0, offset=prior)
        return self.ridge_.predict(self.vectors_) if self.ridge_ is not None else np.full(len(self.item_ids_), prior)

    def _sampled_cases(self, rows: Sequence[NextItemCase], rng) -> list:
        """Each row's target against ``sampled_candidates`` random catalogue items. Random, not
        text-nearest, negatives: the whole-catalogue ranking they stand in for is mostly items
        far from the user (with text-nearest ones mixed in, the blender learnt to distrust the
        text and validation hit@10 on Amazon Industrial fell from 0.18 to 0.09)."""
        cases = []
        for r in rows:
            picked = rng.choice(len(self.item_ids_), size=min(self.config.sampled_candidates, len(self.item_ids_)), replace=False)
            candidates = [r.item, *[self.item_ids_[k] for k in picked if self.item_ids_[k] != r.item]]
            labels = np.zeros(len(candidates), np.int8)
            labels[0] = 1
            cases.append((r.user, r.history, tuple(candidates), labels))
        return cases

    def _choose_half_life(self, cases) -> float | None:
        best, best_score = None, -1.0
        for half_life in self.config.half_lives:
            values = []
            for _, history, candidates, labels in cases:
                vector = user_vector([self.rows_[i] for i in history if i in self.rows_], self.vectors_, half_life)
                if vector is not None and 0 < np.sum(labels) < len(labels):
                    values.append(auc(np.asarray(labels, float), self.vectors_[[self.rows_[c] for c in candidates]] @ vector))
            score = float(np.mean(values)) if values else 0.0
            if score > best_score + 1e-9:
                best, best_score = half_life, score
        return best

    def _signals(self, user, history, candidates, stats, text_rating) -> np.ndarray:
        candidate_rows = np.array([self.rows_[c] for c in candidates])
        return signals(history=history, candidate_rows=candidate_rows, candidates=candidates, user=user,
                       vectors=self.vectors_, rows=self.rows_, stats=stats, text_rating=text_rating,
                       half_life=getattr(self, "half_life_", None))

    def _blend_inputs(self, x: np.ndarray) -> np.ndarray:
        return np.column_stack([self.click_.decision(x[:, :len(TEXT_SIGNALS)]), x[:, len(TEXT_SIGNALS):]])

    def _tuning_report(self, x, y, groups, n_cases) -> dict:
        click = self.click_.decision(x[:, :len(TEXT_SIGNALS)])
        blend = self.blender_.decision(self._blend_inputs(x))
        report = {"cases": n_cases, "rows": int(len(y)), "half_life": self.half_life_}
        for name, score in (("click_probability", click), ("blend", blend)):
            per_case = [auc(y[groups == g].astype(float), score[groups == g]) for g in np.unique(groups)]
            report[f"{name}_auc"] = round(float(np.nanmean(per_case)), 4)
        return report

    # --- scoring -----------------------------------------------------------------------

    def score(self, candidates: Sequence[str], *, history: Sequence[str] | None = None, user: str | None = None) -> Scores:
        """Blended click probability of each candidate for a user given by ``history`` (clicked
        item ids, oldest first) or by ``user`` (the stored clicks). ``source`` is ``model`` when
        the history holds a known item, else ``fallback`` (no personal signal: popularity, age
        and mean feedback only)."""
        missing = [c for c in candidates if c not in self.rows_]
        if missing:
            raise DataError(f"unknown item(s): {', '.join(map(str, missing[:5]))} (add_items first)")
        if history is None:
            history = self.histories_.get(user, []) if user is not None else []
        known = [i for i in history if i in self.rows_]
        x = self._signals(user, known, list(candidates), self.stats_, self.text_rating_)
        if not known:
            x[:, :4] = self.click_.mean[:4]  # text signals at their average: no personal evidence
        return Scores(self.blender_.probability(self._blend_inputs(x)), SOURCE_MODEL if known else SOURCE_FALLBACK)

    def click_probability(self, candidates: Sequence[str], *, history: Sequence[str]) -> np.ndarray:
        """The calibrated text-only click probability (before blending)."""
        x = self._signals(None, [i for i in history if i in self.rows_], list(candidates), self.stats_, self.text_rating_)
        return self.click_.probability(x[:, :len(TEXT_SIGNALS)])

    def describe(self) -> dict:
        return {"protocol": self.protocol_, "config": asdict(self.config), "half_life": self.half_life_,
                "tuning": self.tuning_, "encoder": self.encoder_metrics_, "items": len(self.item_ids_),
                "signals": list(SIGNALS), "fit_seconds": getattr(self, "fit_seconds_", None),
                "timings": getattr(self, "timings_", {})}

    def save(self, directory):
        return save_click_model(self, directory)

    @classmethod
    def load(cls, directory) -> ClickModel:
        return load_click_model(directory, cls._unfitted)

    @classmethod
    def _unfitted(cls, saved_config: dict) -> ClickModel:
        # Settings a newer troika saved and this one lacks are dropped; JSON turned the tuple into a list.
        known = {f.name for f in fields(ClickModelConfig)}
        config = {k: v for k, v in saved_config.items() if k in known}
        config["half_lives"] = tuple(config.get("half_lives", ()))
        return cls(ClickModelConfig(**config))
