"""Importers: files in the formats of MovieLens, Amazon 2018, MIND and plain CSV/JSONL → records.

Each returns the records (``recommender.records``) and an ``ImportReport`` per file: rows
read, imported, and skipped by reason. ``strict=True`` turns the first bad row into a
``shared.errors.DataError`` instead of a counted skip.
"""

from .amazon import import_amazon, read_amazon_items, read_amazon_rows
from .generic import import_feedback, import_items
from .mind import import_mind, read_mind_behaviors, read_mind_news
from .movielens import import_movielens
from .report import ImportReport, ImportResult

__all__ = [
    "ImportReport",
    "ImportResult",
    "import_amazon",
    "import_feedback",
    "import_items",
    "import_mind",
    "import_movielens",
    "read_amazon_items",
    "read_amazon_rows",
    "read_mind_behaviors",
    "read_mind_news",
]
