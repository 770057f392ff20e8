"""Frozen lowest layers computed once: what makes fine-tuning a large teacher affordable on a small CPU.

With ``freeze_layers = k`` the embeddings and the lowest k encoder layers do not change while training, so
their output for a text is the same every epoch. ``encode`` runs the whole encoder once over every text
(no gradients) and keeps two things per text: the hidden states entering layer k (half precision, unpadded)
and the final sentence embedding (which the linear probe of LP-FT needs anyway). Training then runs only
layers k.. on those hidden states (``top_layers_only``): each epoch costs the top layers' forward and
backward instead of the whole stack's forward plus the top's backward.

The lower layers run in eval mode for the cache, so they add no dropout during training: a small change of
regularisation that the speed pays for.
"""

from __future__ import annotations

from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from .modeling import MeanPoolingClassifier, by_length, mean_pool


class PrefixCache:
    """Per text: the hidden states entering the first trained layer (``hidden[text]``, (tokens, width) float16)
    and the sentence embedding of the untouched encoder (``features(texts)``)."""

    def __init__(self, hidden: dict[str, torch.Tensor], embeddings: dict[str, np.ndarray], token_ids: dict[str, list[int]]):
        self.hidden, self.embeddings, self.token_ids = hidden, embeddings, token_ids

    def features(self, texts) -> np.ndarray:
        return np.stack([self.embeddings[text] for text in texts]) if len(texts) else np.zeros((0, 0), dtype=np.float32)

    def dataset(self, texts, y, extra: dict[str, np.ndarray] | None = None) -> CachedRows:
        return CachedRows(self, list(texts), y, extra)


def encode(model: MeanPoolingClassifier, tokenizer, texts, layers: int, max_length: int, batch_size: int,
           progress: bool = False) -> PrefixCache:
    """One pass of the whole encoder over the distinct ``texts``: the inputs of layer ``layers`` and the embeddings."""
    unique = list(dict.fromkeys(texts))
    hidden, token_ids = {}, {}
    was_training = model.training
    model.eval()

    def batch(chunk):
        enc = tokenizer(chunk, padding=True, truncation=True, max_length=max_length, return_tensors="pt")
        device = next(model.parameters()).device
        ids, mask = enc["input_ids"].to(device), enc["attention_mask"].to(device)
        with torch.no_grad():
            out = model.encoder(input_ids=ids, attention_mask=mask, output_hidden_states=True)
            states = out.hidden_states[min(layers, len(out.hidden_states) - 1)]
            pooled = mean_pool(out.last_hidden_state, mask)
        for text, row, row_ids, row_mask in zip(chunk, states, ids, mask):
            n = int(row_mask.sum())
            hidden[text] = row[:n].to("cpu", torch.float16).clone()
            token_ids[text] = row_ids[:n].tolist()
        return pooled.cpu().numpy()

    vectors = by_length(unique, batch_size, batch, model.head.in_features, progress=progress, desc="frozen layers")
    model.train(was_training)
    return PrefixCache(hidden, dict(zip(unique, vectors)), token_ids)


class CachedRows(torch.utils.data.Dataset):
    """Trainer rows read from a ``PrefixCache``. ``input_ids`` is there for Trainer's length grouping only;
    ``collate`` drops it."""

    def __init__(self, cache: PrefixCache, texts: list[str], y, extra: dict[str, np.ndarray] | None = None):
        self.cache, self.texts, self.y, self.extra = cache, texts, y, extra or {}

    def __len__(self):
        return len(self.texts)

    def __getitem__(self, i):
        text = self.texts[i]
        item = {"inputs_embeds": self.cache.hidden[text], "input_ids": self.cache.token_ids[text], "labels": int(self.y[i])}
        for key, values in self.extra.items():
            item[key] = values[i]
        return item


def collate(rows: list[dict]) -> dict[str, torch.Tensor]:
    """Pad a batch of cached rows with zeros (masked out) to its longest row."""
    longest = max(len(row["inputs_embeds"]) for row in rows)
    width = rows[0]["inputs_embeds"].shape[-1]
    states = torch.zeros(len(rows), longest, width, dtype=torch.float32)
    mask = torch.zeros(len(rows), longest, dtype=torch.long)
    for i, row in enumerate(rows):
        n = len(row["inputs_embeds"])
        states[i, :n] = row["inputs_embeds"].float()
        mask[i, :n] = 1
    batch = {"inputs_embeds": states, "attention_mask": mask, "labels": torch.tensor([row["labels"] for row in rows])}
    for key in rows[0].keys() - {"inputs_embeds", "input_ids", "labels"}:
        batch[key] = torch.tensor(np.stack([row[key] for row in rows]))
    return batch


class _PassThrough(nn.Module):
    """Stands in for the embeddings: the cached hidden states come in as ``inputs_embeds`` and go on as they are."""

    def forward(self, inputs_embeds=None, **_):
        return inputs_embeds


class TopLayers(nn.Module):
    """The trained part of a ``MeanPoolingClassifier`` (layers k.., pooling, head) fed with cached hidden states.
    It shares its weights with ``inner``: what Trainer changes here, the classifier has."""

    def __init__(self, inner: MeanPoolingClassifier, first_layer: int):
        super().__init__()
        self.inner, self.first_layer = inner, first_layer

    def forward(self, inputs_embeds, attention_mask, labels=None):
        from transformers.modeling_outputs import SequenceClassifierOutput

        hidden = self.inner.encoder(inputs_embeds=inputs_embeds, attention_mask=attention_mask).last_hidden_state
        return SequenceClassifierOutput(logits=self.inner.head(mean_pool(hidden, attention_mask)))


@contextmanager
def top_layers_only(model: MeanPoolingClassifier, layers: int):
    """Within: ``TopLayers(model)``, whose encoder skips its embeddings and lowest ``layers`` layers.
    On the way out the classifier gets them back (its state dict's names are as before)."""
    encoder = model.encoder
    stack = encoder.encoder
    embeddings, all_layers = encoder.embeddings, stack.layer
    encoder.embeddings, stack.layer = _PassThrough(), nn.ModuleList(list(all_layers)[layers:])
    try:
        yield TopLayers(model, min(layers, len(all_layers)))
    finally:
        encoder.embeddings, stack.layer = embeddings, all_layers
