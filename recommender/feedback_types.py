"""Which feedback types mean what, as gorse configures them (``[recommender]`` in troika.toml).

gorse stores every feedback type a client sends and reads two lists: the positive types (the
user liked the item: the click model learns from them, they make a user's history and an item's
popularity) and the read types (the item was shown or read: it counts as seen, and as a
negative where the user gave no positive feedback on it). A type in neither list is stored and
listed back, and the models ignore it, as gorse does.

Inside the models the two meanings are the records' ``click`` and ``view`` (``records.py``), so
``for_models`` maps the stored types onto them once, where feedback enters the models, and no
model needs to know the configured names.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

from .records import CLICK, VIEW, Feedback

# The types gorse clients commonly send for "liked it"; "click" first, troika's own.
DEFAULT_POSITIVE = ("click", "star", "like", "purchase", "favorite", "share")
# gorse's "read", and troika's own "view" (what the importers and the demo write for an item seen or
# rated without being liked): without it the demo's and MovieLens's negatives would be dropped.
DEFAULT_READ = ("read", VIEW)


@dataclass(frozen=True)
class FeedbackTypes:
    positive: tuple[str, ...] = DEFAULT_POSITIVE
    read: tuple[str, ...] = DEFAULT_READ

    def __post_init__(self):
        both = set(self.positive) & set(self.read)
        if both:
            raise ValueError(f"feedback type(s) {', '.join(sorted(both))} cannot be both positive and read")

    def for_models(self, records: Iterable[Feedback]) -> list[Feedback]:
        """``records`` as the models read them: positive types as clicks, read types as views, others left out."""
        mapped = []
        for record in records:
            kind = CLICK if record.type in self.positive else VIEW if record.type in self.read else None
            if kind is not None:
                mapped.append(record if record.type == kind else replace(record, type=kind))
        return mapped
