"""Training examples for the item text encoder, made from users' click sequences.

Each pair is (an item the user clicked, the item the user clicked next or soon after): the
encoder learns to place items clicked by the same people in sequence near each other. Each
pair carries NRMS-style sampled negatives: first a *hard* one, an item the same user chose
but did not like (a below-threshold rating, a shown-but-not-clicked item) when there is one,
then items sampled at random from the catalogue. With MultipleNegativesRankingLoss the other
pairs' positives in the batch are negatives too.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np


def click_pairs(sequences: Sequence[tuple[str, Sequence[str]]], documents: Mapping[str, str], *,
                views: Mapping[str, Sequence[str]] | None = None, window: int = 3, n_negatives: int = 2,
                max_pairs: int = 4000, seed: int = 0) -> tuple[list[tuple[str, str]], list[list[str]]]:
    """``sequences``: (user, clicked item ids oldest first); ``documents``: item id -> text;
    ``views[user]``: items the user saw or rated without liking them (hard negatives).

    Each click after the first is paired with one of the ``window`` clicks before it (chosen
    at random); at most ``max_pairs`` pairs (a random subset), each with ``n_negatives``
    negative texts, none equal to the pair's own texts.
    """
    rng = np.random.default_rng(seed)
    catalogue = list(documents)
    candidates = []
    for user, items in sequences:
        items = [i for i in items if i in documents]
        for k in range(1, len(items)):
            earlier = items[max(0, k - window):k]
            anchor = earlier[int(rng.integers(len(earlier)))]
            if documents[anchor] != documents[items[k]]:
                candidates.append((user, anchor, items[k]))
    if len(candidates) > max_pairs:
        keep = rng.choice(len(candidates), size=max_pairs, replace=False)
        candidates = [candidates[k] for k in sorted(keep)]
    pairs, negatives = [], []
    views = views or {}
    for user, anchor, positive in candidates:
        own = {documents[anchor], documents[positive]}
        row: list[str] = []
        hard = [v for v in views.get(user, ()) if v in documents and documents[v] not in own]
        if hard and n_negatives:
            row.append(documents[hard[int(rng.integers(len(hard)))]])
        tries = 0
        while len(row) < n_negatives and tries < 50:
            text = documents[catalogue[int(rng.integers(len(catalogue)))]]
            tries += 1
            if text not in own and text not in row:
                row.append(text)
        if len(row) == n_negatives:
            pairs.append((documents[anchor], documents[positive]))
            negatives.append(row)
    return pairs, negatives
