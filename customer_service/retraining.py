"""Feedback → a retrained bot model, promoted only when it is not worse.

    result = retrain(ArtifactStore("var/customer_service/models"), Conversations(engine))
    print(result.summary())        # promoted: held-out accuracy old 0.9120 → new 0.9200 (...)

What feedback supports (``Conversations.training_examples``: admins' corrections, and intent
answers a visitor called helpful) is learned through ``shared.continual.train_further``, new
intents included. The classifier warm-starts from the active model; in fast mode (a frozen encoder
and a linear head fitted from scratch) the replay is the whole training set the model was fitted
on, in full mode the sample the model keeps. The out-of-scope scorers and thresholds are then
fitted again around the new classifier, on the kept training data plus the new examples.

One new example in four is held out; the active and the candidate model are compared on it plus
the validation set the active model was chosen on, with out-of-scope messages counting (an
in-scope message flagged out of scope is wrong). The candidate is saved as a new version either
way and becomes active only when it is not worse; a running server picks that up by itself
(``shared.artifacts.ActiveWatcher``).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from shared.artifacts import ArtifactStore
from shared.classifier import TextClassifier
from shared.continual import RetrainResult, hold_out_per_label, promote_if_not_worse, train_further
from shared.errors import DataError, NotFoundError

from .conversations import Conversations
from .intent_files import OUT_OF_SCOPE
from .oos import OutOfScopeDetector


def split_new_examples(examples: list[tuple[int, str, str]]) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(train, held out) of the (id, text, intent) feedback examples, by ``hold_out_per_label``."""
    train, held = hold_out_per_label(examples, lambda example: example[2])
    return [(text, intent) for _, text, intent in train], [(text, intent) for _, text, intent in held]


def holdout_accuracy(detector: OutOfScopeDetector, texts: list[str], intents: list[str]) -> dict:
    """Share of messages the detector gets right, OUT_OF_SCOPE included; unknown intents count as wrong."""
    predicted = np.array(detector.predict(texts))
    truth = np.array(intents)
    report = {"accuracy": float(np.mean(predicted == truth)), "n": len(texts)}
    in_scope = truth != OUT_OF_SCOPE
    if in_scope.any():
        report["in_scope_accuracy"] = float(np.mean(predicted[in_scope] == truth[in_scope]))
    return report


def retrain_detector(active_dir: Path, texts: list[str], intents: list[str], *, base: OutOfScopeDetector | None = None,
                     progress: bool = True) -> OutOfScopeDetector:
    """A candidate detector: the model in ``active_dir`` (``base``, when already loaded) trained further on (texts, intents)."""
    base = base or OutOfScopeDetector.load(active_dir, onnx=False)
    data = base.data_
    if not data:
        raise DataError(f"{active_dir} keeps no training data (saved before retraining existed): train it again with troika cs train")
    train_texts, train_intents = data["train"]
    oos_texts = data["oos"]
    clf = TextClassifier.load(Path(active_dir) / "classifier").set_params(keep_fit_embeddings=True)
    in_texts = [t for t, i in zip(texts, intents) if i != OUT_OF_SCOPE]
    in_intents = [i for i in intents if i != OUT_OF_SCOPE]
    new_oos = [t for t, i in zip(texts, intents) if i == OUT_OF_SCOPE]
    # Fast mode fits its head from scratch, so it replays everything it knew; full mode its sample.
    replay = (train_texts + oos_texts, train_intents + [OUT_OF_SCOPE] * len(oos_texts)) if clf.config.mode == "fast" else None
    # As in OutOfScopeDetector.fit: a classifier without an OUT_OF_SCOPE class is evaluated on intents only.
    val = [(t, i) for t, i in zip(*data["validation"]) if i != OUT_OF_SCOPE or OUT_OF_SCOPE in clf.labels]
    train_further(clf, texts, intents, replay=replay, eval_data=([t for t, _ in val], [i for _, i in val]), progress=progress)
    candidate = OutOfScopeDetector(base.method, k=base.k, serve=base.serve)
    candidate.fit_scorers(clf, train_texts + in_texts, train_intents + in_intents, oos_texts + new_oos,
                          validation=tuple(data["validation"]), progress=progress)
    candidate.extra_ = base.extra_
    return candidate


def retrain(store: ArtifactStore, chats: Conversations, *, tolerance: float = 0.0, progress: bool = True) -> RetrainResult:
    """Learn every example feedback supports; save the candidate; activate it when not worse."""
    active_dir = store.active()
    if active_dir is None:
        raise NotFoundError(f"no bot model under {store.root}: start the server once (troika run) or train one")
    examples = chats.training_examples(unused_only=False)  # all of them: a fresh base model must learn them again
    if not examples:
        raise DataError("no feedback to learn from yet: corrections from admins, or answers visitors called helpful")
    train, held = split_new_examples(examples)
    active = OutOfScopeDetector.load(active_dir, onnx=False)
    candidate = retrain_detector(active_dir, [t for t, _ in train], [i for _, i in train], base=active, progress=progress)
    val_texts, val_intents = active.data_["validation"]
    holdout = (list(val_texts) + [t for t, _ in held], list(val_intents) + [i for _, i in held])
    old_metrics = holdout_accuracy(active, *holdout)
    new_metrics = holdout_accuracy(candidate, *holdout)
    version = candidate.save(store.new_version_dir())
    promoted, _ = promote_if_not_worse(store, version, old_metrics, new_metrics, tolerance=tolerance)
    if promoted:
        chats.mark_used([fid for fid, _, _ in examples])
    return RetrainResult(promoted=promoted, version=version, old_metrics=old_metrics, new_metrics=new_metrics,
                         reason=(f"{len(train)} new example(s) learned, {len(held)} held out with {len(val_texts)} validation messages; "
                                 + ("not worse" if promoted else "worse") + " on them"),
                         new_labels=sorted(set(candidate.intents_) - set(active.intents_)))
