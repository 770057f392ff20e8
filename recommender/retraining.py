"""The periodic retrain: a candidate click model on everything stored, promoted only when it is not worse.

    result = retrain(items, feedback, ArtifactStore("var/recommender/models"), ClickModelConfig())
    print(result.summary())   # promoted: held-out auc old 0.6410 → new 0.6522 (...); candidate at ...

1. Each user's latest ``holdout_fraction`` of feedback is held out (``temporal_split``); the
   candidate is fitted on the earlier part only.
2. The active model, loaded afresh from the store (the copy serving requests is never touched),
   has its behaviour statistics recounted on the same earlier part, so neither model's counts
   include the held-out period.
3. Both score the same held-out cases: each user's later items, clicked or not (the impression
   protocol), where at least 20 users' later feedback mixes clicks and non-clicks; otherwise
   each later click against ``negatives`` items the user never touched (sampled, seeded). The
   decision is on mean AUC.
4. Not worse (candidate AUC >= active AUC - ``tolerance``; no active model: always): the
   candidate's behaviour statistics are recounted on all the feedback, it is saved as a new
   version and activated; a server's ``ActiveWatcher`` swaps it in without a restart. Only the
   ``keep`` newest versions stay on disk (each holds an encoder of ~90 MB).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence

from shared.artifacts import ArtifactStore
from shared.continual import RetrainResult, promote_if_not_worse
from shared.errors import DataError

from .click_model import ClickModel, ClickModelConfig
from .metrics import evaluate_scores
from .records import Feedback, Item
from .splits import EvalCase, impression_cases, sampled_negative_cases, temporal_split

log = logging.getLogger(__name__)
MIN_IMPRESSION_CASES = 20  # fewer, and the sampled-negative protocol gives a steadier comparison


def holdout_cases(fit: Sequence[Feedback], held: Sequence[Feedback], catalogue: Sequence[str], *,
                  negatives: int = 20, seed: int = 0) -> tuple[list[EvalCase], str]:
    """The held-out cases both models are judged on, and the protocol's name."""
    cases = [c for c in impression_cases(fit, held) if 0 < c.labels.sum() < len(c.labels)]
    if len(cases) >= MIN_IMPRESSION_CASES:
        return cases, "impression"
    sampled = sampled_negative_cases(fit, held, catalogue, n_negatives=negatives, seed=seed)
    if sampled:
        return sampled, f"1 click + {negatives} unseen"
    return cases, "impression"  # a catalogue so small every user has seen it all: the few impressions there are


def holdout_metrics(model: ClickModel, cases: Sequence[EvalCase]) -> dict:
    metrics = evaluate_scores(cases, lambda c: model.score(c.candidates, history=c.history, user=c.user).values)
    return {k: (round(v, 4) if isinstance(v, float) else v) for k, v in metrics.items()}


def retrain(items: Sequence[Item], feedback: Sequence[Feedback], store: ArtifactStore,
            config: ClickModelConfig | None = None, *, holdout_fraction: float = 0.2, tolerance: float = 0.0,
            keep: int = 3, progress: bool = False) -> RetrainResult:
    """Fit a candidate on the stored ``items`` and ``feedback``; activate it in ``store`` when not worse."""
    started = time.monotonic()
    items, feedback = list(items), list(feedback)
    fit, held = temporal_split(feedback, holdout_fraction)
    cases, protocol = holdout_cases(fit, held, [i.id for i in items], seed=(config or ClickModelConfig()).seed)
    if not cases:
        raise DataError(f"too little feedback to judge a new click model: {len(feedback)} records, "
                        "no user with a later click to hold out")
    candidate = ClickModel(config).fit(items, fit, progress=progress)
    new_metrics = holdout_metrics(candidate, cases)
    active_dir = store.active()
    old_metrics = None
    if active_dir is not None:
        active = ClickModel.load(active_dir).refit_behaviour(items, fit)
        old_metrics = holdout_metrics(active, cases)
    # Only a promoted candidate is saved, refitted on all the feedback first (the held-out part included).
    promoted, version = promote_if_not_worse(
        store, lambda: candidate.refit_behaviour(items, feedback).save(store.new_version_dir()), old_metrics, new_metrics,
        metrics=("auc",), tolerance=tolerance)
    if promoted:
        store.prune(keep=keep)
    reason = (f"{len(cases)} held-out cases ({protocol}) from the latest {holdout_fraction:.0%} of each user's feedback; "
              f"candidate fitted on {len(fit)} records in {time.monotonic() - started:.0f} s"
              + ("" if old_metrics is None else ("; not worse" if promoted else "; worse, not saved")))
    result = RetrainResult(promoted=promoted, version=version, old_metrics=old_metrics, new_metrics=new_metrics,
                           reason=reason, metric="auc")
    log.info("recommender retrain: %s", result.summary())
    return result
