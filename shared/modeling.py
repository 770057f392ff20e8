"""The models a classifier runs: the runtime-neutral base every classifier shares, and the torch mean-pooling model.

``ProbabilisticTextClassifier`` holds what the torch model (``shared.classifier``) and the ONNX one
(``shared.onnx_runtime``) share: batching by length, calibrated probabilities, labels, evaluation.
``MeanPoolingClassifier`` is sentence-transformers' mean-pooled, normalised embedding with a linear head.
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from torch import nn
from tqdm.auto import tqdm

from .errors import DataError
from .metrics import calibrated_softmax, classification_report, expected_calibration_error


def check_texts(texts) -> list[str]:
    """``texts`` as a list of strings, or a DataError that names the first one that is not."""
    if isinstance(texts, str):
        raise DataError("expected a list of texts, got a single string; wrap it in a list")
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise DataError(f"text {i} is a {type(text).__name__}, not a string")
    return texts


def label_gaps(have: Sequence[str], want: Sequence[str]) -> str:
    """How a model's labels ``have`` differ from the data's ``want``: "it lacks a, b; it has c besides" (five of each at most)."""
    missing, extra = sorted(set(want) - set(have)), sorted(set(have) - set(want))
    return "; ".join(part for part in (f"it lacks {', '.join(missing[:5])}" if missing else "",
                                       f"it has {', '.join(extra[:5])} besides" if extra else "") if part)


def by_length(texts: list[str], batch_size: int, fn, width: int, progress: bool = False, desc: str = "",
              workers: int = 1) -> np.ndarray:
    """Apply ``fn`` to batches of similar length (little padding), results in the input order;
    ``workers`` > 1 runs that many batches at once (for an ``fn`` that releases the GIL)."""
    out = np.empty((len(texts), width), dtype=np.float32)
    order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
    batches = [order[start : start + batch_size] for start in range(0, len(order), batch_size)]
    bar = tqdm(total=len(batches), desc=desc, unit="batch", disable=not progress or len(batches) < 2)
    if workers > 1 and len(batches) > 1:
        with ThreadPoolExecutor(min(workers, len(batches))) as pool:
            results = pool.map(lambda idx: fn([texts[i] for i in idx]), batches)
            for idx, logits in zip(batches, results):
                out[idx] = logits
                bar.update()
    else:
        for idx in batches:
            out[idx] = fn([texts[i] for i in idx])
            bar.update()
    bar.close()
    return out


class ProbabilisticTextClassifier:
    """What every runtime shares: batching, calibrated probabilities, labels and evaluation.

    Subclasses supply ``_batch_logits(texts) -> np.ndarray`` for one batch.
    """

    labels_: list[str]
    temperature_: float = 1.0
    batch_size: int = 64
    workers: int = 1  # batches scored at once (see OnnxClassifier)

    def _batch_logits(self, texts: list[str]) -> np.ndarray:
        raise NotImplementedError

    def decision_function(self, texts: Sequence[str], *, progress: bool = False, desc: str = "scoring") -> np.ndarray:
        """Uncalibrated logits, (n, k); ``progress``: a bar per batch (a long pass, such as a teacher's)."""
        return by_length(check_texts(texts), self.batch_size, self._batch_logits, len(self.labels_), progress=progress, desc=desc,
                         workers=self.workers)

    def predict_proba(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated probabilities, (n, k); columns follow ``labels_``."""
        return calibrated_softmax(self.decision_function(texts), self.temperature_)

    def predict(self, texts: Sequence[str]) -> list[str]:
        return [self.labels_[i] for i in self.predict_proba(texts).argmax(axis=1)]

    def label_ids(self, labels: Sequence[str]) -> np.ndarray:
        index = {label: i for i, label in enumerate(self.labels_)}
        unknown = sorted({label for label in labels if label not in index})
        if unknown:
            shown = ", ".join(unknown[:5]) + (f" (+{len(unknown) - 5} more)" if len(unknown) > 5 else "")
            raise DataError(f"labels the model was not trained on: {shown}")
        return np.array([index[label] for label in labels])

    def evaluate(self, texts: Sequence[str], labels: Sequence[str]) -> dict:
        """Accuracy, macro-F1, per-label P/R/F1, most confused pairs, calibration error."""
        texts = check_texts(texts)
        if len(texts) != len(labels):
            raise DataError(f"{len(texts)} texts but {len(labels)} labels")
        if not texts:
            raise DataError("nothing to evaluate: no examples")
        y = self.label_ids(labels)
        probs = self.predict_proba(texts)
        report = classification_report(list(labels), [self.labels_[i] for i in probs.argmax(axis=1)], self.labels_)
        report["ece"] = expected_calibration_error(probs, y)
        return report

    # ---- public views of the learned state (what apps read) -----------------------------------

    @property
    def labels(self) -> list[str]:
        """The classes, in the order of ``predict_proba``'s columns."""
        return list(self.labels_)

    @property
    def temperature(self) -> float:
        """The calibration temperature the logits are divided by."""
        return self.temperature_

    @property
    def max_length(self) -> int:
        """Tokens the model reads of a text, special tokens included; the rest is cut off."""
        return self.max_length_

    @property
    def tokenizer(self):
        """The tokenizer the model reads its input with (a Hugging Face tokenizer)."""
        return self.tokenizer_


def mean_pool(hidden, attention_mask):
    """The sentence embedding of token states: their mean over the real tokens, L2-normalised."""
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
    return nn.functional.normalize(pooled, dim=-1)


class MeanPoolingClassifier(nn.Module):
    """Sentence-transformers-style embedding (mean over tokens, L2-normalised) + a linear head."""

    def __init__(self, encoder: nn.Module, num_labels: int):
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, num_labels)

    def embed(self, input_ids, attention_mask):
        return mean_pool(self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state, attention_mask)

    def forward(self, input_ids, attention_mask, token_type_ids=None, labels=None):
        from transformers.modeling_outputs import SequenceClassifierOutput

        # Trainer reads this signature: ``labels`` must be named here to reach the loss function.
        # token_type_ids are all zero for single sentences, the encoder's default, so unused.
        return SequenceClassifierOutput(logits=self.head(self.embed(input_ids, attention_mask)))
