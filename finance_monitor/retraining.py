"""Analysts' sentiment corrections → a retrained sentiment model, promoted only when it is not worse.

    store = model_store(base_dir, var_dir)             # versions of the model trained from base_dir
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
serves, as ``troika finance train`` does) and only then activated, when it is not worse. Every
correction goes into each retraining, learned or not: a fast-mode model fits its head afresh, so
corrections it learned before must be in the data again. Only the newest ``KEEP_VERSIONS`` versions stay.
"""

from __future__ import annotations

import hashlib
import shutil
from dataclasses import dataclass
from pathlib import Path

from shared.artifacts import MANIFEST, ArtifactStore
from shared.continual import RetrainResult, hold_out_per_label
from shared.continual import retrain as retrain_classifier

KEEP_VERSIONS = 3  # a version is a whole encoder (~90 MB + its ONNX export): keep the newest for rollback only


def model_store(base_dir: Path, var_dir: Path) -> ArtifactStore:
    """The versions retrained from ``base_dir``: ``var_dir/finance_monitor/models/<base name>``, so configuring
    another model starts a new store instead of serving versions learnt from the old one."""
    base_dir = Path(base_dir)
    name = base_dir.name
    if not name.startswith("demo-sentiment-"):  # the demo's name carries its data's digest already
        name += "-" + hashlib.sha256(str(base_dir.resolve()).encode()).hexdigest()[:8]
    return ArtifactStore(Path(var_dir) / "finance_monitor" / "models" / name)


def onnx_dir(version: Path) -> Path:
    """Where a version's ONNX export lives: beside the store (``<store>-onnx/<version>``), not in it, so it is
    never taken for a version of its own."""
    version = Path(version)
    return version.parent.with_name(version.parent.name + "-onnx") / version.name


def serving_path(version: Path) -> Path:
    """A version's ONNX export when it has one, else the version itself."""
    exported = onnx_dir(version)
    return exported if (exported / MANIFEST).is_file() else Path(version)


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

    def export(candidate, version: Path) -> None:
        candidate.export_onnx(onnx_dir(version))

    outcome.result = retrain_classifier(
        store, [r["title"] for r in learn], [r["label"] for r in learn], holdout=([r["title"] for r in held], [r["label"] for r in held]),
        tolerance=tolerance, progress=progress, base=Path(base_dir), before_activate=export)
    for name in store.prune(keep=keep):
        shutil.rmtree(onnx_dir(store.root / name), ignore_errors=True)
    return outcome
