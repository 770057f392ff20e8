"""MovieLens (ml-latest-small and the other ml-* releases in CSV form).

``movies.csv`` (movieId,title,genres) gives the items: the title, genres as categories and
as text, and the tags users wrote (``tags*.csv``) appended to the text, since a tag such as
"mind-bending" says what a film is about better than its genre list. Each rating
(``ratings*.csv``: userId,movieId,rating,timestamp) becomes a feedback record: a click
when the rating reaches the threshold, a view otherwise, the rating kept as the value.
"""

from __future__ import annotations

import calendar
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from shared.errors import DataError

from ..records import CLICK, VIEW, Feedback, Item
from .report import BadRow, ImportReport, ImportResult, csv_rows, existing_file, number, required

DEFAULT_THRESHOLD = 4.0
NO_GENRES = "(no genres listed)"
# The year MovieLens appends to titles: "Heat (1995)", also "Babylon 5 (1994-1998)" forms.
YEAR = re.compile(r"\((\d{4})(?:[-–]\d{0,4})?\)\s*$")
# Tags per film kept in its text; ml-latest-small's most-tagged film has ~180 and repeats.
MAX_TAGS = 20


def release_time(title: str) -> float | None:
    """1 January of the release year in the title, as Unix seconds: the item's age for recency."""
    match = YEAR.search(title)
    return float(calendar.timegm((int(match.group(1)), 1, 1, 0, 0, 0))) if match else None


def import_movielens(
    directory: str | Path,
    ratings: Sequence[str | Path] | None = None,
    tags: Sequence[str | Path] | None = None,
    *,
    threshold: float = DEFAULT_THRESHOLD,
    strict: bool = False,
) -> ImportResult:
    """Items from ``directory/movies.csv``, feedback from ``ratings`` files.

    ``ratings`` / ``tags`` default to every ``ratings*.csv`` / ``tags*.csv`` in the directory;
    pass an explicit list to keep a held-out period out (tags from the future leak it).
    """
    directory = Path(directory)
    if not directory.is_dir():
        raise DataError(f"{directory}: no such directory (expected a MovieLens folder holding movies.csv)")
    ratings = sorted(directory.glob("ratings*.csv")) if ratings is None else [existing_file(p) for p in ratings]
    tags = sorted(directory.glob("tags*.csv")) if tags is None else [existing_file(p) for p in tags]
    result = ImportResult()

    movies, movie_report = _read_movies(existing_file(directory / "movies.csv"), strict)
    result.reports.append(movie_report)
    tag_texts, tag_report = _read_tags(tags, movies.keys(), strict)
    if tag_report is not None:
        result.reports.append(tag_report)
    result.items = [_item(movie_id, title, genres, tag_texts.get(movie_id, [])) for movie_id, (title, genres) in movies.items()]
    known = set(movies)
    for path in ratings:
        feedback, report = _read_ratings(path, known, threshold, strict)
        result.feedback.extend(feedback)
        result.reports.append(report)
    return result


def _item(movie_id: str, title: str, genres: tuple[str, ...], tags: list[str]) -> Item:
    text = []
    if genres:
        text.append("Genres: " + ", ".join(genres) + ".")
    if tags:
        text.append("Tags: " + ", ".join(tags[:MAX_TAGS]) + ".")
    return Item(movie_id, title, " ".join(text), genres, release_time(title))


def _read_movies(path: Path, strict: bool) -> tuple[dict[str, tuple[str, tuple[str, ...]]], ImportReport]:
    """movieId -> (title, genres)."""
    report = ImportReport(str(path), strict)
    items: dict[str, tuple[str, tuple[str, ...]]] = {}
    for row_number, row in csv_rows(path):
        report.rows_read += 1
        try:
            if isinstance(row, BadRow):
                raise row
            movie_id, title = required(row, "movieId"), required(row, "title")
            if movie_id in items:
                raise BadRow("duplicate item id", movie_id)
            genres = () if row.get("genres", "").strip() in ("", NO_GENRES) else tuple(
                g.strip() for g in row["genres"].split("|") if g.strip()
            )
        except BadRow as bad:
            report.skip(f"{path}: row {row_number}", bad)
            continue
        items[movie_id] = (title, genres)
        report.imported += 1
    return items, report


def _read_tags(paths: list[Path], known, strict: bool) -> tuple[dict[str, list[str]], ImportReport | None]:
    """Each film's distinct tags (case-insensitively), most used first."""
    if not paths:
        return {}, None
    counts: dict[str, dict[str, list]] = defaultdict(dict)
    report = ImportReport(", ".join(str(p) for p in paths), strict)
    for path in paths:
        for row_number, row in csv_rows(path):
            report.rows_read += 1
            try:
                if isinstance(row, BadRow):
                    raise row
                movie_id, tag = required(row, "movieId"), required(row, "tag")
                if movie_id not in known:
                    raise BadRow("unknown item", movie_id)
            except BadRow as bad:
                report.skip(f"{path}: row {row_number}", bad)
                continue
            entry = counts[movie_id].setdefault(tag.lower(), [0, tag])
            entry[0] += 1
            report.imported += 1
    texts = {
        movie_id: [tag for _, tag in sorted(by_tag.values(), key=lambda e: (-e[0], e[1].lower()))]
        for movie_id, by_tag in counts.items()
    }
    return texts, report


def _read_ratings(path: Path, known: set[str], threshold: float, strict: bool) -> tuple[list[Feedback], ImportReport]:
    report = ImportReport(str(path), strict)
    feedback = []
    for row_number, row in csv_rows(path):
        report.rows_read += 1
        try:
            if isinstance(row, BadRow):
                raise row
            user, movie_id = required(row, "userId"), required(row, "movieId")
            rating = number(required(row, "rating"), "rating")
            when = number(required(row, "timestamp"), "timestamp")
            if movie_id not in known:
                raise BadRow("unknown item", movie_id)
        except BadRow as bad:
            report.skip(f"{path}: row {row_number}", bad)
            continue
        feedback.append(Feedback(user, movie_id, CLICK if rating >= threshold else VIEW, rating, when))
        report.imported += 1
    return feedback, report
