"""The recommender's data: catalogue items, users' feedback on them, and impressions.

Plain frozen dataclasses so that importers, features, baselines and (later) the database
layer and the REST API all speak the same language. Ids are strings everywhere: MovieLens
and Amazon use integers, MIND and gorse use strings, and ``"1"`` must equal ``1`` once imported.
Timestamps are Unix seconds (float) or None where the source has no time.
"""

from __future__ import annotations

from dataclasses import dataclass

# Feedback types. A click is the positive signal the models learn from; a view is an item
# the user saw or rated without liking it (below the rating threshold, or shown but not
# clicked): kept, because "chose to look at it but did not like it" is the hard negative
# the click model has to learn, and the item's mean feedback uses its value.
CLICK = "click"
VIEW = "view"


@dataclass(frozen=True, slots=True)
class Item:
    id: str
    title: str
    text: str = ""
    categories: tuple[str, ...] = ()
    timestamp: float | None = None  # when the item entered the catalogue (or was published)

    @property
    def document(self) -> str:
        """What a text encoder reads: the title, then the body."""
        return f"{self.title}. {self.text}" if self.text else self.title


@dataclass(frozen=True, slots=True)
class Feedback:
    user: str
    item: str
    type: str = CLICK
    value: float = 1.0  # a rating where the source has one, else 1
    timestamp: float | None = None

    @property
    def is_click(self) -> bool:
        return self.type == CLICK


@dataclass(frozen=True, slots=True)
class Impression:
    """Items shown to a user together, and which of them the user clicked (MIND behaviours)."""

    user: str
    shown: tuple[str, ...]
    clicked: frozenset[str]
    timestamp: float | None = None
    id: str | None = None

    def __post_init__(self):
        if not self.clicked <= set(self.shown):
            raise ValueError(f"impression {self.id}: clicked items {sorted(self.clicked - set(self.shown))} were not shown")

    @property
    def labels(self) -> tuple[int, ...]:
        """1 for each shown item that was clicked, 0 otherwise, in ``shown`` order."""
        return tuple(int(i in self.clicked) for i in self.shown)


@dataclass(frozen=True, slots=True)
class NextItemCase:
    """One step of a user's sequence: the items before (oldest first) and the one that came next.

    The Amazon 2018 files hold exactly this, one row per interaction, and their evaluation
    ranks ``item`` against the catalogue given ``history``.
    """

    user: str
    history: tuple[str, ...]
    item: str
    timestamp: float | None = None
