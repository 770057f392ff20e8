"""Finance sentiment of headlines and articles: one calibrated three-way model, a signed score.

    model = SentimentModel.train(["pb/train.csv", "tw/train.csv"], ["pb/validation.csv", "tw/validation.csv"])
    model.save("var/models/sentiment")          # a shared.classifier model directory (manifest-verified)
    fast = model.export_onnx("var/models/sentiment-onnx")   # int8 onnxruntime, for serving
    fast.score_headlines(["Shares slump after profit warning"])[0].score   # about -0.9
    fast.score_articles(["Bank beats forecasts"], ["Long body text ..."])

The classifier is ``shared.classifier.TextClassifier`` trained on every file at once (PhraseBank
and Twitter rows mapped to negative / neutral / positive by ``sentiment_data``), so one model
serves both kinds of text. Its probabilities are temperature-calibrated on the validation files.

score = P(positive) − P(negative), in [-1, 1]; the label is the most probable class.

Long texts. The model was trained on single sentences and tweets, and reads at most
``max_length`` tokens, so a body is cut into chunks of whole sentences packed up to
``chunk_tokens`` tokens (a sentence longer than that is cut at token boundaries). The rule:

- body probabilities = mean of the chunks' probabilities, each weighted by its token count,
  so a one-line disclaimer does not count as much as three paragraphs;
- the headline is scored on its own, because it states the story's thrust in the kind of text
  the model learnt from, and gets ``headline_weight`` of the final probabilities (default 0.5):
  p = w · p_headline + (1 − w) · p_body;
- only a headline → p_headline; only a body → p_body.

A headline longer than the chunk budget is treated as a body without a headline.
"""

from __future__ import annotations

import re
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from shared.classifier import TextClassifier, load_classifier, train_classifier
from shared.errors import ConfigError, DataError
from shared.finetune_config import FineTuneConfig
from shared.metrics import classification_report, expected_calibration_error

from .sentiment_data import LABELS, SentimentRows, read_sentiment_files

DEFAULT_CHUNK_TOKENS = 96
DEFAULT_HEADLINE_WEIGHT = 0.5

# A sentence ends at . ! or ? followed by space and something that can start a sentence.
# Abbreviations ("U.S. banks") sometimes split early; a short chunk is harmless after packing.
_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[\"'“‘(\[]?[A-Z0-9$])")


@dataclass(frozen=True)
class Sentiment:
    label: str
    score: float  # P(positive) - P(negative)
    probabilities: dict[str, float]
    chunks: int = 1  # how many model inputs the text took

    def to_dict(self) -> dict:
        return {"label": self.label, "score": self.score, "probabilities": self.probabilities, "chunks": self.chunks}


class SentimentModel:
    """A three-way sentiment classifier (torch or ONNX) with scoring and chunking rules."""

    def __init__(self, classifier, *, chunk_tokens: int = DEFAULT_CHUNK_TOKENS, headline_weight: float = DEFAULT_HEADLINE_WEIGHT):
        missing = set(LABELS) - set(classifier.labels)
        if missing or len(classifier.labels) != len(LABELS):
            raise DataError(f"not a sentiment model: its labels are {', '.join(classifier.labels)}; expected {', '.join(LABELS)}")
        limit = getattr(classifier, "max_length", 128) - 2  # [CLS] and [SEP]
        if not 8 <= chunk_tokens <= limit:
            raise ConfigError(f"chunk_tokens must be between 8 and {limit} (the model reads {limit + 2} tokens), got {chunk_tokens}")
        if not 0 <= headline_weight <= 1:
            raise ConfigError(f"headline_weight must be in [0, 1], got {headline_weight}")
        self.classifier = classifier
        self.chunk_tokens = chunk_tokens
        self.headline_weight = headline_weight
        # Columns of predict_proba follow classifier.labels; this puts them in LABELS order.
        self._columns = [classifier.labels.index(label) for label in LABELS]

    # ---- training and persistence --------------------------------------------------------------

    @classmethod
    def train(cls, train_files: Sequence[str | Path], validation_files: Sequence[str | Path] = (), *,
              config: FineTuneConfig | None = None, base_model: str | None = None, progress: bool = True,
              reports: list | None = None, strict: bool = False, distillation=None, **options) -> SentimentModel:
        """Fit one model on every training file; validation files drive early stopping and calibration.
        ``reports`` (a list) collects the rows skipped for an unknown label (see ``read_sentiment_files``).
        ``distillation``: a ``shared.distillation.DistillationPlan`` whose teacher teaches the model."""
        rows = read_sentiment_files(train_files, reports, strict)
        missing = sorted(set(LABELS) - set(rows.labels))
        if missing:
            raise DataError(f"the training files have no {', '.join(missing)} examples; all three labels are needed")
        eval_data = None
        if validation_files:
            validation = read_sentiment_files(validation_files, reports, strict)
            eval_data = (validation.texts, validation.labels)
        clf = train_classifier(base_model, config or FineTuneConfig(), rows.texts, rows.labels, eval_data=eval_data,
                               distillation=distillation, progress=progress)
        return cls(clf, **options)

    def save(self, path: str | Path) -> Path:
        if not isinstance(self.classifier, TextClassifier):
            raise ConfigError("only a torch model can be saved; an ONNX model is written by export_onnx")
        return self.classifier.save(path)

    def export_onnx(self, path: str | Path, *, quantize: bool = True) -> SentimentModel:
        """Write the int8 ONNX form (with its manifest) and return a model served by it."""
        if not isinstance(self.classifier, TextClassifier):
            raise ConfigError("this model is already an ONNX export")
        fast = self.classifier.export_onnx(path, quantize=quantize)
        return SentimentModel(fast, chunk_tokens=self.chunk_tokens, headline_weight=self.headline_weight)

    @classmethod
    def load(cls, path: str | Path, **options) -> SentimentModel:
        """A saved torch model directory or its ONNX export, told apart and verified by its manifest."""
        return cls(load_classifier(Path(path)), **options)

    # ---- scoring --------------------------------------------------------------------------------

    def probabilities(self, texts: Sequence[str]) -> np.ndarray:
        """Calibrated (n, 3) probabilities, columns in LABELS order (negative, neutral, positive)."""
        texts = list(texts)
        if not texts:
            return np.zeros((0, len(LABELS)))
        return self.classifier.predict_proba(texts)[:, self._columns]

    def score_headlines(self, texts: Sequence[str]) -> list[Sentiment]:
        """Short texts scored as they are (truncated at the model's length), in one batched pass."""
        return [_sentiment(p) for p in self.probabilities(texts)]

    def score_articles(self, headlines: Sequence[str | None], bodies: Sequence[str | None]) -> list[Sentiment]:
        """Headline + body per article, chunked and combined by the rule in the module docstring."""
        if len(headlines) != len(bodies):
            raise DataError(f"{len(headlines)} headlines but {len(bodies)} bodies")
        inputs: list[str] = []
        plans = []  # per article: (headline input index or None, [(body input index, tokens)])
        for headline, body in zip(headlines, bodies):
            head_index, body_chunks = None, []
            head_chunks = self.chunk(headline or "")
            if len(head_chunks) == 1:
                head_index = len(inputs)
                inputs.append(head_chunks[0][0])
            else:  # empty, or too long to be a headline: read it as body text
                body = "\n".join(t for t in (headline, body) if t)
            for text, tokens in self.chunk(body or ""):
                body_chunks.append((len(inputs), tokens))
                inputs.append(text)
            plans.append((head_index, body_chunks))
        probs = self.probabilities(inputs)
        return [self._combine(probs, head_index, body_chunks) for head_index, body_chunks in plans]

    def _combine(self, probs: np.ndarray, head_index: int | None, body_chunks: list[tuple[int, int]]) -> Sentiment:
        n_inputs = len(body_chunks) + (head_index is not None)
        if not n_inputs:
            # Nothing to read: all mass on neutral, score 0, rather than an invented opinion.
            return _sentiment(np.array([0.0, 1.0, 0.0]), chunks=0)
        body = None
        if body_chunks:
            weights = np.array([tokens for _, tokens in body_chunks], dtype=np.float64)
            body = (probs[[i for i, _ in body_chunks]] * weights[:, None]).sum(axis=0) / weights.sum()
        if head_index is None:
            combined = body
        elif body is None:
            combined = probs[head_index]
        else:
            combined = self.headline_weight * probs[head_index] + (1 - self.headline_weight) * body
        return _sentiment(combined, chunks=n_inputs)

    def chunk(self, text: str) -> list[tuple[str, int]]:
        """(chunk text, token count) pieces of whole sentences, each within ``chunk_tokens`` tokens."""
        text = " ".join(text.split())
        if not text:
            return []
        tokenizer = self.classifier.tokenizer
        sentences = _SENTENCE_END.split(text)
        counts = [len(ids) for ids in tokenizer(sentences, add_special_tokens=False)["input_ids"]]
        pieces: list[tuple[str, int]] = []
        for sentence, count in zip(sentences, counts):
            if count > self.chunk_tokens:
                pieces.extend(self._split_long(sentence))
            elif count:
                pieces.append((sentence, count))
        chunks: list[tuple[str, int]] = []
        for sentence, count in pieces:  # greedy packing: consecutive sentences share a chunk while they fit
            if chunks and chunks[-1][1] + count <= self.chunk_tokens:
                chunks[-1] = (chunks[-1][0] + " " + sentence, chunks[-1][1] + count)
            else:
                chunks.append((sentence, count))
        return chunks

    def _split_long(self, sentence: str) -> list[tuple[str, int]]:
        # Cut through the character offsets, so the text is never re-decoded (decoding would
        # lower-case and re-space it), and only where a word starts: a word piece touches the
        # piece before it, so a cut there would split a word in two.
        offsets = self.classifier.tokenizer(sentence, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]
        out, start = [], 0
        while start < len(offsets):
            end = min(start + self.chunk_tokens, len(offsets))
            if end < len(offsets):
                cut = end
                while cut > start and offsets[cut][0] == offsets[cut - 1][1]:
                    cut -= 1
                end = cut if cut > start else end  # one word longer than the budget is cut anyway
            out.append((sentence[offsets[start][0] : offsets[end - 1][1]], end - start))
            start = end
        return out

    # ---- evaluation ----------------------------------------------------------------------------

    def evaluate(self, rows: SentimentRows) -> dict:
        """Accuracy and macro-F1 over every row, plus ``accuracy_agree_100`` where agreement is known."""
        if not len(rows):
            raise DataError("nothing to evaluate: no rows")
        start = time.perf_counter()
        probs = self.probabilities(rows.texts)
        seconds = time.perf_counter() - start
        predicted = [LABELS[i] for i in probs.argmax(axis=1)]
        report = classification_report(rows.labels, predicted, LABELS)
        report["ece"] = expected_calibration_error(probs, np.array([LABELS.index(label) for label in rows.labels]))
        if rows.has_agreement:
            unanimous = [i for i, a in enumerate(rows.agreement) if a == 100]
            report["n_agree_100"] = len(unanimous)
            if unanimous:
                sub = classification_report([rows.labels[i] for i in unanimous], [predicted[i] for i in unanimous], LABELS, top_confusions=0)
                report["accuracy_agree_100"] = sub["accuracy"]
                report["macro_f1_agree_100"] = sub["macro_f1"]
            else:
                report["accuracy_agree_100"] = None
        report["texts_per_second"] = round(len(rows) / seconds, 1) if seconds > 0 else None
        return report


def _sentiment(p: np.ndarray, chunks: int = 1) -> Sentiment:
    p = np.asarray(p, dtype=np.float64)
    return Sentiment(
        label=LABELS[int(p.argmax())],
        score=float(p[2] - p[0]),
        probabilities={label: float(v) for label, v in zip(LABELS, p)},
        chunks=chunks,
    )
