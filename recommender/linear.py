"""Linear models the click model saves as plain JSON (no pickle): a standardised logistic
regression (click probability, blender) and a ridge regression (text prior of an item's mean
feedback). Fitted with scikit-learn, applied with numpy.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class LinearScorer:
    names: tuple
    mean: np.ndarray
    scale: np.ndarray
    coef: np.ndarray
    intercept: float

    @classmethod
    def fit(cls, x: np.ndarray, y: np.ndarray, *, names, c: float = 1.0) -> LinearScorer:
        from sklearn.linear_model import LogisticRegression

        mean, scale = x.mean(axis=0), x.std(axis=0)
        scale = np.where(scale > 1e-12, scale, 1.0)
        model = LogisticRegression(C=c, max_iter=2000).fit((x - mean) / scale, y)
        return cls(tuple(names), mean, scale, model.coef_[0].copy(), float(model.intercept_[0]))

    def decision(self, x: np.ndarray) -> np.ndarray:
        return ((x - self.mean) / self.scale) @ self.coef + self.intercept

    def probability(self, x: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-np.clip(self.decision(x), -50, 50)))

    def to_json(self) -> dict:
        return {"names": list(self.names), "mean": self.mean.tolist(), "scale": self.scale.tolist(),
                "coef": self.coef.tolist(), "intercept": self.intercept}

    @classmethod
    def from_json(cls, state: dict) -> LinearScorer:
        arrays = [np.asarray(state[k], dtype=np.float64) for k in ("mean", "scale", "coef")]
        if len({len(state["names"]), *(len(a) for a in arrays)}) != 1:
            raise ValueError("linear scorer fields disagree in length")
        return cls(tuple(state["names"]), *arrays, float(state["intercept"]))


@dataclass
class RidgeScorer:
    coef: np.ndarray
    intercept: float

    def predict(self, x: np.ndarray) -> np.ndarray:
        return x @ self.coef + self.intercept

    def to_json(self) -> dict:
        return {"coef": self.coef.tolist(), "intercept": self.intercept}

    @classmethod
    def from_json(cls, state: dict) -> RidgeScorer:
        return cls(np.asarray(state["coef"], dtype=np.float64), float(state["intercept"]))


def fit_ridge(x: np.ndarray, y: np.ndarray, *, alpha: float, offset: float = 0.0) -> RidgeScorer | None:
    """Ridge regression ``y ~ x``, plus ``offset``; None when there is nothing to fit."""
    from sklearn.linear_model import Ridge

    if len(y) < 2:
        return None
    model = Ridge(alpha=alpha).fit(x, y)
    return RidgeScorer(model.coef_.astype(np.float64), float(model.intercept_) + offset)
