"""What one forward pass of the intent classifier gives for a batch of texts.

Out-of-scope detection needs, per message, both the sentence embedding (distance to the training
data) and the calibrated probabilities (confidence, the out-of-scope class). A mean-pooling
``TextClassifier`` (fast mode, or full mode with ``pooling="mean"``) computes the embedding on the
way to its logits, so ``compute_signals`` runs the encoder once (``TextClassifier.embed``) and applies
the head to that (``TextClassifier.proba_from_embeddings``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.classifier import TextClassifier
from shared.errors import ConfigError

from .intent_files import OUT_OF_SCOPE


@dataclass
class Signals:
    """Sentence embeddings (unit rows) and calibrated probabilities (columns follow ``labels``)."""

    embeddings: np.ndarray
    probs: np.ndarray
    labels: list[str]

    def __len__(self) -> int:
        return len(self.probs)

    @property
    def in_scope_columns(self) -> np.ndarray:
        return np.array([i for i, label in enumerate(self.labels) if label != OUT_OF_SCOPE], dtype=int)

    @property
    def in_scope_labels(self) -> list[str]:
        return [self.labels[i] for i in self.in_scope_columns]

    @property
    def oos_probability(self) -> np.ndarray | None:
        """P(OUT_OF_SCOPE) when the classifier has that class, else None."""
        return self.probs[:, self.labels.index(OUT_OF_SCOPE)] if OUT_OF_SCOPE in self.labels else None

    def in_scope_probs(self) -> np.ndarray:
        """Probabilities over the intents only, renormalised to sum to 1 (what the policy compares)."""
        probs = self.probs[:, self.in_scope_columns]
        return probs / np.clip(probs.sum(axis=1, keepdims=True), 1e-12, None)

    def predicted_intents(self) -> list[str]:
        labels = self.in_scope_labels
        return [labels[i] for i in self.probs[:, self.in_scope_columns].argmax(axis=1)]

    def subset(self, rows) -> Signals:
        rows = np.asarray(rows)
        return Signals(self.embeddings[rows], self.probs[rows], self.labels)


def embed(clf: TextClassifier, texts: Sequence[str]) -> np.ndarray:
    """The classifier's own sentence embeddings (mean-pooled, unit length), batched by length."""
    return clf.embed(list(texts))


def signals_from_embeddings(clf: TextClassifier, embeddings: np.ndarray) -> Signals:
    """Apply the classifier's linear head and temperature to embeddings it produced."""
    return Signals(embeddings, clf.proba_from_embeddings(embeddings), clf.labels)


def compute_signals(clf: TextClassifier, texts: Sequence[str]) -> Signals:
    if clf.architecture != "mean-pooling":
        raise ConfigError("out-of-scope detection needs a mean-pooling classifier (fast mode, or full mode with pooling='mean')")
    return signals_from_embeddings(clf, embed(clf, texts))


def signals_for(clf: TextClassifier, texts: list[str]) -> Signals:
    """``compute_signals``, reusing the vectors the classifier kept while fitting (``keep_fit_embeddings=True``).

    Fast mode embeds every training and validation text to fit its head; the detectors need the very
    same vectors (the encoder is frozen), so they are kept instead of encoding 15,000 texts twice. Texts
    it did not keep (or any text, for a classifier that kept none) are encoded here.
    """
    kept = clf.fit_embeddings()
    missing = [t for t in dict.fromkeys(texts) if t not in kept]
    if missing:
        kept = {**kept, **dict(zip(missing, embed(clf, missing)))}
    vectors = np.stack([kept[t] for t in texts]) if texts else embed(clf, [])
    return signals_from_embeddings(clf, vectors)
