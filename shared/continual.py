"""Keep re-fine-tuning as labelled data arrives, without forgetting and without regressions.

    store = ArtifactStore("var/models/intent")          # versions + an ACTIVE pointer
    result = retrain(store, new_texts, new_labels, holdout=(texts, labels))
    result.promoted                                      # False: the old model keeps serving

The candidate warm-starts from the active model, trains on the new examples plus a replayed
sample of old ones (kept in the model directory), and is compared with the active model on
the same held-out data, and on the model's guard: validation rows of its first training that no
version trains on. It becomes active only if it is not worse on either; every version stays on
disk so ``store.rollback()`` can undo a promotion.

Why the guard: the held-out examples are usually new corrections, i.e. messages the active model
got wrong, so it scores ~0 on them and almost any candidate "improves". Measured on the finance
sentiment model before the guard and the kept head (bench/bench_corrections.py): 54 corrections
learned, the candidate won on the held-out corrections and had lost 17 points on held-out Twitter
validation rows. The guard is what catches that.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from .artifacts import ArtifactStore
from .classifier import TextClassifier
from .errors import DataError, NotFoundError
from .finetune_config import FineTuneConfig

T = TypeVar("T")
HOLD_OUT_EVERY = 4


def hold_out_per_label(items: Sequence[T], label: Callable[[T], str], every: int = HOLD_OUT_EVERY) -> tuple[list[T], list[T]]:
    """(learn, held out): of each label's items in order, every ``every``-th counted from its second
    is held out, so the first example of a new label is always learned and its second one tests it."""
    learn, held, seen = [], [], {}
    for item in items:
        key = label(item)
        seen[key] = n = seen.get(key, 0) + 1
        (held if n % every == 2 % every else learn).append(item)
    return learn, held


@dataclass
class RetrainResult:
    promoted: bool
    version: Path | None  # where the candidate was saved (active or not); None: not saved
    old_metrics: dict | None
    new_metrics: dict
    reason: str
    new_labels: list[str] = field(default_factory=list)
    metric: str = "accuracy"  # the key of old_metrics / new_metrics the decision was made on

    def summary(self) -> str:
        new = self.new_metrics[self.metric]
        old = "none" if self.old_metrics is None else f"{self.old_metrics[self.metric]:.4f}"
        verdict = "promoted" if self.promoted else "kept the active model"
        saved = f"candidate at {self.version}" if self.version is not None else "candidate not saved"
        return f"{verdict}: held-out {self.metric} old {old} → new {new:.4f} ({self.reason}); {saved}"


def promote_if_not_worse(store: ArtifactStore, candidate: Path | Callable[[], Path], old_metrics: dict | None, new_metrics: dict, *,
                         metrics: Sequence[str] = ("accuracy",), tolerance: float = 0.0,
                         before_activate: Callable[[Path], None] | None = None) -> tuple[bool, Path | None]:
    """The promotion gate of every app's retraining: the candidate becomes active when no model is
    active yet (``old_metrics`` None) or when on each of ``metrics`` it is at least the active model's
    figure less ``tolerance``. ``candidate``: its saved version, or a function that saves it and
    returns the version (called only when promoted, for apps that keep only promoted versions).
    ``before_activate(version)`` runs before ACTIVE names it (what must exist before it serves).
    Returns (promoted, version); version None when the candidate was never saved."""
    promoted = old_metrics is None or all(new_metrics[m] >= old_metrics[m] - tolerance for m in metrics)
    version = candidate if isinstance(candidate, Path) else None
    if promoted:
        version = version or candidate()
        if before_activate is not None:
            before_activate(version)
        store.activate(version)
    return promoted, version


def _holdout_score(clf: TextClassifier, texts: list[str], labels: list[str]) -> dict:
    """Evaluate on the held-out rows; labels the model never saw count as errors, not crashes."""
    known = set(clf.labels_)
    hits = [p == t for p, t in zip(clf.predict(texts), labels)]
    report = {"accuracy": sum(hits) / len(hits), "n": len(hits)}
    hits_on_known = [hit for hit, label in zip(hits, labels) if label in known]
    if hits_on_known:
        report["accuracy_on_known_labels"] = sum(hits_on_known) / len(hits_on_known)
    return report


def retrain(
    store: ArtifactStore,
    texts: list[str],
    labels: list[str],
    holdout: tuple[list[str], list[str]],
    *,
    config: FineTuneConfig | None = None,
    tolerance: float = 0.0,
    progress: bool = True,
    base: Path | None = None,
    before_activate: Callable[[TextClassifier, Path], None] | None = None,
) -> RetrainResult:
    """Warm-start a candidate from the active model, train with replay, promote if not worse.

    ``base``: the model to start from (and compare with) while the store has no active version
    yet, e.g. one trained elsewhere. ``before_activate(candidate, version)`` runs on a promoted
    candidate before ACTIVE names it, for what must exist before it serves (an ONNX export)."""
    holdout_texts, holdout_labels = list(holdout[0]), [str(label) for label in holdout[1]]
    if not holdout_texts:
        raise DataError("retraining needs held-out examples to compare the old and new models")
    if not texts:
        raise DataError("no new examples to train on")
    active_dir = store.active() or base
    if active_dir is None:
        raise NotFoundError(f"no active model under {store.root}; train one first")
    active = TextClassifier.load(active_dir)
    candidate = TextClassifier.load(active_dir)
    if config is not None:
        candidate.config = config
    train_further(candidate, texts, labels, progress=progress)
    old_metrics = _holdout_score(active, holdout_texts, holdout_labels)
    new_metrics = _holdout_score(candidate, holdout_texts, holdout_labels)
    version = store.new_version_dir()
    candidate.save(version)
    guard_texts, guard_labels = active.guard_data()
    if guard_texts:
        old_metrics["guard_accuracy"] = _holdout_score(active, guard_texts, guard_labels)["accuracy"]
        new_metrics["guard_accuracy"] = _holdout_score(candidate, guard_texts, guard_labels)["accuracy"]
    held_out_ok = new_metrics["accuracy"] >= old_metrics["accuracy"] - tolerance
    promoted, _ = promote_if_not_worse(
        store, version, old_metrics, new_metrics, metrics=("accuracy", "guard_accuracy") if guard_texts else ("accuracy",),
        tolerance=tolerance, before_activate=None if before_activate is None else lambda v: before_activate(candidate, v))
    if not held_out_ok:
        reason = "worse on held-out data"
    elif not promoted:
        reason = (f"worse on the guard: {len(guard_texts)} validation rows neither model trained on, "
                  f"accuracy {old_metrics['guard_accuracy']:.4f} → {new_metrics['guard_accuracy']:.4f}")
    else:
        reason = "not worse on held-out data nor on the guard" if guard_texts else "not worse on held-out data"
    return RetrainResult(
        promoted=promoted,
        version=version,
        old_metrics=old_metrics,
        new_metrics=new_metrics,
        reason=reason,
        new_labels=sorted(set(candidate.labels_) - set(active.labels_)),
    )


def train_further(candidate: TextClassifier, texts, labels, *, replay: tuple | None = None, eval_data: tuple | None = None,
                  progress: bool = True) -> TextClassifier:
    """Continue training ``candidate`` (in place) on new examples plus a replay of old ones, so it
    learns them without forgetting; labels it never saw are added. ``replay`` is (texts, labels),
    by default the sample the model keeps of its own training data; ``eval_data`` as in ``fit``
    (None: a share of the training data is held out). Returns ``candidate``."""
    replay_texts, replay_labels = replay if replay is not None else candidate.replay_data()
    candidate.fit(
        list(texts) + list(replay_texts),
        [str(label) for label in labels] + [str(label) for label in replay_labels],
        eval_data=eval_data,
        warm_start=True,
        progress=progress,
    )
    return candidate


def publish_first(store: ArtifactStore, clf: TextClassifier) -> Path:
    """Save a freshly trained model as the store's first (active) version."""
    version = store.new_version_dir()
    clf.save(version)
    store.activate(version)
    return version
