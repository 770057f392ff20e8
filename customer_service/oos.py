"""Out-of-scope detection: is a message one of our intents at all?

    detector = OutOfScopeDetector().fit(train_texts, train_intents, oos_texts=oos_train,
                                        validation=(val_texts, val_intents))   # val may hold OUT_OF_SCOPE rows
    detector.score(["what is the weather on mars"])        # higher = more out of scope
    detector.predict(["where is my card", "sing me a song"])  # ["card_arrival", OUT_OF_SCOPE]

One intent classifier (the shared ``TextClassifier``, ``fast`` mode by default: frozen encoder +
logistic regression) is trained, with an extra ``OUT_OF_SCOPE`` class when out-of-scope training
examples are given. One forward pass per text gives its sentence embedding and its calibrated
probabilities (``signals.Signals``); every scorer (``oos_scorers``) reads those:

- ``oos_class``: the probability of the ``OUT_OF_SCOPE`` class (needs out-of-scope training examples);
- ``confidence``: 1 - the largest calibrated in-scope probability (Hendrycks & Gimpel 2017);
- ``knn``: 1 - cosine similarity to the k-th nearest in-scope training sentence (Sun et al. 2022);
- ``mahalanobis``: distance to the closest intent's mean under a shared, shrunk covariance (Lee et al. 2018);
- ``combined``: a logistic regression over the others' scores, fitted on validation data (needs
  out-of-scope validation examples); its validation scores come from cross-validation, so the
  threshold is not chosen on scores the combiner was fitted to.

Each method's threshold is chosen on validation by ``choose_threshold`` (see its docstring for
the criterion). bench/bench_oos.py compares the methods on CLINC150 (bench/results/oos.md);
``DEFAULT_METHOD`` is the best there.
"""

from __future__ import annotations

import json
import shutil
import tempfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from shared.artifacts import DEFAULT_SERVE, ONNX_EXPORT, SERVE_RUNTIMES, atomic_dir, export_quantized, onnx_dir, verify_manifest, write_manifest
from shared.classifier import TextClassifier, train_classifier
from shared.errors import ConfigError, DataError
from shared.finetune_config import FineTuneConfig

from .intent_files import OUT_OF_SCOPE, normalise_label
from .oos_scorers import METHODS, CombinedScorer, make_scorer
from .signals import Signals, compute_signals, signals_for, signals_from_embeddings

__all__ = ["METHODS", "DEFAULT_METHOD", "FALLBACK_METHOD", "OutOfScopeDetector", "choose_threshold", "outcome_rates"]

# Chosen on CLINC150 (bench/results/oos.md): the best mean of in-scope accuracy and out-of-scope
# recall in the 2-fold cross-fitted figures (the threshold criterion itself), and the best oos F1.
# It needs out-of-scope validation examples; without any, FALLBACK_METHOD, the best there of the
# methods that need none (AUROC, FPR@95TPR), is used.
DETECTOR_KIND = "troika-oos-detector"
ONNX_DIR = ONNX_EXPORT  # the suite-wide rule: shared.artifacts.onnx_dir
# A server answers several messages at once: one core per message beats two threads per message
# contending for the same two cores.
ONNX_THREADS = 1
DEFAULT_METHOD = "combined"
FALLBACK_METHOD = "knn"
DEFAULT_MIN_OOS_RECALL = 0.94  # see choose_threshold
NEEDS_OOS_TRAINING = {"oos_class"}
NEEDS_OOS_VALIDATION = {"combined"}


# ---- thresholds ---------------------------------------------------------------------------------


def outcome_rates(scores, is_oos, intent_correct, threshold: float) -> dict:
    """In-scope accuracy (a rejected in-scope message counts as wrong) and out-of-scope
    precision/recall/F1 when every score >= threshold is flagged out of scope."""
    scores, is_oos, correct = np.asarray(scores), np.asarray(is_oos, bool), np.asarray(intent_correct, bool)
    flagged = scores >= threshold
    in_scope = ~is_oos
    tp = int((flagged & is_oos).sum())
    precision = tp / max(int(flagged.sum()), 1)
    recall = tp / max(int(is_oos.sum()), 1)
    return {
        "in_scope_accuracy": float((correct & ~flagged & in_scope).sum() / max(int(in_scope.sum()), 1)),
        "oos_precision": precision,
        "oos_recall": recall,
        "oos_f1": 2 * precision * recall / (precision + recall) if precision + recall else 0.0,
        "flagged_share": float(flagged.mean()) if len(flagged) else 0.0,
    }


def choose_threshold(scores, is_oos, intent_correct, *, min_oos_recall: float | None = DEFAULT_MIN_OOS_RECALL,
                     min_in_scope_accuracy: float | None = None, in_scope_recall_without_oos: float = 0.95) -> float:
    """The out-of-scope threshold (flag when score >= threshold) for validation data.

    Criterion, with out-of-scope validation examples: the most in-scope accuracy (a rejected
    in-scope message counts as wrong) while at least ``min_oos_recall`` of the out-of-scope
    messages are caught. A support bot must not bluff, so catching unknown questions is the
    requirement and answering is what is maximised under it; the default floor (0.94) sits above
    the 0.90 that issue 5 asks for, because a recall measured on ~100 validation messages moves
    by a few points on new data. ``min_oos_recall=None``: the mean of the two instead, weighing
    both kinds of message equally however few out-of-scope ones there are. With
    ``min_in_scope_accuracy``: the highest out-of-scope recall whose in-scope accuracy stays at or
    above that floor (the lowest-rejection threshold if none does).

    Without out-of-scope validation examples, the threshold lets ``in_scope_recall_without_oos``
    of the in-scope validation messages through (the usual 95%-TPR operating point).

    Thresholds are midpoints between consecutive distinct scores, so a new message scoring
    exactly like a validation one is not on the edge.
    """
    scores = np.asarray(scores, dtype=np.float64)
    is_oos = np.asarray(is_oos, dtype=bool)
    correct = np.asarray(intent_correct, dtype=bool)
    if len(scores) == 0 or not (~is_oos).any():
        raise DataError("choosing an out-of-scope threshold needs in-scope validation examples")
    if not np.isfinite(scores).all():
        raise DataError("out-of-scope scores contain NaN or infinite values")
    if not is_oos.any():
        return float(np.quantile(scores[~is_oos], in_scope_recall_without_oos, method="higher") + 1e-9)
    distinct = np.unique(scores)
    spread = max(float(distinct[-1] - distinct[0]), 1.0)
    candidates = np.concatenate([[distinct[0] - spread], (distinct[:-1] + distinct[1:]) / 2, [distinct[-1] + spread]])
    # For every candidate at once: in-scope messages answered correctly lie below it, caught
    # out-of-scope ones at or above it.
    good = np.sort(scores[~is_oos & correct])
    oos = np.sort(scores[is_oos])
    in_scope_accuracy = np.searchsorted(good, candidates, side="left") / (~is_oos).sum()
    oos_recall = (len(oos) - np.searchsorted(oos, candidates, side="left")) / len(oos)
    if min_in_scope_accuracy is not None:
        allowed = in_scope_accuracy >= min_in_scope_accuracy - 1e-12
        if not allowed.any():
            return float(candidates[-1])
        best = np.lexsort((in_scope_accuracy, np.where(allowed, oos_recall, -1.0)))[-1]
    elif min_oos_recall is not None:
        # The lowest candidate always catches everything, so the floor can always be met.
        allowed = oos_recall >= min_oos_recall - 1e-12
        best = np.lexsort((oos_recall, np.where(allowed, in_scope_accuracy, -1.0)))[-1]
    else:
        # Ties go to the candidate with more in-scope accuracy (fewer needless handoffs).
        best = np.lexsort((in_scope_accuracy, in_scope_accuracy + oos_recall))[-1]
    return float(candidates[best])


# ---- the detector -------------------------------------------------------------------------------


def _split_oos(texts: Sequence[str], intents: Sequence[str]) -> tuple[list[str], list[str], list[str]]:
    """(in-scope texts, their intents, out-of-scope texts) from one labelled list."""
    texts, intents = list(texts), [normalise_label(label) for label in intents]
    if len(texts) != len(intents):
        raise DataError(f"{len(texts)} texts but {len(intents)} intents")
    keep = [i for i, label in enumerate(intents) if label != OUT_OF_SCOPE]
    return [texts[i] for i in keep], [intents[i] for i in keep], [t for t, label in zip(texts, intents) if label == OUT_OF_SCOPE]


class OutOfScopeDetector:
    """An intent classifier plus an out-of-scope score and threshold, all chosen on validation.

    ``method``: one of ``METHODS``, or "auto" (``DEFAULT_METHOD`` when out-of-scope examples are
    given for training and validation, else ``FALLBACK_METHOD``). Every method that the data
    allows is fitted and thresholded (they share one classifier and one encoding pass), so
    ``scorers_``/``thresholds_`` hold them all for comparison; ``method_`` is the one in use.
    """

    def __init__(self, method: str = "auto", *, config: FineTuneConfig | None = None, base_model: str | None = None,
                 k: int = 10, min_oos_recall: float | None = DEFAULT_MIN_OOS_RECALL, min_in_scope_accuracy: float | None = None,
                 serve: str = DEFAULT_SERVE):
        if method != "auto" and method not in METHODS:
            raise ConfigError(f"unknown out-of-scope method {method!r}; choose auto or one of {', '.join(METHODS)}")
        if serve not in SERVE_RUNTIMES:
            raise ConfigError(f"unknown serving runtime {serve!r}; choose one of {', '.join(SERVE_RUNTIMES)}")
        # The scorers and thresholds are fitted on the vectors of what serves (fit_scorers): a
        # threshold chosen on torch fp32 vectors is off for int8 ones, most for the larger mpnet.
        self.serve = serve
        self.method = method
        self.config = config or FineTuneConfig(mode="fast")
        if self.config.mode == "full" and self.config.pooling == "cls":
            # Checked before training: the scorers read the embedding a mean-pooling model makes on its way.
            raise ConfigError("out-of-scope detection needs a mean-pooling classifier (fast mode, or full mode with pooling='mean')")
        self.base_model = base_model
        self.k = k
        self.min_oos_recall = min_oos_recall
        self.min_in_scope_accuracy = min_in_scope_accuracy

    def fit(self, texts: Sequence[str], intents: Sequence[str], oos_texts: Sequence[str] = (), *,
            validation: tuple[Sequence[str], Sequence[str]], progress: bool = True, distillation=None) -> OutOfScopeDetector:
        """Train on in-scope (texts, intents) plus optional out-of-scope texts (rows labelled
        ``OUT_OF_SCOPE`` in ``intents`` count as such too); ``validation`` is (texts, intents)
        whose out-of-scope rows are labelled ``OUT_OF_SCOPE``. ``distillation``: a
        ``shared.distillation.DistillationPlan``; its teacher, trained on the same rows and labels,
        teaches the classifier, and the scorers are fitted on that student. Returns self."""
        train_texts, train_intents, more_oos = _split_oos(texts, intents)
        oos_texts = list(oos_texts) + more_oos
        val_texts, val_intents = list(validation[0]), [normalise_label(label) for label in validation[1]]
        val_in_texts, val_in_intents, val_oos_texts = _split_oos(val_texts, val_intents)
        if not val_in_texts:
            raise DataError("validation needs in-scope examples")
        unknown = sorted(set(val_in_intents) - set(train_intents))
        if unknown:
            raise DataError(f"validation intents absent from training: {', '.join(unknown[:5])}")

        clf_texts = train_texts + oos_texts
        clf_intents = train_intents + [OUT_OF_SCOPE] * len(oos_texts)
        # The classifier only knows OUT_OF_SCOPE when it saw examples of it.
        eval_texts = val_texts if oos_texts else val_in_texts
        eval_intents = val_intents if oos_texts else val_in_intents
        clf = train_classifier(self.base_model, self.config, clf_texts, clf_intents, eval_data=(eval_texts, eval_intents),
                               distillation=distillation, keep_fit_embeddings=self.serve == "torch", progress=progress)
        return self.fit_scorers(clf, train_texts, train_intents, oos_texts, validation=(val_texts, val_intents), progress=progress)

    def fit_scorers(self, clf: TextClassifier, texts: Sequence[str], intents: Sequence[str], oos_texts: Sequence[str] = (), *,
                    validation: tuple[Sequence[str], Sequence[str]], progress: bool = False) -> OutOfScopeDetector:
        """Fit every scorer and threshold around an already trained classifier (``fit`` trains one;
        retraining brings a warm-started one). The data is kept (``data_``), so a later retrain can
        fit the scorers again on it plus what was learned since. The vectors come from the runtime
        ``serve`` names (the classifier's encoder is exported first for ONNX), so the thresholds hold
        for what is served. Returns self."""
        train_texts, train_intents, oos_texts = list(texts), list(intents), list(oos_texts)
        val_texts, val_intents = list(validation[0]), [normalise_label(label) for label in validation[1]]
        val_oos_texts = [t for t, i in zip(val_texts, val_intents) if i == OUT_OF_SCOPE]
        self.classifier_ = clf
        self.data_ = {"train": [train_texts, train_intents], "oos": oos_texts, "validation": [val_texts, val_intents]}
        clf_texts = train_texts + oos_texts
        self._export_for_serving(clf)
        train = self._fit_signals(clf, clf_texts, progress)
        in_rows = np.arange(len(train_texts))
        oos_signals = train.subset(np.arange(len(train_texts), len(clf_texts))) if oos_texts else None
        available = [m for m in METHODS if not (m in NEEDS_OOS_TRAINING and not oos_texts)
                     and not (m in NEEDS_OOS_VALIDATION and not val_oos_texts)]
        self.method_ = self._resolve_method(available)
        parts = {m: make_scorer(m, k=self.k).fit(train.subset(in_rows), train_intents, oos_signals)
                 for m in available if m != "combined"}
        self.scorers_ = dict(parts)
        if "combined" in available:
            self.scorers_["combined"] = CombinedScorer(parts)
        val = self._fit_signals(clf, val_texts, progress)
        clf.forget_fit_embeddings()  # free the memory: the kNN index keeps what it needs
        self.validation_ = self._tune(val, val_intents)
        self.thresholds_ = {m: report["threshold"] for m, report in self.validation_.items()}
        self.threshold_ = self.thresholds_[self.method_]
        self.intents_ = sorted(set(train_intents))
        return self

    def _export_for_serving(self, clf: TextClassifier) -> None:
        from shared.onnx_runtime import export_onnx_encoder

        self.encoder_ = None
        if SERVE_RUNTIMES[self.serve] is None:
            return
        # Held on the detector until save() copies it: exported once, fitted on and saved as is.
        self._export_tmp = tempfile.TemporaryDirectory(prefix="troika-oos-onnx-")
        self.encoder_ = export_onnx_encoder(clf, Path(self._export_tmp.name) / ONNX_DIR,
                                            quantize=SERVE_RUNTIMES[self.serve], threads=ONNX_THREADS)

    def _fit_signals(self, clf: TextClassifier, texts: list[str], progress: bool) -> Signals:
        if self.encoder_ is None:
            return signals_for(clf, texts)  # torch: the vectors kept while fitting, where there are any
        return signals_from_embeddings(clf, self.encoder_.encode(texts, batch_size=128, show_progress=progress))

    def _resolve_method(self, available: list[str]) -> str:
        if self.method == "auto":
            return DEFAULT_METHOD if DEFAULT_METHOD in available else FALLBACK_METHOD
        if self.method not in available:
            needs = "training" if self.method in NEEDS_OOS_TRAINING else "validation"
            raise DataError(f"the {self.method} method needs out-of-scope {needs} examples")
        return self.method

    def _tune(self, val: Signals, val_intents: list[str]) -> dict:
        """Per method: scores on validation, chosen threshold and the rates it gives there."""
        is_oos = np.array([label == OUT_OF_SCOPE for label in val_intents])
        correct = np.array(val.predicted_intents()) == np.array(val_intents)
        reports = {}
        for name, scorer in self.scorers_.items():
            scores = scorer.fit_validation(val, is_oos)
            threshold = choose_threshold(scores, is_oos, correct, min_oos_recall=self.min_oos_recall,
                                         min_in_scope_accuracy=self.min_in_scope_accuracy)
            reports[name] = {"threshold": threshold, **outcome_rates(scores, is_oos, correct, threshold)}
        return reports

    # ---- inference ----------------------------------------------------------------------------

    def signals(self, texts: Sequence[str]) -> Signals:
        encoder = getattr(self, "encoder_", None)
        if encoder is not None:  # the ONNX encoder; the head is applied in numpy either way
            return signals_from_embeddings(self.classifier_, encoder.encode(list(texts)))
        return compute_signals(self.classifier_, list(texts))

    def use_onnx(self, directory: str | Path) -> OutOfScopeDetector:
        """Serve through the classifier's encoder exported to ONNX (exported there first when
        ``directory`` holds none): ~2 ms a message instead of ~10 on a CPU core. Returns self."""
        from shared.onnx_runtime import OnnxEncoder, export_onnx_encoder

        directory = Path(directory)
        self.encoder_ = (OnnxEncoder.load(directory, threads=ONNX_THREADS) if directory.exists()
                         else export_onnx_encoder(self.classifier_, directory, quantize=export_quantized(self.serve),
                                                  threads=ONNX_THREADS))
        return self

    def score(self, texts: Sequence[str], method: str | None = None) -> np.ndarray:
        """Out-of-scope score per text (higher = more out of scope), by ``method_`` unless named."""
        return self.scorers_[method or self.method_].score(self.signals(texts))

    def assess(self, texts: Sequence[str] | Signals) -> tuple[np.ndarray, list[str], np.ndarray]:
        """What ``policy.decide`` needs, from one forward pass (or from ``Signals`` already computed):
        (in-scope probabilities renormalised over the intents, (n, k); the k intents; out-of-scope scores, (n,))."""
        signals = texts if isinstance(texts, Signals) else self.signals(texts)
        return signals.in_scope_probs(), signals.in_scope_labels, self.scorers_[self.method_].score(signals)

    # ---- persistence --------------------------------------------------------------------------

    def save(self, path: str | Path, *, extra: dict | None = None, onnx: bool = True) -> Path:
        """Write the classifier, every scorer's arrays (safetensors), the thresholds, the data it
        was fitted on (for retraining) and, with ``onnx``, its encoder as ONNX (the export it was
        fitted on where it holds one; what the bot serves with), all under one manifest, atomically (the directory it replaces is kept as
        ``.previous``). No pickle. ``extra``: JSON the caller wants back as ``extra_`` after ``load``
        (the bot's policy thresholds)."""
        from safetensors.numpy import save_file

        from shared.onnx_runtime import export_onnx_encoder

        path = Path(path)
        with atomic_dir(path) as tmp:
            self.classifier_.save(tmp / "classifier")
            encoder = getattr(self, "encoder_", None)
            if onnx and encoder is not None:
                shutil.copytree(encoder.path, onnx_dir(tmp))
            elif onnx and SERVE_RUNTIMES[self.serve] is not None:
                export_onnx_encoder(self.classifier_, onnx_dir(tmp), quantize=SERVE_RUNTIMES[self.serve])
            (tmp / "data.json").write_text(json.dumps(getattr(self, "data_", {}), ensure_ascii=False))
            arrays = {f"{name}.{key}": np.ascontiguousarray(value) for name, scorer in self.scorers_.items()
                      for key, value in scorer.state().items()}
            save_file(arrays, tmp / "scorers.safetensors")
            meta = {"method": self.method, "method_": self.method_, "k": self.k, "serve": self.serve, "scorers": list(self.scorers_),
                    "thresholds": self.thresholds_, "validation": self.validation_, "intents": self.intents_,
                    "extra": extra if extra is not None else getattr(self, "extra_", {})}
            (tmp / "detector.json").write_text(json.dumps(meta, indent=1, default=float))
            write_manifest(tmp, DETECTOR_KIND)
        return path

    @classmethod
    def load(cls, path: str | Path, *, onnx: bool = True) -> OutOfScopeDetector:
        """Load a saved detector after verifying every file against its manifest; with ``onnx``
        (and an ONNX encoder saved with it) messages are encoded by onnxruntime, not torch."""
        from safetensors.numpy import load_file

        path = Path(path)
        verify_manifest(path, DETECTOR_KIND)
        meta = json.loads((path / "detector.json").read_text())
        # Saved before the runtime was recorded: fitted on torch, served as ONNX int8.
        self = cls(meta["method"], k=meta["k"], serve=meta.get("serve", DEFAULT_SERVE))
        self.classifier_ = TextClassifier.load(path / "classifier")
        arrays = load_file(path / "scorers.safetensors")

        def state_of(name: str) -> dict:
            return {key.split(".", 1)[1]: value for key, value in arrays.items() if key.startswith(name + ".")}

        parts = {name: make_scorer(name, k=self.k).load_state(state_of(name)) for name in meta["scorers"] if name != "combined"}
        self.scorers_ = dict(parts)
        if "combined" in meta["scorers"]:
            self.scorers_["combined"] = CombinedScorer(parts).load_state(state_of("combined"))
        self.method_, self.thresholds_, self.validation_ = meta["method_"], meta["thresholds"], meta["validation"]
        self.threshold_ = self.thresholds_[self.method_]
        self.intents_ = meta["intents"]
        self.extra_ = meta.get("extra", {})
        self.data_ = json.loads((path / "data.json").read_text()) if (path / "data.json").exists() else {}
        if onnx and onnx_dir(path).exists():
            self.use_onnx(onnx_dir(path))
        return self

    def predict(self, texts: Sequence[str]) -> list[str]:
        """The predicted intent per text, or ``OUT_OF_SCOPE`` when its score clears the threshold."""
        signals = self.signals(texts)
        flagged = self.scorers_[self.method_].score(signals) >= self.threshold_
        return [OUT_OF_SCOPE if f else intent for f, intent in zip(flagged, signals.predicted_intents())]
