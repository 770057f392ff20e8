"""Analysts' sentiment corrections → a retrained sentiment model, promoted only when it is not worse.

    store = model_store(base_dir, var_dir)             # models.py: versions of the model trained from base_dir
    outcome = learn_corrections(store, base_dir, monitor_store.corrections())
    outcome.result.summary() if outcome.result else outcome.reason

The headline of each corrected article (the kind of text the model learnt from) is the example,
the newest correction of an article its label. The candidate warm-starts from the store's active
version (the configured or demo model while there is none yet) and is trained further with
``shared.continual`` on the corrections plus the replay sample the model keeps of its own training
data (all of the demo's rows), so it learns them without forgetting the rest.

One correction in four of each label (its 2nd, 6th, ...) is held out; old and candidate model are
compared on those (a sentiment model keeps no validation set of its own, so they are the whole
comparison). The candidate is saved as a new version either way; it is exported to ONNX int8 (what
serves, as ``troika finance train`` does) into the version (``shared.artifacts.onnx_dir``, listed in the
version's manifest) and only then activated, when it is not worse. Every
correction goes into each retraining, learned or not: a fast-mode model fits its head afresh, so
corrections it learned before must be in the data again. Only the newest ``KEEP_VERSIONS`` versions stay.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from shared.artifacts import ONNX_EXPORT, ArtifactStore, add_to_manifest, onnx_dir
from shared.continual import RetrainResult, hold_out_per_label
from shared.continual import retrain as retrain_classifier

from .models import legacy_onnx_dir, served_quantized

KEEP_VERSIONS = 3  # a version is a whole encoder (~90 MB + its ONNX export): keep the newest for rollback only


def split_corrections(rows: list[dict]) -> tuple[list[dict], list[dict]]:
    """(learn, held out) of the corrections, by ``shared.continual.hold_out_per_label``."""
    return hold_out_per_label(rows, lambda row: row["label"])


@dataclass
class Outcome:
    corrections: int
    learned_from: int
    held_out: int
    result: RetrainResult | None = None  # None: nothing was trained (reason says why)
    reason: str = ""

    def report(self, *, new: int) -> dict:
        """The retraining job's counts; ``new``: the corrections no promoted model had learned yet."""
        counts = {"corrections": self.corrections, "new": new, "learned_from": self.learned_from, "held_out": self.held_out}
        result = self.result
        if result is None:
            return {"status": "waiting for corrections", **counts, "reason": self.reason}
        return {"status": "promoted" if result.promoted else "kept the active model", **counts,
                "old_accuracy": result.old_metrics["accuracy"], "new_accuracy": result.new_metrics["accuracy"],
                "version": result.version.name}


def learn_corrections(store: ArtifactStore, base_dir: Path, rows: list[dict], *, tolerance: float = 0.0,
                      progress: bool = False, keep: int = KEEP_VERSIONS) -> Outcome:
    """Train a candidate on the corrections ``rows`` (``MonitorStore.corrections()``), compare, save, maybe activate;
    then delete all but the ``keep`` newest versions (and their exports), never the active one."""
    learn, held = split_corrections(rows)
    outcome = Outcome(len(rows), len(learn), len(held))
    if not learn or not held:
        outcome.reason = (f"{len(rows)} correction(s): retraining needs at least two of one label "
                          "(one to learn from, one held out to compare the models on)")
        return outcome

    quantize = served_quantized(Path(base_dir))  # a candidate is exported as its base is served: int8 or fp32

    def export(candidate, version: Path) -> None:
        candidate.export_onnx(onnx_dir(version), quantize=quantize)
        add_to_manifest(version, ONNX_EXPORT)  # the version and its export: one artifact, verified together

    outcome.result = retrain_classifier(
        store, [r["title"] for r in learn], [r["label"] for r in learn], holdout=([r["title"] for r in held], [r["label"] for r in held]),
        tolerance=tolerance, progress=progress, base=Path(base_dir), before_activate=export)
    for name in store.prune(keep=keep):
        shutil.rmtree(legacy_onnx_dir(store.root / name), ignore_errors=True)  # versions from before onnx_dir
    return outcome
