"""What one forward pass of the intent classifier gives for a batch of texts.

Out-of-scope detection needs, per message, both the sentence embedding (distance to the training
data) and the calibrated probabilities (confidence, the out-of-scope class). A mean-pooling
``TextClassifier`` (fast mode, or full mode with ``pooling="mean"``) computes the embedding on the
way to its logits, so ``compute_signals`` runs the encoder once and applies the head itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from shared.classifier import TextClassifier
from shared.errors import ConfigError
from shared.metrics import calibrated_softmax

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
    import torch

    texts = list(texts)
    dim = clf.model_.head.in_features
    out = np.zeros((len(texts), dim), dtype=np.float32)
    order = np.argsort([len(t) for t in texts], kind="stable")  # similar lengths: little padding
    for start in range(0, len(order), clf.batch_size):
        rows = order[start : start + clf.batch_size]
        encoded = clf.tokenizer_([texts[i] for i in rows], padding=True, truncation=True, max_length=clf.max_length_, return_tensors="pt")
        with torch.inference_mode():
            out[rows] = clf.model_.embed(encoded["input_ids"], encoded["attention_mask"]).numpy()
    return out


def signals_from_embeddings(clf: TextClassifier, embeddings: np.ndarray) -> Signals:
    """Apply the classifier's linear head and temperature to embeddings it produced."""
    weight = clf.model_.head.weight.detach().numpy()
    bias = clf.model_.head.bias.detach().numpy()
    logits = embeddings.astype(np.float64) @ weight.T.astype(np.float64) + bias
    return Signals(embeddings, calibrated_softmax(logits, clf.temperature_), list(clf.labels_))


def compute_signals(clf: TextClassifier, texts: Sequence[str]) -> Signals:
    if not hasattr(clf.model_, "embed"):
        raise ConfigError("out-of-scope detection needs a mean-pooling classifier (fast mode, or full mode with pooling='mean')")
    return signals_from_embeddings(clf, embed(clf, texts))


class KeepsFitEmbeddings(TextClassifier):
    """A TextClassifier that keeps the sentence vectors fast mode computes while fitting.

    Fast mode embeds every training and validation text to fit its head; the detectors need the
    very same vectors (the encoder is frozen), so they are kept instead of encoding 15,000 texts
    twice. Relies on TextClassifier's ``_embed``: should that hook change, nothing is recorded
    and the detector simply encodes again (slower, same result). Full mode changes the encoder
    after its linear-probe stage, so nothing recorded there would be valid.
    """

    def _embed(self, texts, progress=False):
        vectors = super()._embed(texts, progress)
        if self.config.mode == "fast":
            if not hasattr(self, "fit_embeddings_"):
                self.fit_embeddings_ = {}
            self.fit_embeddings_.update(zip(texts, vectors))
        return vectors

    def signals_for(self, texts: list[str]) -> Signals:
        kept = getattr(self, "fit_embeddings_", {})
        missing = [t for t in dict.fromkeys(texts) if t not in kept]
        if missing:
            kept = {**kept, **dict(zip(missing, embed(self, missing)))}
        dim = self.model_.head.in_features
        vectors = np.stack([kept[t] for t in texts]) if texts else np.zeros((0, dim), dtype=np.float32)
        return signals_from_embeddings(self, vectors)
